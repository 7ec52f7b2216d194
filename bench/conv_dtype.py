"""Seconds of one cifar-sized convolution (forward and both backprops) in float32 vs bfloat16.

  python bench/conv_dtype.py

A first check for an opt-in bfloat16 learner (issue 19): on a CPU with AMX or
avx512_bf16, oneDNN may run bfloat16 convolutions much faster than float32.
"""
import time, tensorflow as tf
def bench(dtype, shape=(240, 32, 32, 32), k=(3, 3, 32, 32)):
  x = tf.cast(tf.random.normal(shape), dtype); w = tf.cast(tf.random.normal(k), dtype)
  dy = tf.cast(tf.random.normal(shape), dtype)
  f = tf.function(lambda: (tf.nn.conv2d(x, w, 1, 'SAME'),
                           tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=k, out_backprop=dy, strides=[1,1,1,1], padding='SAME'),
                           tf.raw_ops.Conv2DBackpropInput(input_sizes=shape, filter=w, out_backprop=dy, strides=[1,1,1,1], padding='SAME')))
  f()
  t = time.perf_counter()
  for _ in range(20): out = f()
  [o.numpy() for o in out]
  return (time.perf_counter() - t) / 20 * 1e3
for d in (tf.float32, tf.bfloat16):
  print(d.name, 'conv fwd + both backprops, 240x32x32x32, 3x3x32x32: %.1f ms' % bench(d))
