"""TensorFlow process settings an entry point applies before importing TF.

oneDNN kernels: TensorFlow turns them on by default only on AVX512/AMX CPUs.
On AVX2 machines (laptops, this project's CI) Meta-GMVAE's training step runs
about 1.8x faster with them (bench/gmvae_speed.py), and its golden tests pass
with and without them.  Bayesian TAML keeps TensorFlow's default (Eigen) kernels:
with oneDNN its outer gradients differ from the original's by up to 7e-3
relative (tests/test_golden_taml.py fails).  The same keys drift by the same
amounts when the learner's batch norm is swapped for the fused kernel, so
oneDNN's rewrite of that batch norm into a fused one is the likely cause.
`TF_ENABLE_ONEDNN_OPTS` set in the environment always wins.
"""
import os


def configure_tensorflow_env(onednn):
  """Set the environment defaults; call before the first `import tensorflow`."""
  if onednn:
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # TF's C++ start-up chatter off stderr
