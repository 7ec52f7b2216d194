"""TensorFlow process settings an entry point applies before importing TF.

oneDNN kernels: TensorFlow turns them on by default on AVX-512 / AMX CPUs (most
cloud Xeons) and off on AVX2-only ones.  Meta-GMVAE's training step runs about
1.8x faster with them (bench/gmvae_speed.py) and its golden tests pass with and
without them, so it asks for them everywhere.
Bayesian TAML and TDR keep TensorFlow's default.  For TAML that is a measured
choice: its outer gradient is second order through ReLUs and max-pools, so ANY
change of float32 summation order (oneDNN vs Eigen, AVX2 vs AVX-512) can flip
a near-tied decision and move a few gradient keys by up to ~1e-2 relative
(tests/test_golden_taml.py explains); oneDNN matches the goldens as well as
Eigen does and runs the TAML step 2.2x (cifar) to 2.8x (mimgnet) faster on an
AVX-512 Xeon (results/taml_speed.md).
`TF_ENABLE_ONEDNN_OPTS` set in the environment always wins.

Chatter: unless the user sets `TF_CPP_MIN_LOG_LEVEL`, TensorFlow's C++ logging is
at level 3 (TF 2.21 logs benign ERROR-level notes mid-run, e.g. oneDNN's "supports
DT_INT32 only on platforms with AVX-512" on the first TAML step; every real
failure still reaches Python as an exception) and `quiet_tensorflow_import` keeps what still reaches
stderr while TensorFlow loads and probes for devices (CUDA plugin registration,
absl's "All log messages before absl::InitializeLog()", cuInit on a CPU-only
machine) off the terminal.

Thread pools: TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS are checked before
TensorFlow starts (a negative value aborts inside TensorFlow's C++, other
non-numbers are silently ignored by it); `thread_settings` is what a checkpoint
records, so that a resume under other pool sizes, which reorders float32
reductions, is said in one warning line (common/checkpoints.py).
"""
import os
import sys

LOG_LEVEL_ENV = 'TF_CPP_MIN_LOG_LEVEL'
THREAD_ENV = {'intra_op': 'TF_NUM_INTRAOP_THREADS', 'inter_op': 'TF_NUM_INTEROP_THREADS'}
_USER_LOG_LEVEL = LOG_LEVEL_ENV in os.environ   # the user's choice, before we set a default


def configure_tensorflow_env(onednn):
  """Set the environment defaults; call before the first `import tensorflow`.

  onednn: True (ask for oneDNN), False (ask for TF's Eigen kernels) or None
  (TensorFlow's own CPU-dependent default).
  """
  check_thread_env()
  if onednn is not None:
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1' if onednn else '0')
  os.environ.setdefault(LOG_LEVEL_ENV, '3')   # TF's C++ chatter off stderr


def check_thread_env(environ=os.environ):
  """One `error:` line (exit 2) for a thread-pool variable that is not a whole
  number >= 0 (empty or 0: TensorFlow picks)."""
  from common.errors import fail
  for name in THREAD_ENV.values():
    value = environ.get(name, '').strip()
    if value and not (value.isascii() and value.isdigit()):
      fail('%s=%s: must be a whole number >= 0 (0 or unset: TensorFlow picks the pool size)'
           % (name, environ[name]))


def thread_settings():
  """The thread-pool sizes this process runs TensorFlow with: the variables, else
  the tf.config.threading setting, else the usable CPUs (TensorFlow's default)."""
  import tensorflow as tf
  getters = {'intra_op': tf.config.threading.get_intra_op_parallelism_threads,
             'inter_op': tf.config.threading.get_inter_op_parallelism_threads}
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  out = {}
  for key, name in THREAD_ENV.items():
    raw = os.environ.get(name, '').strip()
    out[key] = int(raw or 0) or getters[key]() or cpus
    out[name] = raw or None
  return out


def quiet_tensorflow_import():
  """Import TensorFlow and list its devices with file descriptor 2 captured, so the
  C++ start-up lines that ignore TF_CPP_MIN_LOG_LEVEL stay off stderr; what was
  captured is shown if that fails.  A no-op redirect when the user set
  TF_CPP_MIN_LOG_LEVEL (they asked for TensorFlow's logging).  Returns `tf`.

  Listing physical devices does not start the runtime: logical-device splits and
  visible-device choices made afterwards still apply.
  """
  if _USER_LOG_LEVEL or 'tensorflow' in sys.modules:
    import tensorflow as tf
    return tf
  import tempfile
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode='w+') as capture:
    os.dup2(capture.fileno(), 2)
    try:
      import tensorflow as tf
      tf.config.list_physical_devices()   # cuInit and friends print here
    except KeyboardInterrupt:   # Ctrl-C while TensorFlow loads: its chatter stays captured
      raise
    except BaseException:
      os.dup2(saved, 2)
      capture.seek(0)
      sys.stderr.write(capture.read())
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)
  tf.get_logger().setLevel('ERROR')
  return tf


def skip_graph_rewrites_on_cpu():
  """Turn grappler's graph rewrites off for the process when no GPU is visible.

  Call after device selection, before the first tf.function runs.  The TAML
  meta-train step is a large graph (second-order gradients through every task
  and inner step, unrolled; 35K nodes when measured, 17K now); on a CPU
  grappler spent ~9 s of the first step rewriting it and the result runs no
  faster (bench/taml_speed.py, results/taml_speed.md).  On a GPU its layout
  and fusion passes are kept (not measured there).
  """
  import tensorflow as tf
  if not tf.config.list_physical_devices('GPU'):
    tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True})


def freeze_startup_objects():
  """Move every Python object alive now out of the garbage collector's generations.

  Call once, after TensorFlow and the model code are imported and before the
  first tf.function trace.  Tracing the TAML meta-train step builds ~17K graph
  ops (millions of short-lived Python objects); every full collection that triggers would
  otherwise re-scan TensorFlow's and Keras' module objects, which live as long
  as the process anyway.  `gc.freeze()`: ~0.3 s of the first cifar TAML step
  (bench/taml_speed.py, results/taml_speed.md).
  """
  import gc
  gc.freeze()
