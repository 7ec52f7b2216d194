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
                    z_on=on('z'), image_size=side, bn_grad='exact')   # grad/ keys: the true gradient


def episode(d, dtype='float32'):
  ep = {k: tf.constant(d[k].astype(dtype)) for k in ('xtr', 'ytr', 'xte', 'yte')}
  ep['n_rows'] = tf.constant(float(d['xtr'].shape[1]), dtype)
  return ep


class DecisionTaps:
  """Records, while tracing, the full-size batch-norm outputs of every learner
  block: the values whose 2x2 windows the ReLU and the max-pool decide on.

  Float32 rounding can push a pre-activation that is ~1e-7 from zero to the
  other side of the ReLU, or swap the two largest values of a pool window,
  which re-routes the second-order outer gradient far beyond float noise
  (measured: 2e-4 relative on fixture (a) on an AVX-512 CPU whose summation
  order differs from the recording machine's; a window whose two largest
  values are 7e-7 apart in fixture (c)).  The taps let a test tell such a
  discrete decision from a bug.  Instrumentation only: the learner computes
  the pool first (`learner.bn_relu_pool`); the taps recompute the
  full-size values from its inputs by the original's formula.
  """

  def __init__(self, monkeypatch_target):
    self.target = monkeypatch_target
    self.tensors = []

  def __enter__(self):
    self.original = self.target.bn_relu_pool

    def tapped(x, bias, beta, row_mask=None, rows=None):
      _, centred, var, _ = self.target.batch_norm_statistics(x + bias, row_mask)
      self.tensors.append(centred * tf.math.rsqrt(var + self.target.BN_EPSILON) + beta)
      return self.original(x, bias, beta, row_mask, rows)

    self.target.bn_relu_pool = tapped
    return self

  def __exit__(self, *exc):
    self.target.bn_relu_pool = self.original


@functools.lru_cache(maxsize=None)
def replay(stem, dtype='float32'):
  """Load a fixture, run the port once in `dtype`: outputs, gradients, one Adam step,
  and the full-size batch-norm outputs of every learner block (for `decision_report`)."""
  from models.taml import learner
  d = golden.load(stem, COMPANIONS)
  cfg = fixture_config(d)
  params = TamlParameters(cfg)
  assert set(params.by_name) <= set(d), 'port variables missing from fixture: %s' % (
      set(params.by_name) - set(d))
  names = list(params.by_name)
  if dtype == 'float32':
    variables = params.by_name
  else:   # the same code on float64 copies: no float32 decision can flip
    variables = {n: tf.Variable(d[n].astype(dtype), name=n.replace('/', '.')) for n in names}
  for n in names:
    variables[n].assign(d[n].astype(dtype))

  @tf.function   # the compiled path, as meta_train runs it
  def forward_and_gradients(ep):
    with DecisionTaps(learner) as taps:
      with tf.GradientTape() as tape:
        out = metabatch_forward({n: variables[n].read_value() for n in names}, ep, cfg,
                                sample=False)
        loss = outer_loss(out)
    return out, loss, tape.gradient(loss, [variables[n] for n in names]), taps.tensors

  out, loss, grads, taps = forward_and_gradients(episode(d, dtype))
  grads = dict(zip(names, grads))
  optimizer = steps.make_optimizer(FIXTURE_FLAGS['meta_lr'])
  optimizer.apply_gradients(
      [(tf.clip_by_value(g, -steps.GRAD_CLIP, steps.GRAD_CLIP), variables[n])
       for n, g in grads.items() if g is not None])
  after = {n: v.numpy() for n, v in variables.items()}
  return d, cfg, out, loss, grads, after, [t.numpy() for t in taps]


def pool_windows(values):
  """`[N, H, W, C]` -> its 2x2 VALID max-pool windows `[N, H/2, W/2, C, 4]`."""
  n, h, w, c = values.shape
  h, w = h // 2 * 2, w // 2 * 2
  windows = values[:, :h, :w].reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
  return windows.reshape(n, h // 2, w // 2, c, 4)


# Two float32 evaluation orders of the same math differ by up to ~5e-6 of a
# block's largest value after the inner steps (measured between this port and
# the original's op order); a decision closer than this can go either way.
FLOAT32_REACH = 1e-5


def decision_report(stem):
  """(flips, fragile) over every block's pool windows: decisions (ReLU of the
  window maximum, which element is the maximum) that differ between the float32
  and float64 replays, and decisions within float32 reach of changing in
  float64 (the maximum near 0, or the two largest values nearly but not exactly tied)."""
  t32, t64 = replay(stem, 'float32')[-1], replay(stem, 'float64')[-1]
  flips = fragile = 0
  for a, b in zip(t32, t64):
    w32, w64 = pool_windows(a), pool_windows(b)
    top32, top64 = w32.max(-1), w64.max(-1)
    alive = top64 > 0
    flips += int(np.sum((top32 > 0) != alive))
    flips += int(np.sum(alive & (w32.argmax(-1) != w64.argmax(-1))))
    reach = FLOAT32_REACH * np.abs(b).max()
    gap = top64 - np.sort(w64, axis=-1)[..., -2]   # 0: an exact tie, decided alike everywhere
    fragile += int(np.sum((np.abs(top64) <= reach) | (alive & (gap > 0) & (gap <= reach))))
  return flips, fragile


# A flipped ReLU decision re-routes the gradient through one unit and moves a
# minority of the gradient elements; a wrong formula moves most of them.
# Measured on an AVX-512 Xeon: flips leave <= 1.5e-4 of the elements beyond the
# tolerance in the better of the two precisions (<= 3.9e-2 in the worse),
# tf.nn.moments batch norm (wrong second derivatives) 0.23..0.996.
MAX_FLIPPED_FRACTION = 0.05


def mismatch_fraction(result):
  """Fraction of gradient elements (structurally-zero keys aside) beyond the
  README tolerance of their key."""
  d, _, _, _, grads, _, _ = result
  bad = total = 0
  for key in (k[len('grad/'):] for k in d if k.startswith('grad/')):
    if key in STRUCTURALLY_ZERO:
      continue
    want = d['grad/' + key]
    err = np.abs(np.asarray(grads[key], np.float64) - want)
    bad += int(np.sum(err > golden.RTOL * np.abs(want).max()))
    total += want.size
  return bad / total


def check_either_precision(stem, check):
  """`check(replay_result)` must hold for the float32 or the float64 replay.

  The outer gradient is second order through ReLUs and max-pools: a
  pre-activation within float32 rounding of zero can land on either side,
  which moves some gradient keys by up to ~1e-2 relative.  Each golden is one
  float32 run on the recording machine, so its decisions match those of either
  our float32 run (same summation order) or the exact math (our float64 run of
  the very same code), or neither: which depends on the CPU's summation order
  (AVX2 vs AVX-512) and even on graph rewrites.  On an AVX2 machine every
  fixture matched in float32 with the original's op order; on an AVX-512 Xeon,
  (a) matched only in float64, (b) in both, (c) or (d) in neither.  Computing
  the pool before the normalisation (`learner.bn_relu_pool`) rounds
  differently again: fixture (c) has a pool window whose two largest values
  are 7e-7 apart after the inner steps.  When neither precision matches, the
  test fails unless (1) some ReLU or max-pool decision differs between float32
  and float64 or lies within float32 reach of changing (FLOAT32_REACH), the
  documented source of such a difference, and (2) in the better precision at
  most MAX_FLIPPED_FRACTION of the gradient elements are off, as a flipped
  decision leaves it; then it is reported as an expected failure with the numbers.
  """
  errors = []
  for dtype in ('float32', 'float64'):
    try:
      check(replay(stem, dtype))
      return
    except AssertionError as err:
      errors.append('%s: %s' % (dtype, str(err).splitlines()[0]))
  flips, fragile = decision_report(stem)
  fraction = min(mismatch_fraction(replay(stem, dtype)) for dtype in ('float32', 'float64'))
  explained = flips + fragile > 0 and fraction <= MAX_FLIPPED_FRACTION
  message = ('float32 and float64 differ on %d ReLU/max-pool decision(s), %d more are within '
             'float32 reach; %.2g of the gradient elements are off in the better precision; '
             "neither matches the recording machine's: %s"
             % (flips, fragile, fraction, '; '.join(errors)))
  if not explained:
    raise AssertionError(message)
  pytest.xfail(message)


@pytest.mark.parametrize('stem', STEMS)
def test_forward_outputs(stem):
  d, _, out, loss, _, _, _ = replay(stem)
  for key in ('cent', 'acc', 'kl', 'pred'):
    golden.assert_close(getattr(out, key), d[key], key)
  golden.assert_close(np.mean(out.cent), d['cent_mean'], 'cent_mean')
  golden.assert_close(np.mean(out.kl), d['kl_mean'], 'kl_mean')
  golden.assert_close(loss, d['outer_loss'], 'outer_loss')


@pytest.mark.parametrize('stem', STEMS)
def test_balancing_posteriors(stem):
  d, cfg, _, _, _, _, _ = replay(stem)
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
  check_either_precision(stem, check_gradients)


def check_gradients(result):
  d, _, _, _, grads, _, _ = result
  golden_keys = {k[len('grad/'):] for k in d if k.startswith('grad/')}
  # No gradient path (None) is the exact form of a structurally zero gradient.
  grads = {n: np.zeros_like(d['grad/' + n])
           if g is None and n in STRUCTURALLY_ZERO and 'grad/' + n in d else g
           for n, g in grads.items()}
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
  d, cfg, _, _, _, _, _ = replay(stem)
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
  check_either_precision(stem, check_after_step)


def check_after_step(result):
  d, _, _, _, _, after, _ = result
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
