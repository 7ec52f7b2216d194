"""Unit tests of the Meta-GMVAE pieces on small random inputs (no fixtures, no data)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from data.gmvae import episodes
from models.gmvae import em, simclr
from models.gmvae.layers import torch_to_tf
from models.gmvae.set_transformer import init_sab, sab
from training.gmvae_steps import adam_l2_update


def test_unit_log_likelihoods_match_the_broadcast_formula():
  rng = np.random.RandomState(0)
  x = rng.randn(2, 7, 5).astype(np.float32) * 3 + 10
  mean = rng.randn(2, 3, 5).astype(np.float32) + 10
  ref = em.gaussian_log_prob(x[:, :, None], mean[:, None])
  np.testing.assert_allclose(em.unit_log_likelihoods(x, mean), ref, rtol=1e-5, atol=1e-4)


def test_unsupervised_em_fix_pi_and_normalisation():
  rng = np.random.RandomState(1)
  z = tf.constant(rng.randn(3, 40, 4).astype(np.float32))
  init = z[:, :5]
  pi, mean = em.unsupervised_em(z, init, 4, fix_pi=True)
  np.testing.assert_allclose(pi, np.full((3, 5), 0.2), rtol=1e-6)
  pi, mean = em.unsupervised_em(z, init, 4, fix_pi=False)
  np.testing.assert_allclose(tf.reduce_sum(pi, -1), np.ones(3), rtol=1e-5)
  assert mean.shape == (3, 5, 4)


def test_semi_supervised_em_recovers_separated_classes():
  rng = np.random.RandomState(2)
  centres = rng.randn(4, 6).astype(np.float32) * 20
  sup = np.repeat(centres, 2, axis=0) + rng.randn(8, 6).astype(np.float32)
  y = np.eye(4, dtype=np.float32)[np.repeat(np.arange(4), 2)]
  unsup = np.repeat(centres, 5, axis=0) + rng.randn(20, 6).astype(np.float32)
  pi, mean, logvar = em.semi_supervised_em(unsup[None], sup[None], y[None], 5)
  np.testing.assert_allclose(pi, np.full((1, 4), 0.25), rtol=1e-6)
  assert np.abs(mean[0] - centres).max() < 1.5
  prob = em.class_posteriors(tf.constant(unsup[None, :, None]), pi, mean, logvar)
  np.testing.assert_array_equal(np.argmax(prob[0], -1), np.repeat(np.arange(4), 5))


def test_sab_matches_a_per_head_loop():
  """4 heads on contiguous feature chunks, scaled by sqrt(full width), residual on the
  projected query, O + relu(fc_o(O)), no layer norm."""
  rng = np.random.RandomState(3)
  params = {}
  init_sab(rng, params, 's', 8, 8)
  x = rng.randn(2, 5, 8).astype(np.float32)
  out = sab({k: tf.constant(v) for k, v in params.items()}, 's', tf.constant(x)).numpy()
  lin = lambda n, v: v @ params['s.mab.%s.weight' % n] + params['s.mab.%s.bias' % n]
  q, k, v = lin('fc_q', x), lin('fc_k', x), lin('fc_v', x)
  heads = []
  for h in range(4):
    sl = slice(2 * h, 2 * h + 2)
    logits = q[..., sl] @ np.swapaxes(k[..., sl], 1, 2) / math.sqrt(8)
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    heads.append(q[..., sl] + a @ v[..., sl])
  o = np.concatenate(heads, -1)
  ref = o + np.maximum(lin('fc_o', o), 0)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_nt_xent_matches_the_original_formula():
  rng = np.random.RandomState(4)
  n = 6
  zi, zj = rng.randn(n, 5).astype(np.float32), rng.randn(n, 5).astype(np.float32)
  reps = np.concatenate([zj, zi])
  reps /= np.linalg.norm(reps, axis=1, keepdims=True)
  sim = reps @ reps.T
  total = 0.
  for i in range(2 * n):
    pos = sim[i, (i + n) % (2 * n)]
    neg = [sim[i, j] for j in range(2 * n) if j != i and j != (i + n) % (2 * n)]
    logits = np.array([pos] + neg) / 0.5
    total += -logits[0] + np.log(np.exp(logits).sum())
  np.testing.assert_allclose(simclr.nt_xent(zi, zj).numpy(), total / (2 * n), rtol=1e-5)


def test_adam_with_l2_matches_torch_formula():
  rng = np.random.RandomState(5)
  p0, g = rng.randn(3, 2).astype(np.float32), [rng.randn(3, 2).astype(np.float32)
                                                for _ in range(2)]
  params = {'w': tf.Variable(p0)}
  m, v = {'w': tf.Variable(tf.zeros([3, 2]))}, {'w': tf.Variable(tf.zeros([3, 2]))}
  ref_p, ref_m, ref_v = p0.astype(np.float64), 0., 0.
  for t, grad in enumerate(g, 1):
    adam_l2_update(params, {'w': tf.constant(grad)}, m, v, t, 0.1, 0.5)
    d = grad + 0.5 * ref_p
    ref_m = 0.9 * ref_m + 0.1 * d
    ref_v = 0.999 * ref_v + 0.001 * d * d
    ref_p = ref_p - 0.1 / (1 - 0.9 ** t) * ref_m / (np.sqrt(ref_v) / np.sqrt(1 - 0.999 ** t)
                                                   + 1e-8)
  np.testing.assert_allclose(params['w'].numpy(), ref_p, rtol=1e-5, atol=1e-5)


def test_torch_layouts():
  conv = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
  assert torch_to_tf(conv).shape == (4, 5, 3, 2)
  assert torch_to_tf(np.zeros((7, 3))).shape == (3, 7)


def test_test_episodes_as_the_original():
  classes = np.arange(6 * 20).reshape(6, 20, 1).astype(np.float32)
  x_tr, y_tr, x_te, y_te = episodes.test_episodes(classes, 5, 2, 3, 4,
                                                  np.random.RandomState(0))
  assert x_tr.shape == (4, 10, 1) and x_te.shape == (4, 15, 1)
  np.testing.assert_array_equal(y_tr[0], np.repeat(np.arange(5), 2))
  np.testing.assert_array_equal(y_te[0], np.repeat(np.arange(5), 3))
  for e in range(4):
    cls_tr = x_tr[e, :, 0] // 20
    cls_te = x_te[e, :, 0] // 20
    np.testing.assert_array_equal(cls_tr.reshape(5, 2)[:, 0], cls_te.reshape(5, 3)[:, 0])
    assert len(set(np.concatenate([x_tr[e, :, 0], x_te[e, :, 0]]))) == 25
  again = episodes.test_episodes(classes, 5, 2, 3, 4, np.random.RandomState(0))
  np.testing.assert_array_equal(again[0], x_tr)


def test_geometry_checks():
  from common.errors import UserError
  classes = np.zeros((4, 20, 1), np.float32)
  with pytest.raises(UserError, match='larger than the 4 classes'):
    episodes.check_geometry('x', classes, 5, 1, 15)
  with pytest.raises(UserError, match='images per class'):
    episodes.check_geometry('x', classes, 4, 6, 15)


def test_augment_shapes_and_range():
  rng = np.random.RandomState(6)
  images = rng.randint(0, 256, size=(3, 16, 16, 3)).astype(np.uint8)
  views = simclr.augment(images, simclr.augment_params(rng, 3, 16))
  assert views.shape == (3, 16, 16, 3)
  raw = views.numpy() * np.array(simclr.STD) + np.array(simclr.MEAN)
  assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
