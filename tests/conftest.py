"""Shared test fixtures: where the goldens and the real datasets live."""
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.tf_env import configure_tensorflow_env  # noqa: E402

# One TensorFlow per test process, with TensorFlow's default CPU kernels, as
# main.py runs (common/tf_env.py); the TDR and GMVAE goldens pass with either.
configure_tensorflow_env(onednn=None)

# The real datasets sit beside the checkout in ../shared (CI and developers).
SHARED = pathlib.Path(os.environ.get('SHARED_DIR', REPO.parent / 'shared'))
DATASETS = SHARED / 'datasets'
GOLDENS_DIR = pathlib.Path(
    os.environ.get('GOLDENS_DIR', REPO / 'tests' / 'fixtures' / 'goldens'))


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: long real-data run; CI runs it only with RUN_SLOW=1')


def pytest_collection_modifyitems(config, items):
  if os.environ.get('RUN_SLOW') == '1':
    return
  skip = pytest.mark.skip(reason='slow real-data run; set RUN_SLOW=1 to run it')
  for item in items:
    if 'slow' in item.keywords:
      item.add_marker(skip)


def dataset_path(*parts):
  """Path under ../shared/datasets, or skip the test with the reason."""
  path = DATASETS.joinpath(*parts)
  if not path.exists():
    pytest.skip('real dataset not available: %s (needs ../shared/datasets)' % path)
  return path


# tiny data and runs several modules read, made once per session
from tests.shared_runs import gmvae_tiny_run, omniglot_dir, toy_data  # noqa: E402,F401
