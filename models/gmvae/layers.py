"""Small building blocks shared by every GMVAE network: layouts, dense, batch norm.

Parameters live in a flat dict `name -> tensor` whose names are the original
PyTorch `state_dict` keys and whose values use TensorFlow layouts:
Conv2d OIHW -> HWIO, ConvTranspose2d IOHW -> [h, w, out, in], Linear [out, in]
-> [in, out]; every other tensor is unchanged.
"""
import math

import numpy as np
import tensorflow as tf

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


def torch_to_tf(value):
  """A PyTorch parameter array in the TensorFlow layout used here."""
  value = np.asarray(value, np.float32)
  if value.ndim == 4:       # OIHW -> HWIO and IOHW -> [h, w, out, in]: same axes
    return np.transpose(value, (2, 3, 1, 0))
  if value.ndim == 2:       # Linear [out, in] -> [in, out]
    return value.T
  return value


def tf_to_torch(value):
  """Inverse of `torch_to_tf` (for gradients and saved parameters)."""
  value = np.asarray(value)
  if value.ndim == 4:
    return np.transpose(value, (3, 2, 0, 1))
  if value.ndim == 2:
    return value.T
  return value


def is_buffer(name):
  return name.rsplit('.', 1)[-1] in BN_BUFFERS


def dense(p, name, x):
  """`nn.Linear` named `name` on the last axis of x."""
  return tf.matmul(x, p[name + '.weight']) + p[name + '.bias']


def mlp(p, names, x, activation):
  """Linear layers `names`, each followed by `activation(name, x)` (as the originals' `proj`)."""
  for name in names:
    x = activation(name, dense(p, name, x))
  return x


class LayerOps:
  """How the networks' layers compute, passed down explicitly from the caller:
  the ReLU after layer `name` (`relu`), the 2x2 stride-2 max-pool after layer
  `name` (`max_pool`), and whether training-mode batch norm pools its statistics
  over all replicas (`cross_replica`: the tasks of a metabatch split over
  devices normalise exactly as on one device).  These are plain TF kernels; the
  golden tests pass a subclass that records and imposes the ReLU and max-pool
  decisions by layer name."""

  def __init__(self, cross_replica=False):
    self.cross_replica = cross_replica

  def relu(self, name, x):
    del name   # names the layer for subclasses
    return tf.nn.relu(x)

  def max_pool(self, name, x, padding):
    del name
    return tf.nn.max_pool2d(x, 2, 2, padding)


LAYER_OPS = LayerOps()   # one device, plain kernels


def pool_windows(x, padding):
  """The 2x2 stride-2 windows of NHWC x as [N, H', W', C, 4] (row-major in the
  window); 'SAME' pads the odd end with -inf as TF's max-pool does."""
  h, w = x.shape[1], x.shape[2]
  if padding == 'VALID':
    x = x[:, :h // 2 * 2, :w // 2 * 2]
  else:
    x = tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]],
               constant_values=float('-inf'))
  h, w, c = x.shape[1], x.shape[2], x.shape[3]
  x = tf.reshape(x, [-1, h // 2, 2, w // 2, 2, c])
  return tf.reshape(tf.transpose(x, [0, 1, 3, 5, 2, 4]), [-1, h // 2, w // 2, c, 4])


def _synced_moments(x):
  """Mean, biased and unbiased variance of NHWC x over every replica's rows."""
  context = tf.distribute.get_replica_context()
  total = lambda v: context.all_reduce(tf.distribute.ReduceOp.SUM, v)
  count = total(tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype))
  mean = total(tf.reduce_sum(x, axis=[0, 1, 2])) / count
  biased = total(tf.reduce_sum(tf.square(x - mean), axis=[0, 1, 2])) / count
  return mean, biased, biased * count / (count - 1.)


def _stats_dtype(dtype):
  """Batch-norm statistics: float64 for float64 activations, float32 otherwise
  (bfloat16 activations under --mixed_precision too)."""
  return tf.float64 if dtype == tf.float64 else tf.float32


def _exact_batch_norm(x, gamma, beta):
  """`nn.BatchNorm2d` with plain ops (any float dtype, used for float64, where
  FusedBatchNormV3 has no kernel): the same math as the fused kernel, the batch
  statistics as plain reductions (gradient through mean and variance, no
  `tf.nn.moments` stop-gradient).  Returns (y, mean, unbiased variance)."""
  mean = tf.reduce_mean(x, axis=[0, 1, 2])
  centred = x - mean
  biased = tf.reduce_mean(tf.square(centred), axis=[0, 1, 2])
  count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype)
  y = centred * (tf.math.rsqrt(biased + BN_EPS) * gamma) + beta
  return y, mean, biased * count / (count - 1.)


def batch_norm(p, name, x, training, stats, cross_replica=False):
  """`nn.BatchNorm2d` over NHWC x.  In training mode the batch statistics
  normalise (biased variance; over every replica's rows with `cross_replica`)
  and `(mean, unbiased variance)` is put into `stats[name]` for the running
  update; in eval mode the running statistics are used.  float32 / bfloat16 x
  use the fused kernel (2-3x faster on CPU than plain ops); float64 x, which it
  cannot take, uses `_exact_batch_norm` (same math)."""
  gamma, beta = p[name + '.weight'], p[name + '.bias']
  if training and cross_replica:
    xs = tf.cast(x, _stats_dtype(x.dtype))
    mean, biased, unbiased = _synced_moments(xs)
    if stats is not None:
      stats[name] = (tf.stop_gradient(mean), tf.stop_gradient(unbiased))
    return tf.cast(tf.nn.batch_normalization(xs, mean, biased, beta, gamma, BN_EPS), x.dtype)
  if x.dtype == tf.float64:
    if not training:
      rm, rv = p[name + '.running_mean'], p[name + '.running_var']
      return (x - rm) * (tf.math.rsqrt(rv + BN_EPS) * gamma) + beta
    y, mean, var = _exact_batch_norm(x, gamma, beta)
    if stats is not None:
      stats[name] = (tf.stop_gradient(mean), tf.stop_gradient(var))
    return y
  if training:
    y, mean, var = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=BN_EPS,
                                                   is_training=True)
    if stats is not None:
      stats[name] = (tf.stop_gradient(mean), tf.stop_gradient(var))
    return y
  return tf.compat.v1.nn.fused_batch_norm(
      x, gamma, beta, mean=p[name + '.running_mean'], variance=p[name + '.running_var'],
      epsilon=BN_EPS, is_training=False)[0]


def bn_running_update(variables, stats, momentum=BN_MOMENTUM):
  """PyTorch's running-statistics update for every BN in `stats` (in place)."""
  for name, (mean, var) in stats.items():
    rm, rv = variables[name + '.running_mean'], variables[name + '.running_var']
    rm.assign((1. - momentum) * rm + momentum * mean)
    rv.assign((1. - momentum) * rv + momentum * var)
    variables[name + '.num_batches_tracked'].assign_add(1.)


def nchw_flatten(x):
  """[N, H, W, C] -> [N, C*H*W] in PyTorch's NCHW order."""
  x = tf.transpose(x, [0, 3, 1, 2])
  return tf.reshape(x, [tf.shape(x)[0], -1])


def nchw_unflatten(x, channels, height, width):
  """Inverse of `nchw_flatten`: PyTorch `view(-1, C, H, W)`, returned NHWC."""
  x = tf.reshape(x, [-1, channels, height, width])
  return tf.transpose(x, [0, 2, 3, 1])


def torch_uniform(rng, shape, fan_in):
  """PyTorch's default init of Linear/Conv weights and biases: U(+-1/sqrt(fan_in))."""
  bound = 1. / math.sqrt(fan_in)
  return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_linear(rng, params, name, n_in, n_out):
  params[name + '.weight'] = torch_to_tf(torch_uniform(rng, (n_out, n_in), n_in))
  params[name + '.bias'] = torch_uniform(rng, (n_out,), n_in)


def init_bn(params, name, channels):
  params[name + '.weight'] = np.ones(channels, np.float32)
  params[name + '.bias'] = np.zeros(channels, np.float32)
  params[name + '.running_mean'] = np.zeros(channels, np.float32)
  params[name + '.running_var'] = np.ones(channels, np.float32)
  params[name + '.num_batches_tracked'] = np.zeros((), np.float32)
