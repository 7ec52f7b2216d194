"""`--bn_grad fused` reproduces the gradients of the original graph (`grad_tf1fused/`).

The original's fused batch norm inside `tf.map_fn` holds the batch-norm backward
constant in the second-order outer gradient (`learner.tf1_fused_second_order`);
the fixtures recorded that graph as `*_grads_tf1fused.npz`.  `--bn_grad exact`
against the true gradient (`grad/`) is tests/test_golden_taml.py.  Same rule as
there: max|port - golden| <= 1e-4 * max(max|golden_key|, floor), the floor only
for the structurally zero keys, and a float32 mismatch passes only as
`test_golden_taml.check_float32` allows: the float64 replay passes every f64
check (the two modes share the forward pass and every decision in it) and the
ReLU / max-pool decisions behind the mismatch are named.  No expected failures.
"""
import numpy as np
import pytest

from tests import golden
from tests.test_golden_taml import STEMS, check_float32, compare_gradients, replay

FUSED = 'grad_tf1fused/'

pytestmark = pytest.mark.skipif(not STEMS, reason='no taml_* fixtures in $GOLDENS_DIR')


def check_fused_gradients(result):
  """A fused replay's gradients against the fixture's `grad_tf1fused/` keys."""
  d, grads = result[0], result[4]
  want = {'grad/' + k[len(FUSED):]: v for k, v in d.items() if k.startswith(FUSED)}
  compare_gradients({n: None if g is None else np.asarray(g) for n, g in grads.items()},
                    want, golden.RTOL)


@pytest.mark.parametrize('stem', STEMS)
def test_fused_gradients_are_the_original_graphs(stem):
  check_float32(stem, check_fused_gradients, bn_grad='fused')


@pytest.mark.parametrize('stem', STEMS)
def test_modes_share_the_forward_pass(stem):
  """cent, acc, kl, pred and the outer loss: bit for bit the same in both modes."""
  fused, exact = (replay(stem, bn_grad=mode) for mode in ('fused', 'exact'))
  for key in ('cent', 'acc', 'kl', 'pred'):
    np.testing.assert_array_equal(getattr(fused[2], key), getattr(exact[2], key), key)
  np.testing.assert_array_equal(fused[3], exact[3])


# The smallest per-fixture largest key difference fused vs exact is ~1e-2 relative
# (goldens/README); 10x the tolerance leaves room and still proves the point.
DISCRIMINATES = 10 * golden.RTOL


@pytest.mark.parametrize('stem', STEMS)
def test_the_golden_test_tells_the_modes_apart(stem):
  """In float64 (no float32 decision involved) fused and exact differ by far more
  than the tolerance on some keys: matching grad_tf1fused/ is not matching grad/."""
  fused = replay(stem, 'float64', bn_grad='fused')[4]
  exact = replay(stem, 'float64', bn_grad='exact')[4]
  differences = {n: np.abs(np.asarray(fused[n]) - exact[n]).max() / np.abs(exact[n]).max()
                 for n in fused if fused[n] is not None}
  worst = max(differences, key=differences.get)
  assert differences[worst] > DISCRIMINATES, (worst, differences[worst])
