"""Convolutional encoders: conv3x3 + BatchNorm + ReLU + max-pool 2 blocks.

Omniglot (omniglot/module.py): 4 blocks, pooling with `ceil_mode=True`
(28 -> 14 -> 7 -> 4 -> 2).  For these sizes and non-negative (post-ReLU) inputs
that is TF 'SAME' pooling: the extra window at 7 -> 4 covers one real pixel.
SimCLR / miniImageNet (simclr/module.py): 5 blocks, floor pooling ('VALID',
84 -> 42 -> 21 -> 10 -> 5 -> 2).  Both return features flattened in PyTorch's
NCHW order.
"""
import tensorflow as tf

from models.gmvae.layers import (LAYER_OPS, batch_norm, init_bn, nchw_flatten, torch_to_tf,
                                 torch_uniform)

OMNIGLOT_BLOCKS, OMNIGLOT_POOL = 4, 'SAME'
SIMCLR_BLOCKS, SIMCLR_POOL = 5, 'VALID'


def block_names(prefix, i):
  """(conv, bn) names of block i inside an `nn.Sequential` of 4 modules per block."""
  return '%s.%d' % (prefix, 4 * i), '%s.%d' % (prefix, 4 * i + 1)


def conv_encoder(p, x, prefix, n_blocks, pool_padding, training, stats=None, dtype=None,
                 ops=LAYER_OPS):
  """x NHWC -> [N, C*H*W] in the dtype of x (NCHW flatten order); the convolutions
  compute in `dtype` (bfloat16 under --mixed_precision; None: the dtype of x).
  Batch-norm statistics are float32, or float64 for float64 x.  `ops`: the
  ReLU, max-pool and batch-norm mode (layers.LayerOps)."""
  out_dtype = x.dtype
  x = tf.cast(x, dtype or out_dtype)
  for i in range(n_blocks):
    conv, bn = block_names(prefix, i)
    x = conv2d(x, p[conv + '.weight'], p[conv + '.bias'])
    x = ops.relu(bn, batch_norm(p, bn, x, training, stats, ops.cross_replica))
    x = ops.max_pool(bn, x, pool_padding)
  return tf.cast(nchw_flatten(x), out_dtype)


def conv2d(x, kernel, bias):
  """3x3 SAME convolution + bias in the dtype of x."""
  return tf.nn.conv2d(x, tf.cast(kernel, x.dtype), 1, 'SAME') + tf.cast(bias, x.dtype)


def init_conv_encoder(rng, params, prefix, n_blocks, in_channels, hidden):
  for i in range(n_blocks):
    conv, bn = block_names(prefix, i)
    cin = in_channels if i == 0 else hidden
    fan_in = cin * 9
    params[conv + '.weight'] = torch_to_tf(torch_uniform(rng, (hidden, cin, 3, 3), fan_in))
    params[conv + '.bias'] = torch_uniform(rng, (hidden,), fan_in)
    init_bn(params, bn, hidden)
