"""The weighted support pass (`objective.weighted_support`) computes what the
padded one computes: values and outer gradients agree in float64, on a
metabatch of very unequal tasks, for both batch-norm second derivatives, with
the padding counted or not, at both geometries."""
import numpy as np
import pytest
import tensorflow as tf

from models.taml.config import TamlConfig
from models.taml.objective import metabatch_forward, outer_loss, weighted_support
from models.taml.parameters import TamlParameters

# Shots per class of each task: 5 .. 45 support rows at 32x32, 5 .. 15 at 84x84.
SHOTS = {32: ((1, 1, 1, 1, 1), (1, 2, 3, 4, 9), (9, 9, 9, 9, 9)), 84: ((1, 1, 1, 1, 1), (3, 1, 2, 3, 3))}


def unequal_metabatch(side, query=2, seed=0):
  """Random images, the support of each task zero padded to the longest (as data.episodes)."""
  rng = np.random.default_rng(seed)
  tasks = SHOTS[side]
  way = len(tasks[0])
  n_rows = max(sum(shots) for shots in tasks)
  dim = side * side * 3
  xtr, ytr = np.zeros((len(tasks), n_rows, dim)), np.zeros((len(tasks), n_rows, way))
  for t, shots in enumerate(tasks):
    labels = np.repeat(np.arange(way), shots)
    xtr[t, :len(labels)] = rng.random((len(labels), dim))
    ytr[t, np.arange(len(labels)), labels] = 1.
  yte = np.tile(np.repeat(np.eye(way), query, axis=0), (len(tasks), 1, 1))
  return {'xtr': xtr, 'ytr': ytr, 'xte': rng.random((len(tasks), way * query, dim)), 'yte': yte,
          'n_rows': np.float64(n_rows)}


def forward_and_gradients(cfg, episode, values):
  """Outputs of metabatch_forward and the outer loss's gradient for every variable."""
  episode = {k: tf.constant(np.asarray(v, np.float64)) for k, v in episode.items()}
  with tf.GradientTape() as tape:
    tape.watch(values)
    out = metabatch_forward(values, episode, cfg, sample=True, seed=tf.constant([3, 4]))
    loss = outer_loss(out)
  grads = tape.gradient(loss, values)
  return out, loss, grads


def assert_same_gradients(grads, ref_grads, rtol):
  """Every variable's gradient within rtol of the reference's (relative to its
  largest entry), None where it is None, and at least half of them nonzero."""
  compared = 0
  for name, ref in ref_grads.items():
    if ref is None:
      assert grads[name] is None, name
      continue
    ref = ref.numpy()
    scale = np.abs(ref).max()
    np.testing.assert_allclose(grads[name], ref, rtol=rtol, atol=rtol * scale, err_msg=name)
    compared += scale > 0
  assert compared >= len(ref_grads) // 2, 'too few nonzero gradients to compare: %d' % compared


@pytest.mark.parametrize('side', [32, 84])
@pytest.mark.parametrize('bn_grad', ['fused', 'exact'])
@pytest.mark.parametrize('bn_counts_padding', [True, False])
def test_weighted_padding_equals_the_padded_pass(side, bn_grad, bn_counts_padding):
  fields = dict(way=5, max_shot=10, query=2, n_steps=2, image_size=side, bn_grad=bn_grad,
                bn_counts_padding=bn_counts_padding, method='taml')
  padded_cfg = TamlConfig(weighted_padding=False, **fields)
  weighted_cfg = TamlConfig(weighted_padding=True, **fields)
  params = TamlParameters(padded_cfg)
  rng = np.random.default_rng(1)
  # float64 copies, nonzero biases and offsets so every parameter matters
  values = {n: tf.constant(v.numpy().astype(np.float64) + 0.05 * rng.standard_normal(v.shape))
            for n, v in params.by_name.items()}
  episode = unequal_metabatch(side)
  ref_out, ref_loss, ref_grads = forward_and_gradients(padded_cfg, episode, values)
  out, loss, grads = forward_and_gradients(weighted_cfg, episode, values)

  np.testing.assert_allclose(loss, ref_loss, rtol=1e-11)
  for key in ('cent', 'acc', 'kl', 'pred'):
    np.testing.assert_allclose(getattr(out, key), getattr(ref_out, key), rtol=1e-10, atol=1e-13,
                               err_msg=key)
  assert_same_gradients(grads, ref_grads, rtol=1e-9)


def test_weighted_support_rows_and_weights():
  """Labelled rows, then one padding row weighted by the counted padding rows
  (none for the longest task, which has no padding)."""
  episode = unequal_metabatch(32)
  n_rows = int(episode['n_rows'])
  for t, shots in enumerate(SHOTS[32]):
    xtr, ytr = (tf.constant(episode[k][t], tf.float64) for k in ('xtr', 'ytr'))
    x, y, weights = weighted_support(xtr, ytr, tf.constant(n_rows, tf.float64))
    k = sum(shots)
    rows = min(k + 1, n_rows)
    assert x.shape[0] == rows and y.shape[0] == rows
    np.testing.assert_array_equal(x[:k], episode['xtr'][t][:k])
    assert not np.any(x[k:]) and not np.any(y[k:])
    np.testing.assert_array_equal(weights, [1.] * k + [n_rows - k] * (rows - k))
    x, y, weights = weighted_support(xtr, ytr, None)
    assert x.shape[0] == k and weights is None
  assert max(sum(shots) for shots in SHOTS[32]) == n_rows   # the longest task was among them
