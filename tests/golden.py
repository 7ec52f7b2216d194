"""Loading golden fixtures and comparing against them (shared by the golden tests).

The comparison rule is the one of the fixtures' README:
  max|port - golden| <= 1e-4 * max(max|golden_key|, floor)
with `floor` only for keys whose true value is structurally zero.
"""
import glob
import os
import pathlib

import numpy as np
import pytest

from tests.conftest import GOLDENS_DIR

RTOL = 1e-4
# Float64 replays (`<stem>_f64.npz`, goldens README section 4): no float32
# decision can flip there, so the rule is tight.
RTOL_F64 = 1e-9
F64_SUFFIX = '_f64'


def stems(prefix, companions=()):
  """Fixture stems `<prefix>*.npz`, excluding the companion files of a stem."""
  if not os.path.isdir(GOLDENS_DIR):
    return []
  names = sorted(os.path.basename(p)[:-4] for p in glob.glob(str(GOLDENS_DIR / (prefix + '*.npz'))))
  companions = tuple(companions) + (F64_SUFFIX,)
  return [n for n in names if not any(n.endswith(c) for c in companions)]


def load(stem, companions=(), folder=None):
  """Merge `<stem>.npz` and its `<stem><companion>.npz` files (disjoint keys) from
  `folder` (default GOLDENS_DIR)."""
  folder = pathlib.Path(folder or GOLDENS_DIR)
  out = {}
  for suffix in ('',) + tuple(companions):
    path = folder / (stem + suffix + '.npz')
    if not path.exists():
      if suffix:
        continue
      pytest.skip('fixture %s missing' % path)
    with np.load(path, allow_pickle=False) as f:
      out.update({k: f[k] for k in f.files})
  return out


def load_f64(stem, folder=None):
  """The float64 replay `<stem>_f64.npz` (expected values only; inputs stay in the
  float32 fixture) from `folder` (default GOLDENS_DIR), or skip when there is none."""
  path = pathlib.Path(folder or GOLDENS_DIR) / (stem + F64_SUFFIX + '.npz')
  if not path.exists():
    pytest.skip('float64 replay %s missing' % path)
  with np.load(path, allow_pickle=False) as f:
    return {k: f[k] for k in f.files}


def assert_close(port, golden, key, floor=0., rtol=RTOL):
  port, golden = np.asarray(port, np.float64), np.asarray(golden, np.float64)
  assert port.shape == golden.shape, '%s: shape %s vs golden %s' % (key, port.shape, golden.shape)
  err = np.abs(port - golden).max() if golden.size else 0.
  bound = rtol * max(np.abs(golden).max() if golden.size else 0., floor)
  assert err <= bound, '%s: max|diff| %.3g > %.3g (max|golden| %.3g)' % (
      key, err, bound, np.abs(golden).max())
