"""TensorFlow process settings an entry point applies before importing TF.

oneDNN kernels: TensorFlow turns them on by default on AVX-512 / AMX CPUs (most
cloud Xeons) and off on AVX2-only ones.  Meta-GMVAE's training step runs about
1.8x faster with them (bench/gmvae_speed.py) and its golden tests pass with and
without them, so it asks for them everywhere.  Bayesian TAML and TDR keep
TensorFlow's default.  For TAML that is a measured choice: its outer gradient
is second order through ReLUs, so ANY change of float32 summation order
(oneDNN vs Eigen, AVX2 vs AVX-512) can flip a ReLU decision and move a few
gradient keys by up to ~1e-2 relative (tests/test_golden_taml.py explains).
On an AVX2 CPU the Eigen kernels reproduce every golden exactly; on an AVX-512
Xeon oneDNN (TF's default there) matches as many goldens as Eigen does
(17 vs 16 of 18 checks; the rest are such flips) and runs the cifar TAML step
1.8x faster (9.8 -> 5.3 s, bench/taml_speed.py).
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
