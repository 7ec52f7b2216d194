"""Milliseconds of the TAML learner's convolutions in float32 vs bfloat16, block by block.

  python bench/conv_dtype.py [--rows 60] [--calls 30]

For each of the four conv-4 blocks at cifar shapes (32x32x3 -> 32, then 16x16,
8x8, 4x4 with 32 channels), `--rows` images: the forward convolution and its
two backprops in float32 and in bfloat16, and the cast of the block's output
between the two (what `--learner_conv_dtype bfloat16` adds around each
convolution: input and filter cast down, the output cast back up, the same
for the backprops).  Median of --calls calls after one, each a tf.function.
Whether bfloat16 pays depends on the CPU (oneDNN uses AMX or avx512_bf16 when
present, generic kernels otherwise) and on the row count: a support set has
6-251 rows at cifar, one task's about 60 on average with the weighted padding
row.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.timing import median_ms  # noqa: E402
from common.tf_env import configure_tensorflow_env, quiet_tensorflow_import  # noqa: E402

BLOCKS = ((32, 3), (16, 32), (8, 32), (4, 32))   # (side, input channels) of cifar's blocks
STRIDES = [1, 1, 1, 1]


def block_ms(tf, rows, side, cin, dtype, calls):
  """(forward, filter backprop, input backprop) ms of one block's 3x3 SAME conv."""
  x_shape, k_shape = (rows, side, side, cin), (3, 3, cin, 32)
  x = tf.cast(tf.random.normal(x_shape), dtype)
  w = tf.cast(tf.random.normal(k_shape), dtype)
  dy = tf.cast(tf.random.normal((rows, side, side, 32)), dtype)
  forward = tf.function(lambda: tf.nn.conv2d(x, w, 1, 'SAME'))
  filter_grad = tf.function(lambda: tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=k_shape, out_backprop=dy, strides=STRIDES, padding='SAME'))
  input_grad = tf.function(lambda: tf.raw_ops.Conv2DBackpropInput(
      input_sizes=x_shape, filter=w, out_backprop=dy, strides=STRIDES, padding='SAME'))
  return tuple(median_ms(f, calls=calls) for f in (forward, filter_grad, input_grad))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--rows', type=int, default=60, help='images per convolution (one task)')
  p.add_argument('--calls', type=int, default=30)
  a = p.parse_args()
  configure_tensorflow_env(onednn=None)
  tf = quiet_tensorflow_import()
  from bench.flops import cpu_name
  print('rows %d, median of %d calls, ms; %s' % (a.rows, a.calls, cpu_name()))
  print('| block | float32 fwd / filter / input | bfloat16 fwd / filter / input '
        '| cast of the output f32->bf16 |')
  print('|---|---|---|---|')
  for side, cin in BLOCKS:
    f32 = block_ms(tf, a.rows, side, cin, tf.float32, a.calls)
    bf16 = block_ms(tf, a.rows, side, cin, tf.bfloat16, a.calls)
    out = tf.random.normal((a.rows, side, side, 32))
    cast = median_ms(tf.function(lambda: tf.cast(out, tf.bfloat16)), calls=a.calls)
    print('| %dx%dx%d -> 32 | %s | %s | %.3f |' % (
        side, side, cin, ' / '.join('%.3f' % v for v in f32),
        ' / '.join('%.3f' % v for v in bf16), cast))


if __name__ == '__main__':
  main()
