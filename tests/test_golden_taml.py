"""The TAML port reproduces the numbers recorded from the original l2b graph.

For every `taml_*` fixture set in $GOLDENS_DIR: per-task cent/acc/kl/pred,
outer loss, posteriors of the balancing variables, every gradient, and the
variables after one clipped Adam step.  Shapes and values come from the
files; only the episode geometry the README documents (max_shot 6, n_steps 2,
inner_lr 0.5) is a constant here, since the files do not record it.
"""
import functools

import numpy as np
import pytest
import tensorflow as tf

from models.taml import steps
from models.taml.config import TamlConfig
from models.taml.objective import metabatch_forward, outer_loss
from models.taml.parameters import TamlParameters, split_groups
from models.taml import inference_network
from tests import golden

COMPANIONS = ('_grads', '_after_step', '_grads_tf1fused')
STEMS = golden.stems('taml_', COMPANIONS)
# Geometry of the recorded episodes (goldens/README.md, "Common").
FIXTURE_FLAGS = dict(max_shot=6, n_steps=2, inner_lr=0.5, meta_lr=1e-3)
# conv biases feed batch norm: their true gradient is exactly 0 (README).
STRUCTURALLY_ZERO = tuple('%s/conv%d_b' % (g, l) for g in ('theta', 'alpha') for l in range(1, 5))
# The z-bias half (last axis, second half) of these only keeps its KL
# gradient plus the same round-off (README, "Structurally zero gradients").
Z_BIAS_HALF = ('encoder/mu_z/kernel', 'encoder/mu_z/bias')

pytestmark = pytest.mark.skipif(not STEMS, reason='no taml_* fixtures in $GOLDENS_DIR')


def fixture_config(d):
  dim, way = d['xtr'].shape[2], d['ytr'].shape[2]
  side = int(round(np.sqrt(dim / 3)))
  on = lambda head: 'grad/encoder/mu_%s/kernel' % head in d
  return TamlConfig(way=way, query=d['yte'].shape[1] // way, max_shot=FIXTURE_FLAGS['max_shot'],
                    n_steps=FIXTURE_FLAGS['n_steps'], inner_lr=FIXTURE_FLAGS['inner_lr'],
                    alpha_on='alpha/conv1_w' in d, omega_on=on('omega'), gamma_on=on('gamma'),
                    z_on=on('z'), image_size=side)


def episode(d):
  ep = {k: tf.constant(d[k]) for k in ('xtr', 'ytr', 'xte', 'yte')}
  ep['n_rows'] = tf.constant(float(d['xtr'].shape[1]))
  return ep


@functools.lru_cache(maxsize=None)
def replay(stem):
  """Load a fixture, run the port once: outputs, gradients, one Adam step."""
  d = golden.load(stem, COMPANIONS)
  cfg = fixture_config(d)
  params = TamlParameters(cfg)
  assert set(params.by_name) <= set(d), 'port variables missing from fixture: %s' % (
      set(params.by_name) - set(d))
  params.assign({k: d[k] for k in params.by_name})
  names = list(params.by_name)

  @tf.function   # the compiled path, as meta_train runs it
  def forward_and_gradients(ep):
    with tf.GradientTape() as tape:
      out = metabatch_forward(params.values(), ep, cfg, sample=False)
      loss = outer_loss(out)
    return out, loss, tape.gradient(loss, [params.by_name[n] for n in names])

  out, loss, grads = forward_and_gradients(episode(d))
  grads = dict(zip(names, grads))
  optimizer = steps.make_optimizer(FIXTURE_FLAGS['meta_lr'])
  optimizer.apply_gradients(
      [(tf.clip_by_value(g, -steps.GRAD_CLIP, steps.GRAD_CLIP), params.by_name[n])
       for n, g in grads.items() if g is not None])
  after = {n: v.numpy() for n, v in params.by_name.items()}
  return d, cfg, out, loss, grads, after


@pytest.mark.parametrize('stem', STEMS)
def test_forward_outputs(stem):
  d, _, out, loss, _, _ = replay(stem)
  for key in ('cent', 'acc', 'kl', 'pred'):
    golden.assert_close(getattr(out, key), d[key], key)
  golden.assert_close(np.mean(out.cent), d['cent_mean'], 'cent_mean')
  golden.assert_close(np.mean(out.kl), d['kl_mean'], 'kl_mean')
  golden.assert_close(loss, d['outer_loss'], 'outer_loss')


@pytest.mark.parametrize('stem', STEMS)
def test_balancing_posteriors(stem):
  d, cfg, _, _, _, _ = replay(stem)
  if not any(k.startswith('post/') for k in d):
    pytest.skip('%s records no posteriors (no balancing variables)' % stem)
  values = {k: tf.constant(d[k]) for k in TamlParameters(cfg).by_name}
  raw = inference_network.posterior_params(
      split_groups(values)[3], tf.constant(d['xtr']), tf.constant(d['ytr']),
      cfg.image_shape, cfg.max_shot, cfg.multi_dataset)
  for name, (mu, pre_sigma) in raw.items():
    golden.assert_close(mu, d['post/%s_mean' % name], name + '_mean')
    golden.assert_close(tf.nn.softplus(pre_sigma), d['post/%s_std' % name], name + '_std')
  golden.assert_close(tf.nn.softmax(raw['omega'][0]), d['balancing/softmax_omega'], 'softmax_omega')
  golden.assert_close(tf.exp(raw['gamma'][0]), d['balancing/exp_gamma'], 'exp_gamma')


@pytest.mark.parametrize('stem', STEMS)
def test_gradients(stem):
  d, _, _, _, grads, _ = replay(stem)
  golden_keys = {k[len('grad/'):] for k in d if k.startswith('grad/')}
  ported_keys = {n for n, g in grads.items() if g is not None}
  assert ported_keys == golden_keys, 'gradient sets differ: port-only %s, golden-only %s' % (
      ported_keys - golden_keys, golden_keys - ported_keys)
  floor = max(np.abs(d['grad/' + k]).max() for k in golden_keys)
  for name in sorted(golden_keys):
    port, want = np.asarray(grads[name]), d['grad/' + name]
    if name in Z_BIAS_HALF:
      half = want.shape[-1] // 2
      golden.assert_close(port[..., :half], want[..., :half], name + ' (z_w half)')
      golden.assert_close(port[..., half:], want[..., half:], name + ' (z_b half)', floor)
      continue
    golden.assert_close(port, want, 'grad/' + name, floor if name in STRUCTURALLY_ZERO else 0.)


@pytest.mark.parametrize('stem', STEMS)
def test_adam_step_on_golden_gradients(stem):
  """Our optimizer, fed the original's gradients, lands on the original's variables."""
  d, cfg, _, _, _, _ = replay(stem)
  params = TamlParameters(cfg)
  params.assign({k: d[k] for k in params.by_name})
  optimizer = steps.make_optimizer(FIXTURE_FLAGS['meta_lr'])
  optimizer.apply_gradients(
      [(tf.clip_by_value(d['grad/' + n], -steps.GRAD_CLIP, steps.GRAD_CLIP), v)
       for n, v in params.by_name.items() if 'grad/' + n in d])
  for name, var in params.by_name.items():
    golden.assert_close(var.numpy(), d['after_step/' + name], 'after_step/' + name)


@pytest.mark.parametrize('stem', STEMS)
def test_variables_after_one_step(stem):
  """Our own gradients + Adam: equal to the original's step except where the
  gradient is float32 round-off, where Adam's sign is arbitrary (+-lr, README)."""
  d, _, _, _, _, after = replay(stem)
  lr = FIXTURE_FLAGS['meta_lr']
  for name, value in after.items():
    want = d['after_step/' + name]
    grad = d.get('grad/' + name)
    if grad is None:
      np.testing.assert_array_equal(value, want, err_msg=name + ' has no gradient: unchanged')
      continue
    noise = (np.abs(grad) <= golden.RTOL * np.abs(grad).max()) | np.isin(name, STRUCTURALLY_ZERO)
    bound = golden.RTOL * np.abs(want).max()
    err = np.abs(value - want)
    assert err[~noise].max(initial=0.) <= bound, name
    assert err[noise].max(initial=0.) <= 2.5 * lr, name
