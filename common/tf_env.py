"""TensorFlow process settings an entry point applies before importing TF.

oneDNN kernels: TensorFlow turns them on by default only on AVX512/AMX CPUs.
On AVX2 machines (laptops, this project's CI) Meta-GMVAE's training step runs
about 1.8x faster with them (bench/gmvae_speed.py), and its golden tests pass
with and without them.  Bayesian TAML keeps TensorFlow's default (Eigen) kernels:
with oneDNN its outer gradients differ from the original's by up to 7e-3
relative (tests/test_golden_taml.py fails).  The likely cause is max-pool tie
breaking: zero-padding support rows give constant feature maps, every pool
window is a tie, and oneDNN routes the gradient to another element than the
Eigen kernels the original ran on.
`TF_ENABLE_ONEDNN_OPTS` set in the environment always wins.
"""
import os


def configure_tensorflow_env(onednn):
  """Set the environment defaults; call before the first `import tensorflow`."""
  if onednn:
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # TF's C++ start-up chatter off stderr
