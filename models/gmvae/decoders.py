"""Decoders: the Omniglot MLP + transposed-conv decoder and the feature-space MLP.

Omniglot (omniglot/model.py `proj` + omniglot/module.py `OmniglotDecoder`):
MLP latent -> 4h -> 4h -> 4h with ELU, view as NCHW [h, 2, 2], then
ConvTranspose2d(k, stride 2, padding 1) with k = 4, 3, 4, 4 (2 -> 4 -> 7 -> 14 -> 28),
BN + ReLU after the first three; returns LOGITS (the sigmoid is applied by the
caller, so the loss can use the stable logits form).
miniImageNet features (mimgnet/model.py `proj`): MLP latent -> 2D -> 2D -> D, ReLU.
"""
import tensorflow as tf

from models.gmvae.layers import (LAYER_OPS, batch_norm, init_bn, init_linear, mlp,
                                 nchw_unflatten, torch_to_tf, torch_uniform)

PROJ = ('proj.0', 'proj.2', 'proj.4')
DECONV_KERNELS = (4, 3, 4, 4)
PREFIX = 'decoder.decoder'


def conv_transpose_pad1(x, kernel, bias):
  """PyTorch ConvTranspose2d(stride=2, padding=1), x NHWC, kernel [k, k, out, in] ->
  [N, 2(H-1) + k - 2, 2(W-1) + k - 2, out].  For k = 3, 4 and these output sizes TF's
  'SAME' transposed convolution pads exactly 1 per side (checked by the golden tests)."""
  k, out_ch = kernel.shape[0], kernel.shape[2]
  h, w = x.shape[1], x.shape[2]
  shape = [tf.shape(x)[0], 2 * (h - 1) + k - 2, 2 * (w - 1) + k - 2, out_ch]
  return (tf.nn.conv2d_transpose(x, tf.cast(kernel, x.dtype), shape, 2, 'SAME')
          + tf.cast(bias, x.dtype))


def omniglot_decoder(p, z, hidden, training, stats=None, dtype=None, ops=LAYER_OPS):
  """z [N, latent] -> logits [N, 28, 28, 1] in the dtype of z; the transposed
  convolutions compute in `dtype` (bfloat16 under --mixed_precision; None: the
  dtype of z).  `ops`: the ReLU and batch-norm mode (layers.LayerOps)."""
  elu = lambda name, h: tf.nn.elu(h)
  x = tf.cast(nchw_unflatten(mlp(p, PROJ, z, elu), hidden, 2, 2), dtype or z.dtype)
  for i in range(len(DECONV_KERNELS)):
    conv = '%s.%d' % (PREFIX, 3 * i)
    x = conv_transpose_pad1(x, p[conv + '.weight'], p[conv + '.bias'])
    if i < len(DECONV_KERNELS) - 1:
      bn = '%s.%d' % (PREFIX, 3 * i + 1)
      x = ops.relu(bn, batch_norm(p, bn, x, training, stats, ops.cross_replica))
  return tf.cast(x, z.dtype)


def feature_decoder(p, z, ops=LAYER_OPS):
  """z [N, latent] -> reconstructed features [N, D] (`ops.relu` after each layer)."""
  return mlp(p, PROJ, z, ops.relu)


def init_proj(rng, params, sizes):
  for name, n_in, n_out in zip(PROJ, sizes[:-1], sizes[1:]):
    init_linear(rng, params, name, n_in, n_out)


def init_omniglot_decoder(rng, params, latent, hidden):
  init_proj(rng, params, (latent, 4 * hidden, 4 * hidden, 4 * hidden))
  for i, k in enumerate(DECONV_KERNELS):
    out = 1 if i == len(DECONV_KERNELS) - 1 else hidden
    conv = '%s.%d' % (PREFIX, 3 * i)
    fan_in = out * k * k     # PyTorch computes ConvTranspose fan-in from weight dim 1
    params[conv + '.weight'] = torch_to_tf(torch_uniform(rng, (hidden, out, k, k), fan_in))
    params[conv + '.bias'] = torch_uniform(rng, (out,), fan_in)
    if i < len(DECONV_KERNELS) - 1:
      init_bn(params, '%s.%d' % (PREFIX, 3 * i + 1), hidden)


def init_feature_decoder(rng, params, latent, features):
  init_proj(rng, params, (latent, 2 * features, 2 * features, features))
