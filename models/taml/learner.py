"""The conv-4 learner of Learning to Balance, as a pure function of its parameters.

Parameters are plain tensors in a dict keyed by the original variable names
(`conv1_w` ... `conv4_w`, `conv1_b` ..., `dense_w`, `dense_b`), so the inner loop
can differentiate through them and swap them freely (MAML's "fast weights").

Shapes: x `[N, H*W*C]` rows (flattened NHWC images), logits `[N, way]`.
"""
import tensorflow as tf

N_BLOCKS = 4
BN_EPSILON = 1e-3
CONV_KEYS = tuple('conv%d_%s' % (l, p) for l in range(1, N_BLOCKS + 1) for p in 'wb')
DENSE_KEYS = ('dense_w', 'dense_b')
LEARNER_KEYS = CONV_KEYS + DENSE_KEYS


def layer_of(key):
  """Index 0..4 of the layer a learner parameter belongs to (dense = 4)."""
  return N_BLOCKS if key.startswith('dense') else int(key[4]) - 1


def batch_norm(x, beta, row_mask=None):
  """Offset-only batch norm with ALWAYS the current batch's statistics.

  mean and variance are plain reductions over N, H, W, or over the rows
  selected by `row_mask` (`[N]`, 1 = counted; None = all rows).  Deliberately NOT `tf.nn.moments`: it puts
  the mean under stop_gradient inside the variance, which leaves first but not
  second derivatives intact, and the outer gradient is second order through
  the inner steps (goldens/README, "Batch-norm formulation").
  """
  if row_mask is None:
    mean = tf.reduce_mean(x, axis=[0, 1, 2])
    var = tf.reduce_mean(tf.square(x - mean), axis=[0, 1, 2])
    return (x - mean) * tf.math.rsqrt(var + BN_EPSILON) + beta
  mask = tf.reshape(row_mask, [-1, 1, 1, 1])
  count = tf.reduce_sum(mask) * tf.cast(tf.shape(x)[1] * tf.shape(x)[2], x.dtype)
  mean = tf.reduce_sum(x * mask, axis=[0, 1, 2]) / count
  var = tf.reduce_sum(tf.square(x - mean) * mask, axis=[0, 1, 2]) / count
  return (x - mean) * tf.math.rsqrt(var + BN_EPSILON) + beta


def conv_block(x, w, b, beta, row_mask=None):
  """3x3 SAME conv + bias -> batch norm -> ReLU -> 2x2 VALID max-pool."""
  x = tf.nn.conv2d(x, w, 1, 'SAME') + b
  x = tf.nn.relu(batch_norm(x, beta, row_mask))
  return tf.nn.max_pool2d(x, 2, 2, 'VALID')


def learner_forward(params, betas, x, image_shape, row_mask=None):
  """Logits of the conv-4 learner.

  Args:
    params: dict of learner tensors (LEARNER_KEYS).
    betas: list of the 4 batch-norm offsets `[32]`, shared by all tasks.
    x: `[N, H*W*C]` flattened NHWC images.
    image_shape: `(H, W, C)`.
    row_mask: `[N]` float, which rows enter the batch-norm statistics
      (None: all of them).
  Returns:
    `[N, way]` logits.
  """
  h = tf.reshape(x, [-1] + list(image_shape))
  for l in range(N_BLOCKS):
    h = conv_block(h, params['conv%d_w' % (l + 1)], params['conv%d_b' % (l + 1)],
                   betas[l], row_mask)
  h = tf.reshape(h, [tf.shape(h)[0], -1])
  return tf.matmul(h, params['dense_w']) + params['dense_b']


def feature_size(image_size, n_channel):
  """Flattened learner features: 2*2*32 at 32x32, 5*5*32 at 84x84."""
  side = image_size
  for _ in range(N_BLOCKS):
    side //= 2
  return side * side * n_channel
