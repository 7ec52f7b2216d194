"""Milliseconds of the TAML learner's batch-norm pieces with and without XLA.

  python bench/batch_norm_xla.py [--rows 60]

One block-1-sized cifar activation `[rows, 32, 32, 32]` float32 with one weighted
row, as `learner.bn_relu_pool` sees it: the weighted statistics, the whole
first-order backward, and the backward's final element-wise term alone, each as
a tf.function with and without `jit_compile` (median of 50 calls after one),
plus the final term through oneDNN's inference batch norm.  The last table is
XLA's compile time for a new row count: under XLA every distinct support size
compiles again.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.tf_env import configure_tensorflow_env  # noqa: E402

configure_tensorflow_env(onednn=None)
import tensorflow as tf  # noqa: E402

from bench.timing import median_ms  # noqa: E402
from models.taml.learner import BN_EPSILON, batch_norm_moments, row_weighted  # noqa: E402

POOL = dict(ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='VALID')


def backward(h, w, g, mean, var):
  """The block's first-order backward as learner.bn_relu_pool writes it."""
  r = tf.math.rsqrt(var + BN_EPSILON)
  pooled = tf.nn.max_pool2d(h, 2, 2, 'VALID')
  y = (pooled - mean) * r
  a, b = tf.reduce_sum(g, [0, 1, 2]), tf.reduce_sum(g * y, [0, 1, 2])
  n = tf.reduce_sum(w) * float(h.shape[1] * h.shape[2])
  rn = r / n
  r2nb = r * rn * b
  through_pool = tf.raw_ops.MaxPoolGrad(orig_input=h, orig_output=pooled, grad=g * r, **POOL)
  return through_pool - (h * row_weighted(r2nb, w) + row_weighted(rn * a - mean * r2nb, w))


def final_term(h, w, q, s, through_pool):
  return through_pool - (h * row_weighted(q, w) + row_weighted(s, w))


def final_term_fused_bn(h, q, s, through_pool):
  """The same affine term, unweighted, as oneDNN's inference batch norm (one kernel)."""
  c = h.shape[-1]
  affine = tf.raw_ops.FusedBatchNormV3(x=h, scale=q, offset=s, mean=tf.zeros([c]),
                                       variance=tf.ones([c]) - BN_EPSILON, epsilon=BN_EPSILON,
                                       is_training=False)[0]
  return through_pool - affine


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--rows', type=int, default=60, help='support rows of the activation')
  a = p.parse_args()
  rows = a.rows
  h = tf.random.normal([rows, 32, 32, 32], seed=1)
  g = tf.random.normal([rows, 16, 16, 32], seed=2)
  w = tf.concat([tf.ones([rows - 1]), [40.]], 0)
  q, s = tf.random.normal([32], seed=3), tf.random.normal([32], seed=4)
  mean, var, _ = batch_norm_moments(h, w)
  pieces = [('weighted statistics', lambda h, w: batch_norm_moments(h, w)[:2], (h, w)),
            ('first-order backward', backward, (h, w, g, mean, var)),
            ('final element-wise term', final_term, (h, w, q, s, h))]
  print('activation [%d, 32, 32, 32] float32, median of 50 calls' % rows)
  print('| piece | TensorFlow kernels ms | XLA ms |')
  print('|---|---|---|')
  for name, fn, args in pieces:
    plain = median_ms(tf.function(fn), args)
    xla = median_ms(tf.function(fn, jit_compile=True), args)
    print('| %s | %.2f | %.2f |' % (name, plain, xla))
  print('| final term, oneDNN inference batch norm (unweighted) | %.2f | - |' % median_ms(
      tf.function(final_term_fused_bn), (h, q, s, h)))
  print('XLA compile + first call of the final term for a new row count:')
  compiled = tf.function(final_term, jit_compile=True)
  for n in (rows + 1, rows + 2, rows + 3):
    args = (tf.random.normal([n, 32, 32, 32]), tf.ones([n]), q, s, tf.zeros([n, 32, 32, 32]))
    t = time.perf_counter()
    compiled(*args).numpy()
    first = time.perf_counter() - t
    print('  %d rows: %.0f ms (then %.2f ms)' % (n, 1e3 * first, median_ms(compiled, args, 10)))


if __name__ == '__main__':
  main()
