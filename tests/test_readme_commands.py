"""The README's first-run commands, verbatim, in a fresh clone with ../shared
beside it (offline, real data), at short settings passed through "$@".

A clone, not this checkout: what a newcomer has (no arrays prepared by other
tests, no run folders), with the committed runfiles only.
"""
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import DATASETS, REPO

# the runfiles call `python`: the one running the tests (its venv), as an activated venv gives
PATH = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get('PATH', '')])

# a newcomer's shell: no TF_CPP_MIN_LOG_LEVEL (modules imported by other tests set a default
# in this process; a child that inherits it would take it for the user's choice)
USER_ENV = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(),
                                reason='needs the real datasets in ../shared/datasets')


@pytest.fixture(scope='module')
def clone(tmp_path_factory):
  root = tmp_path_factory.mktemp('fresh')
  subprocess.run(['git', 'clone', '--quiet', '--local', str(REPO), str(root / 'repo')],
                 check=True)
  os.symlink(DATASETS.parent, root / 'shared')   # ../shared as CI and developers have it
  return root / 'repo'


def bash(clone, runfile, *args, env=None):
  proc = subprocess.run(['bash', 'runfiles/' + runfile, *map(str, args)], cwd=clone,
                        capture_output=True, text=True, timeout=900,
                        env=dict(USER_ENV, CUDA_VISIBLE_DEVICES='', PATH=PATH, **(env or {})))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr
  # no TensorFlow C++ log lines (I/W/E0000 ...) in a user's log: tf_env keeps them off
  assert not re.search(r'^[IWEF]\d{4} ', proc.stderr, re.M), proc.stderr[-3000:]
  return proc


def test_quickstart_omniglot(clone):
  proc = bash(clone, 'quickstart_omniglot.sh', '--n_train_iters', 2, '--val_freq', 2,
              '--n_val_tasks', 4, '--n_test_episodes', 4, '--log_freq', 1)
  lines = [l for l in proc.stdout.splitlines() if ' acc: ' in l]
  # the Meta-SGD baseline, then Bayesian TAML
  assert [l.split(' acc:')[0] for l in lines] == ['id /omniglot', 'ood/mnist'] * 2
  # meta_test with the run directory alone
  proc = subprocess.run([sys.executable, 'main.py', '--mode', 'meta_test', '--savedir',
                         'results/quickstart/omniglot_taml_seed0', '--n_test_episodes', '4'],
                        cwd=clone, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count(' acc: ') == 2


def test_mnist_tdr(clone):
  proc = bash(clone, 'mnist_tdr.sh', '--train-steps', 20, '--eval-freq', 10, '--log-freq', 10)
  summary = [l for l in proc.stdout.splitlines() if l.startswith(('tdr ', 'plain '))]
  assert [l.split()[:3] for l in summary] == [['tdr', 'mnist', 'accuracy'],
                                              ['plain', 'mnist', 'accuracy']]
  assert 'recall_minor' in summary[0] and 'precision_minor' in summary[0]
  # MODE=tdr prints only what it ran (the earlier plain run's records are not this run's)
  proc = bash(clone, 'mnist_tdr.sh', '--train-steps', 30, '--eval-freq', 10, '--log-freq', 10,
              env={'MODE': 'tdr'})
  summary = [l for l in proc.stdout.splitlines() if l.startswith(('tdr ', 'plain '))]
  assert len(summary) == 1 and summary[0].startswith('tdr ')


def test_omniglot_gmvae_5way(clone):
  proc = bash(clone, 'omniglot_gmvae_5way.sh', '--train-iters', 2, '--freq-iters', 2,
              '--eval-episodes', 4, '--sample-size', 10, '--batch-size', 2,
              '--train-mc-sample-size', 2, '--test-mc-sample-size', 2, '--noprogress')
  assert proc.stdout.count('Final Test Accuracy') == 2
