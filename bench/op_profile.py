"""Where a compiled step spends its CPU time: TensorFlow's profiler around a few
calls, kernel time summed per op type.

  from bench.op_profile import format_profile, profile_ops
  print(format_profile(profile_ops(lambda: step(...), calls=5, steps_per_call=10)))

The same summary of a trace taken by other means (the original TDR Estimator
loop, bench/original_tdr_speed.py): `kernel_times(logdir, steps, wall_s)`.

Kernel time is summed over the executor's threads (it can exceed wall time when
both cores run ops).  Op types are the kernel names the executor logs (oneDNN
kernels appear as `_MklNative...`); the time outside kernels (executor, Python,
input pipeline) is what the wall time holds beyond them.
"""
import collections
import glob
import os
import shutil
import tempfile
import time


def _events(logdir):
  """(line name, event name, duration us) of every event the profiler wrote."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  files = sorted(glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True))
  if not files:
    raise RuntimeError('the TensorFlow profiler wrote no trace under %s' % logdir)
  space = xplane_pb2.XSpace()
  with open(files[-1], 'rb') as f:
    space.ParseFromString(f.read())
  for plane in space.planes:
    names = {k: v.name for k, v in plane.event_metadata.items()}
    for line in plane.lines:
      for event in line.events:
        yield line.name, names.get(event.metadata_id, '?'), event.duration_ps / 1e6


def op_type(event_name):
  """'scope/op_name:KernelType' -> 'KernelType' for the executor's kernel events,
  None for its bookkeeping events ('ExecutorState::Process' and the like)."""
  if ':' not in event_name or '::' in event_name:
    return None
  return event_name.rsplit(':', 1)[1]


def kernel_times(logdir, steps, wall_s):
  """Summarise the trace the profiler wrote to `logdir` over `steps` steps that
  took `wall_s` seconds: {'rows': [[op type, us per step, kernels per step]] by
  time, 'kernel_us': summed kernel us per step, 'wall_us': wall us per step}
  (plain lists and floats: it travels as JSON from the benches' child processes)."""
  times, counts = collections.Counter(), collections.Counter()
  for line, name, us in _events(logdir):
    kind = op_type(name) if line.startswith('tf_Compute') else None
    if kind:
      times[kind] += us
      counts[kind] += 1
  rows = [[k, us / steps, counts[k] / steps] for k, us in times.most_common()]
  return {'rows': rows, 'kernel_us': sum(times.values()) / steps, 'wall_us': 1e6 * wall_s / steps}


def profile_ops(run, calls=5, steps_per_call=1):
  """`kernel_times` of `calls` calls of `run()` (already traced and warm; it
  must block until done)."""
  import tensorflow as tf
  logdir = tempfile.mkdtemp(prefix='op_profile_')
  tf.profiler.experimental.start(logdir)
  t0 = time.perf_counter()
  for _ in range(calls):
    run()
  wall = time.perf_counter() - t0
  tf.profiler.experimental.stop()
  try:
    return kernel_times(logdir, calls * steps_per_call, wall)
  finally:
    shutil.rmtree(logdir, ignore_errors=True)


def format_profile(profile, top=12, title='step'):
  """A markdown table of the `top` op types by kernel time, and the rest."""
  kernel = profile['kernel_us']
  lines = ['', '%s: wall %.0f us / step (profiler on), kernels %.0f us / step summed over '
           'threads' % (title, profile['wall_us'], kernel),
           '| op type | us / step | share of kernel time | kernels / step |', '|---|---|---|---|']
  row = lambda kind, us, n: '| %s | %.0f | %.1f %% | %.1f |' % (kind, us, 100 * us / kernel, n)
  lines += [row(*r) for r in profile['rows'][:top]]
  rest = profile['rows'][top:]
  if rest:
    lines.append(row('(%d other types)' % len(rest), sum(r[1] for r in rest),
                     sum(r[2] for r in rest)))
  return '\n'.join(lines)


def print_profiles(named, note=''):
  """`format_profile` of each (name, profile), titled name + note."""
  for name, profile in named:
    print(format_profile(profile, title=name + note), flush=True)
