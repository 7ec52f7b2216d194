"""TensorFlow process settings an entry point applies before importing TF.

oneDNN kernels: TensorFlow turns them on by default on AVX-512 / AMX CPUs (most
cloud Xeons, this project's CI may be one) and off on AVX2-only ones.
Meta-GMVAE's training step runs about 1.8x faster with them
(bench/gmvae_speed.py) and its golden tests pass with and without them, so it
asks for them.  Bayesian TAML asks for them OFF: with oneDNN its outer
gradients differ from the original's by up to 7e-3 relative
(tests/test_golden_taml.py fails).  The same keys drift by the same amounts
when the learner's batch norm is swapped for the fused kernel, so oneDNN's
rewrite of that batch norm into a fused one is the likely cause.  TDR's goldens
pass either way; it keeps TensorFlow's default.
`TF_ENABLE_ONEDNN_OPTS` set in the environment always wins.
"""
import os


def configure_tensorflow_env(onednn):
  """Set the environment defaults; call before the first `import tensorflow`.

  onednn: True (ask for oneDNN), False (ask for TF's Eigen kernels) or None
  (TensorFlow's own CPU-dependent default).
  """
  if onednn is not None:
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1' if onednn else '0')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # TF's C++ start-up chatter off stderr
