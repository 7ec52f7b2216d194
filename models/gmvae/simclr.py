"""SimCLR feature extractor of the miniImageNet Meta-GMVAE (simclr/ of the original).

Encoder: 5 x [conv3x3(64) + BN + ReLU + max-pool 2 (floor)] on 84x84x3 -> 256
features (NCHW flatten order).  Projection head: l2(ReLU(l1(h))), 256 -> 256 -> 128.
Loss: NT-Xent with cosine similarity, temperature 0.5, summed cross-entropy over
the 2N views divided by 2N.  Augmentations as the original's torchvision
pipeline (random resized crop, flip, colour jitter p=0.8, grayscale p=0.2,
ImageNet normalisation), vectorised over the batch.
"""
import math

import numpy as np
import tensorflow as tf

from models.gmvae.encoders import SIMCLR_BLOCKS, SIMCLR_POOL, conv_encoder, init_conv_encoder
from models.gmvae.layers import dense, init_linear

TEMPERATURE = 0.5
PREFIX = 'encoder.encoder'
JITTER = dict(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)
P_JITTER, P_GRAY, P_FLIP = 0.8, 0.2, 0.5
CROP_SCALE, CROP_RATIO = (0.08, 1.0), (3. / 4., 4. / 3.)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def init_params(hidden=64, seed=0):
  rng = np.random.RandomState(seed)
  params = {}
  init_conv_encoder(rng, params, PREFIX, SIMCLR_BLOCKS, 3, hidden)
  width = 4 * hidden
  init_linear(rng, params, 'l1', width, width)
  init_linear(rng, params, 'l2', width, width // 2)
  return params


def encode(p, x, training, stats=None):
  """Normalised images [N, 84, 84, 3] -> features [N, 256]."""
  return conv_encoder(p, x, PREFIX, SIMCLR_BLOCKS, SIMCLR_POOL, training, stats)


def project(p, h):
  return tf.math.l2_normalize(dense(p, 'l2', tf.nn.relu(dense(p, 'l1', h))), axis=-1)


def nt_xent(z_i, z_j, temperature=TEMPERATURE):
  """NT-Xent of two views [N, D] (rows need not be normalised)."""
  reps = tf.math.l2_normalize(tf.concat([z_j, z_i], axis=0), axis=-1)
  n2 = tf.shape(reps)[0]
  n = n2 // 2
  logits = tf.matmul(reps, reps, transpose_b=True) / temperature
  positives = tf.gather(logits, (tf.range(n2) + n) % n2, axis=1, batch_dims=1)
  logits = tf.where(tf.eye(n2, dtype=tf.bool), tf.cast(-np.inf, logits.dtype), logits)
  return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - positives)


def normalize(images):
  """uint8 or [0,1] images -> ImageNet-normalised float32."""
  x = tf.cast(images, tf.float32)
  if images.dtype == tf.uint8:
    x = x / 255.
  return (x - MEAN) / STD


def crop_boxes(rng, n, size):
  """torchvision RandomResizedCrop boxes (y1, x1, y2, x2 in [0,1]) for n images."""
  boxes = np.empty((n, 4), np.float32)
  area = float(size * size)
  log_ratio = np.log(CROP_RATIO)
  for i in range(n):
    for _ in range(10):
      target = area * rng.uniform(*CROP_SCALE)
      ratio = math.exp(rng.uniform(*log_ratio))
      w = int(round(math.sqrt(target * ratio)))
      h = int(round(math.sqrt(target / ratio)))
      if 0 < w <= size and 0 < h <= size:
        top, left = rng.randint(0, size - h + 1), rng.randint(0, size - w + 1)
        break
    else:   # the fallback: the whole image (its ratio is within range)
      top, left, h, w = 0, 0, size, size
    boxes[i] = (top / size, left / size, (top + h) / size, (left + w) / size)
  return boxes


def augment_params(rng, n, size):
  """Random parameters of the augmentation of n images (numpy)."""
  jitter = rng.rand(n) < P_JITTER
  factors = {k: np.where(jitter, rng.uniform(max(0., 1. - v), 1. + v, n), 1.)
             for k, v in JITTER.items() if k != 'hue'}
  factors['hue'] = np.where(jitter, rng.uniform(-JITTER['hue'], JITTER['hue'], n), 0.)
  return dict(boxes=crop_boxes(rng, n, size), flip=rng.rand(n) < P_FLIP,
              order=np.argsort(rng.rand(n, 4), axis=1), gray=rng.rand(n) < P_GRAY,
              **{k: v.astype(np.float32) for k, v in factors.items()})


def _gray(x):
  return tf.reduce_sum(x * [0.299, 0.587, 0.114], axis=-1, keepdims=True)


def augment(images, prm):
  """Augmented, normalised views of uint8 images [N, S, S, 3] with augment_params()."""
  x = tf.cast(images, tf.float32) / 255.
  size = images.shape[1]
  x = tf.image.crop_and_resize(x, prm['boxes'], tf.range(tf.shape(x)[0]), [size, size])
  x = tf.where(prm['flip'][:, None, None, None], x[:, :, ::-1], x)
  col = lambda v: tf.constant(v, tf.float32)[:, None, None, None]
  ops = [
      lambda t: tf.clip_by_value(t * col(prm['brightness']), 0., 1.),
      lambda t: tf.clip_by_value(
          (t - tf.reduce_mean(_gray(t), [1, 2, 3], keepdims=True)) * col(prm['contrast'])
          + tf.reduce_mean(_gray(t), [1, 2, 3], keepdims=True), 0., 1.),
      lambda t: tf.clip_by_value((t - _gray(t)) * col(prm['saturation']) + _gray(t), 0., 1.),
      lambda t: tf.map_fn(lambda a: tf.image.adjust_hue(a[0], a[1]),
                          (t, tf.constant(prm['hue'])), fn_output_signature=tf.float32),
  ]
  for slot in range(4):   # torchvision applies the four jitters in a random order
    which = prm['order'][:, slot]
    x = tf.add_n([tf.where(col((which == k).astype(np.float32)) > 0, op(x), 0.)
                  for k, op in enumerate(ops)])
  x = tf.where(prm['gray'][:, None, None, None], tf.tile(_gray(x), [1, 1, 1, 3]), x)
  return normalize(x)


def cosine_lr(base_lr, epoch, t_max, warm_epochs=10):
  """The original's schedule: CosineAnnealingLR(T_max = batches per epoch), stepped once
  per epoch after epoch `warm_epochs` (so the period is t_max EPOCHS)."""
  t = max(0, epoch - warm_epochs)
  return 0.5 * base_lr * (1. + math.cos(math.pi * t / t_max))
