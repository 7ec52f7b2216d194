"""Session fixtures: tiny data sets and runs that several test modules read.

Each is made once per test session (a real run costs a TensorFlow start and a
trace); a test that changes a run (resumes, corrupts, evaluates into it) works
on its own copy, `copy_run`."""
import shutil

import pytest


def copy_run(src, dst):
  """A private copy of the run directory `src` at `dst` (the `best` links are relative)."""
  shutil.copytree(src, dst, symlinks=True)
  return dst


@pytest.fixture(scope='session')
def toy_data(tmp_path_factory):
  """Small 2-vs-3 tfrecords from the toy idx files (no ../shared needed):
  `mnist/` (idx.gz), `data/` (tfrecords), `make.err` (the generator's stderr)."""
  from tests.test_tdr_cli import generate, write_idx
  root = tmp_path_factory.mktemp('toy')
  write_idx(str(root / 'mnist'))
  proc = generate(root / 'mnist', root / 'data', '--train-size', '40', '--validation-size',
                  '4', '--test-size', '20', '--ratio', '0.8')
  assert proc.returncode == 0, proc.stderr[-2000:]
  (root / 'make.err').write_text(proc.stderr)
  return root


@pytest.fixture(scope='session')
def omniglot_dir(tmp_path_factory):
  from tests.test_gmvae_cli import write_omniglot
  return write_omniglot(tmp_path_factory.mktemp('omniglot'))


@pytest.fixture(scope='session')
def gmvae_tiny_run(omniglot_dir, tmp_path_factory):
  """(run directory, stdout) of gmvae_main.py, TINY geometry, 4 iterations; read it,
  or copy it to change it."""
  from tests.test_gmvae_cli import TINY, cli
  run = tmp_path_factory.mktemp('gmvae_tiny') / 'run'
  proc = cli('--data-dir', omniglot_dir, '--save-dir', str(run), *TINY, '--train-iters', '4')
  assert proc.returncode == 0, proc.stderr[-3000:]
  return run, proc.stdout
