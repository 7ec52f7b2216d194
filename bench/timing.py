"""Wall time of a small TensorFlow call, for the micro-benches (conv_dtype, batch_norm_xla)."""
import time


def median_ms(fn, args=(), calls=50):
  """Median wall milliseconds of `fn(*args)` over `calls` calls after one warm-up,
  each call waited for by reading its outputs back (`.numpy()`)."""
  import numpy as np
  import tensorflow as tf
  fn(*args)
  times = []
  for _ in range(calls):
    t = time.perf_counter()
    tf.nest.map_structure(lambda x: x.numpy(), fn(*args))
    times.append(time.perf_counter() - t)
  return 1e3 * float(np.median(times))
