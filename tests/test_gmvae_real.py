"""Real Omniglot: a short unsupervised Meta-GMVAE run through the CLI learns.

The arrays are built from the real archives with data/omniglot/get_data.py
(--layout gmvae); the trained model's 5-way 1-shot test accuracy must beat the
same evaluation of the untrained model (--train-iters 0, same seed, same
episodes) by a clear margin.
"""
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, dataset_path

COMMON = ['--dataset', 'omniglot', '--way', '5', '--batch-size', '2', '--sample-size', '40',
          '--train-mc-sample-size', '2', '--test-mc-sample-size', '4',
          '--unsupervised-em-iters', '5', '--semisupervised-em-iters', '5', '--noprogress']


@pytest.fixture(scope='module')
def omniglot_arrays(tmp_path_factory):
  sources = [dataset_path('omniglot', name) for name in
             ('images_background.npz', 'images_evaluation.npz')]
  script = REPO / 'data' / 'omniglot' / 'get_data.py'
  if not script.exists():
    pytest.skip('data/omniglot/get_data.py is not in this checkout')
  out = tmp_path_factory.mktemp('omniglot_gmvae')
  proc = subprocess.run([sys.executable, str(script), '--layout', 'gmvae', '--out', str(out),
                         '--source'] + [str(s) for s in sources],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return str(out)


def one_shot_test_accuracy(data_dir, save_dir, iters, eval_episodes):
  proc = subprocess.run(
      [sys.executable, str(REPO / 'gmvae_main.py'), '--data-dir', data_dir, '--save-dir',
       save_dir, '--train-iters', str(iters), '--freq-iters', str(max(iters, 1)),
       '--eval-episodes', str(eval_episodes)] + COMMON,
      capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-3000:]
  found = re.search(r'^1shot Final Test Accuracy: ([0-9.]+) Confidence Interval: ([0-9.]+)',
                    proc.stdout, re.M)
  assert found, proc.stdout
  return float(found.group(1)), float(found.group(2))


def check_learns(data_dir, tmp_path, iters, eval_episodes, margin):
  before, _ = one_shot_test_accuracy(data_dir, str(tmp_path / 'untrained'), 0, eval_episodes)
  after, conf = one_shot_test_accuracy(data_dir, str(tmp_path / 'trained'), iters,
                                       eval_episodes)
  print('\n5-way 1-shot test accuracy: untrained %.4f, after %d iterations %.4f +- %.4f '
        '(margin %.4f, required %.2f)' % (before, iters, after, conf, after - before, margin))
  assert after >= before + margin, (before, after)


def test_short_run_learns(omniglot_arrays, tmp_path):
  check_learns(omniglot_arrays, tmp_path, iters=200, eval_episodes=100, margin=0.10)


@pytest.mark.slow
def test_longer_run_learns_more(omniglot_arrays, tmp_path):
  check_learns(omniglot_arrays, tmp_path, iters=1000, eval_episodes=400, margin=0.25)
