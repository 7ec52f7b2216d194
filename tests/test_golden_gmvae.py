"""Golden tests: the port against numbers recorded from the original PyTorch Meta-GMVAE.

Everything (weights, inputs, noise, initial EM indices, shapes) is read from the
fixtures in GOLDENS_DIR; the recorded noise `eps` and `em_init_idx` are replayed
(README "Randomness and how to replay it").  Rule of the README:
max|port - golden| <= 1e-4 * max(max|golden|, floor), floor = the largest gradient
magnitude of the fixture, only for gradients that are structurally zero.
"""
import re

import numpy as np
import pytest
import tensorflow as tf

from models.gmvae import em, gmvae
from models.gmvae.layers import is_buffer, tf_to_torch, torch_to_tf
from models.gmvae.trainer import GMVAETrainer, adam_l2_update
from tests import golden
from tests.conftest import GOLDENS_DIR  # noqa: F401  (the folder golden.load reads)

OMNIGLOT = ('gmvae_omniglot', ('_params_1', '_params_2', '_grads_1', '_grads_2', '_grads_3'))
MIMGNET = ('gmvae_mimgnet', ())
# The fixtures' model configuration (README, "gmvae_omniglot*" / "gmvae_mimgnet.npz").
EM_ITERS = 3
# PyTorch Adam of mimgnet/main.py, the `after_adam_step/` keys.
MIMGNET_LR, MIMGNET_WD = 1e-4, 5e-2


def _load(which):
  return golden.load(*which)


# Constant buffers of the original module; the port uses them as constants (checked below).
CONSTANT_BUFFERS = ('log_norm_constant', 'uniform_pi')


def _params(d):
  out = {k[len('param/'):]: torch_to_tf(v) for k, v in d.items() if k.startswith('param/')}
  k = d['em_pi'].shape[-1]
  golden.assert_close(em.LOG_NORM_CONSTANT, out.pop('log_norm_constant'), 'log_norm_constant')
  golden.assert_close(np.full(k, 1. / k), out.pop('uniform_pi'), 'uniform_pi')
  return out


def _config(d, params):
  images = 'encoder.encoder.0.weight' in params
  return gmvae.GMVAEConfig(
      dataset='omniglot' if images else 'mimgnet',
      component_size=d['em_pi'].shape[-1], latent_size=d['q_mean'].shape[-1],
      hidden_size=params['encoder.encoder.0.weight'].shape[-1] if images else 64,
      feature_size=0 if images else d['H_in'].shape[-1],
      unsupervised_em_iters=EM_ITERS, semisupervised_em_iters=EM_ITERS,
      train_mc_sample_size=d['eps'].shape[1], test_mc_sample_size=d['eps'].shape[1])


def _trainer(d):
  params = _params(d)
  cfg = _config(d, params)
  x = d['X_nhwc'] if cfg.images else d['H_in']
  tr = GMVAETrainer(cfg, x.shape[0], x.shape[1], MIMGNET_LR, MIMGNET_WD)
  assert set(tr.names) == set(params), 'parameter names differ from the fixture'
  tr.load_numpy(params)
  return tr, cfg, tf.constant(x)


def _forward(d):
  tr, cfg, x = _trainer(d)
  out, grads, stats = tr.loss_and_grads(
      x, tf.constant(d['eps']), tf.constant(d['em_init_idx'].astype(np.int32)))
  return tr, cfg, out, grads, stats


def _structurally_zero(name, params):
  """fc_k biases cancel in the softmax; conv biases right before a train-mode BN cancel."""
  if name.endswith('fc_k.bias'):
    return True
  m = re.match(r'(.*)\.(\d+)\.bias$', name)
  return bool(m) and '%s.%d.running_mean' % (m.group(1), int(m.group(2)) + 1) in params


@pytest.fixture(scope='module', params=[OMNIGLOT, MIMGNET], ids=['omniglot', 'mimgnet'])
def case(request):
  d = _load(request.param)
  return d, _forward(d)


def test_forward(case):
  d, (_, cfg, out, _, _) = case
  keys = ['q_mean', 'q_logvar', 'z', 'em_pi', 'em_mean', 'rec_loss', 'kl_loss', 'loss']
  for key in keys:
    golden.assert_close(out[key], d[key], key)
  if cfg.images:
    golden.assert_close(out['H'], d['H'], 'H')
    rec = np.moveaxis(out['rec'].numpy(), -1, 3)          # NHWC -> NCHW
    golden.assert_close(rec, d['X_rec_nchw'], 'X_rec_nchw')
  else:
    golden.assert_close(out['rec'], d['H_rec'], 'H_rec')


def test_gradients(case):
  d, (tr, _, _, grads, _) = case
  golden_keys = {k[len('grad/'):] for k in d if k.startswith('grad/')}
  assert golden_keys == set(tr.trainable_names)
  params = tr.params
  floor = max(np.abs(d['grad/' + n]).max() for n in golden_keys)
  for name in sorted(golden_keys):
    zero = _structurally_zero(name, params)
    golden.assert_close(tf_to_torch(grads[name].numpy()), d['grad/' + name], 'grad/' + name,
                        floor=floor if zero else 0.)


def test_batch_norm_running_update():
  d = _load(OMNIGLOT)
  tr, _, out, _, stats = _forward(d)
  from models.gmvae.layers import bn_running_update
  bn_running_update(tr.params, stats)
  keys = [k for k in d if k.startswith('bn_after_train_forward/')]
  assert keys and {k.rsplit('.', 1)[0] for k in keys} == {
      'bn_after_train_forward/' + n for n in stats}
  for key in keys:
    golden.assert_close(tr.params[key[len('bn_after_train_forward/'):]].numpy(), d[key], key)


def _shots(d):
  return sorted({k.split('/')[0] for k in d if k.startswith('pred_')})


@pytest.mark.parametrize('which', [OMNIGLOT, MIMGNET], ids=['omniglot', 'mimgnet'])
def test_predictions(which):
  d = _load(which)
  params = _params(d)
  cfg = _config(d, params)
  assert _shots(d)
  for pre in _shots(d):
    suffix = '_nhwc' if cfg.images else ''
    name = 'X' if cfg.images else 'H'
    x_tr, x_te = d['%s/%s_tr%s' % (pre, name, suffix)], d['%s/%s_te%s' % (pre, name, suffix)]
    out = gmvae.predict({k: tf.constant(v) for k, v in params.items()}, cfg,
                        tf.constant(x_tr), tf.constant(d[pre + '/y_tr'].astype(np.int32)),
                        tf.constant(x_te), tf.constant(d[pre + '/eps']))
    keys = ['z', 'psi_pi', 'psi_mean', 'psi_logvar', 'query_class_prob']
    if cfg.images:
      keys.append('H')
    for key in keys:
      golden.assert_close(out[key], d[pre + '/' + key], pre + '/' + key)
    np.testing.assert_array_equal(out['y_te_pred'].numpy(), d[pre + '/y_te_pred'],
                                  err_msg=pre + '/y_te_pred')


def test_mimgnet_after_adam_step():
  d = _load(MIMGNET)
  tr, _, out, grads, _ = _forward(d)
  m = {n: tf.Variable(tf.zeros_like(v)) for n, v in grads.items()}
  v = {n: tf.Variable(tf.zeros_like(g)) for n, g in grads.items()}
  adam_l2_update(tr.params, grads, m, v, 1, MIMGNET_LR, MIMGNET_WD)
  keys = [k for k in d if k.startswith('after_adam_step/')]
  assert {k.split('/', 1)[1] for k in keys} == set(tr.trainable_names)
  for key in keys:
    golden.assert_close(tf_to_torch(tr.params[key.split('/', 1)[1]].numpy()), d[key], key)


def test_rule_catches_a_changed_value():
  """The comparison fails when a golden value moves by more than the tolerance."""
  d = _load(OMNIGLOT)
  _, _, out, _, _ = _forward(d)
  changed = np.array(d['loss'], np.float64) * (1 + 1e-3)
  with pytest.raises(AssertionError):
    golden.assert_close(out['loss'], changed, 'loss')
  mean = d['em_mean'].copy()
  mean.flat[0] += 1e-3 * np.abs(mean).max()
  with pytest.raises(AssertionError):
    golden.assert_close(out['em_mean'], mean, 'em_mean')
  assert not any(is_buffer(n) for n in d if n.startswith('grad/'))
