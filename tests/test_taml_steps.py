"""The compiled steps trace once and the pieces behave as the paper says."""
import numpy as np
import tensorflow as tf

from data.episodes import EpisodeSampler
from models.taml import steps
from models.taml.balancing import modulate_initialisation
from models.taml.config import TamlConfig
from models.taml.inference_network import statistics_pooling
from models.taml.inner_loop import per_class_loss
from models.taml.learner import batch_norm
from models.taml.parameters import TamlParameters

CFG = TamlConfig(way=3, max_shot=4, query=2, n_steps=2, alpha_on=True, omega_on=True,
                 gamma_on=True, z_on=True, image_size=32)


def sampler(seed=0):
  rng = np.random.default_rng(seed)
  classes = [rng.random((8, 32, 32, 3), dtype=np.float32) for _ in range(5)]
  return EpisodeSampler({'mtr': classes}, 'toy', seed=seed)


def test_train_and_eval_steps_trace_once():
  for fixed in (False, True):
    cfg = TamlConfig(**{**CFG.__dict__, 'fixed_support': fixed})
    params = TamlParameters(cfg)
    train_step = steps.make_train_step(params, steps.make_optimizer(1e-3), cfg, 2)
    eval_step = steps.make_eval_step(params, cfg, 2, n_mc_samples=2)
    s = sampler()
    rows = set()
    for i in range(6):
      ep = s.sample('mtr', 2, cfg.way, cfg.max_shot, cfg.query, pad_to=cfg.max_support)
      rows.add(int(ep['n_rows']))
      ep = {k: tf.constant(v) for k, v in ep.items()}
      out = train_step(ep, tf.constant([0, i]))
      assert np.isfinite(out['loss'].numpy())
      eval_step(ep, tf.constant([1, i]))
    assert len(rows) > 1, 'episodes of one size do not test retracing'
    assert train_step.experimental_get_tracing_count() == 1
    assert eval_step.experimental_get_tracing_count() == 1


def test_fixed_support_gives_the_original_numbers():
  """Padding to way*max_shot with a mask == padding to the metabatch maximum."""
  from models.taml.objective import metabatch_forward
  ep = sampler(3).sample('mtr', 2, CFG.way, CFG.max_shot, CFG.query)
  fixed = TamlConfig(**{**CFG.__dict__, 'fixed_support': True})
  padded = dict(ep)
  extra = fixed.max_support - ep['xtr'].shape[1]
  padded['xtr'] = np.pad(ep['xtr'], [(0, 0), (0, extra), (0, 0)])
  padded['ytr'] = np.pad(ep['ytr'], [(0, 0), (0, extra), (0, 0)])
  values = TamlParameters(CFG, seed=1).values()
  a = metabatch_forward(values, {k: tf.constant(v) for k, v in ep.items()}, CFG, sample=False)
  b = metabatch_forward(values, {k: tf.constant(v) for k, v in padded.items()}, fixed, sample=False)
  for x, y in zip(a, b):
    np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=2e-5, atol=1e-6)


def test_batch_norm_uses_batch_statistics_and_mask():
  x = tf.random.stateless_normal([6, 4, 4, 3], [1, 2]) * 3. + 1.
  y = batch_norm(x, tf.zeros([3]))
  np.testing.assert_allclose(tf.reduce_mean(y, [0, 1, 2]), 0., atol=1e-5)
  np.testing.assert_allclose(tf.math.reduce_variance(y, [0, 1, 2]), 1., rtol=1e-3)
  masked = batch_norm(x, tf.zeros([3]), tf.constant([1., 1., 1., 1., 0., 0.]))
  np.testing.assert_allclose(masked[:4], batch_norm(x[:4], tf.zeros([3])), atol=1e-5)


def test_per_class_loss_ignores_padding_and_scales_by_way_over_n():
  logits = tf.constant([[2., 0.], [0., 1.], [1., 1.], [0., 0.]])
  labels = tf.constant([[1., 0.], [0., 1.], [0., 1.], [0., 0.]])    # last row: padding
  ce = tf.nn.softmax_cross_entropy_with_logits(labels, logits).numpy()
  got = per_class_loss(logits, labels, tf.constant(4.)).numpy()
  np.testing.assert_allclose(got, [ce[0] * 2 / 4, (ce[1] + ce[2]) * 2 / 4], rtol=1e-6)


def test_statistics_pooling_per_class():
  x = tf.constant([[1., 10.], [3., 30.], [5., 50.], [0., 0.]])
  mask = tf.constant([[1., 0.], [1., 0.], [0., 1.], [0., 0.]])     # last row: padding
  s = statistics_pooling(x, mask, tf.constant([0.5, 0.])).numpy()
  np.testing.assert_allclose(s[0], [[2., 1., .5], [20., 100., .5]])
  np.testing.assert_allclose(s[1], [[5., 0., 0.], [50., 0., 0.]])  # one shot: variance 0


def test_z_modulates_kernels_per_output_channel_and_shifts_biases():
  theta = {'conv%d_%s' % (l, p): tf.ones([3, 3, 2, 2] if p == 'w' else [2])
           for l in range(1, 5) for p in 'wb'}
  z = tf.range(16, dtype=tf.float32)
  out = modulate_initialisation(theta, z, n_channel=2)
  np.testing.assert_allclose(out['conv1_w'][0, 0, 0], [1., 2.])      # 1 * (1 + z_w)
  np.testing.assert_allclose(out['conv4_w'][1, 2, 1], [7., 8.])
  np.testing.assert_allclose(out['conv2_b'], [11., 12.])              # 1 + z_b
