"""Running main.py as a user does, on small per-class arrays written to disk."""
import os
import subprocess
import sys

import numpy as np

from tests.conftest import REPO

# A short, cheap geometry: 5-way, up to 3 shots, 2 queries, 1 inner step.
SMALL = ['--max_shot', '3', '--query', '2', '--n_steps', '1', '--metabatch', '2',
         '--log_freq', '2', '--n_val_tasks', '4', '--n_test_episodes', '4']


def write_dataset(root, name, splits, n_classes=8, per_class=10, side=32, seed=0):
  """Per-class float32 arrays [C, N, side, side, 3] as get_data.py writes them."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, name), exist_ok=True)
  for split in splits:
    # class-dependent mean so that there is something to learn
    x = rng.random((n_classes, per_class, side, side, 3), dtype=np.float32) * 0.5
    x += np.linspace(0, 0.5, n_classes, dtype=np.float32)[:, None, None, None, None]
    np.save(os.path.join(root, name, split + '.npy'), x)


def cifar_like(root):
  write_dataset(root, 'cifar', ['train', 'valid', 'test'])
  write_dataset(root, 'svhn', ['valid', 'test'], seed=1)
  return root


def run_main(*args, check=True):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  proc = subprocess.run([sys.executable, str(REPO / 'main.py'), *map(str, args)],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
  if check:
    assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def error_lines(proc):
  """The `error:` lines of stderr; a traceback is a failure of its own."""
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  return [l for l in proc.stderr.splitlines() if l.startswith('error:')]
