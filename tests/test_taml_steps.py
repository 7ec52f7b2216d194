"""The compiled steps trace once and the pieces behave as the paper says."""
import numpy as np
import pytest
import tensorflow as tf

from data.episodes import EpisodeSampler
from training import taml_steps as steps
from models.taml.balancing import modulate_initialisation
from models.taml.config import TamlConfig
from models.taml.inference_network import statistics_pooling
from models.taml.inner_loop import per_class_loss
from models.taml import learner
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


def test_batch_norm_statistics_use_the_batch_and_the_mask():
  x = tf.random.stateless_normal([6, 4, 4, 3], [1, 2]) * 3. + 1.
  mean, centred, var, count = learner.batch_norm_statistics(x)
  np.testing.assert_allclose(mean, tf.reduce_mean(x, [0, 1, 2]), rtol=1e-6)
  np.testing.assert_allclose(var, tf.math.reduce_variance(x, [0, 1, 2]), rtol=1e-5)
  np.testing.assert_allclose(centred, x - mean, rtol=1e-6)
  assert float(count) == 6 * 4 * 4
  masked = learner.batch_norm_statistics(x, tf.constant([1., 1., 1., 1., 0., 0.]))
  first_rows = learner.batch_norm_statistics(x[:4])
  for i, name in ((0, 'mean'), (2, 'variance'), (3, 'count')):
    np.testing.assert_allclose(masked[i], first_rows[i], rtol=1e-5, err_msg=name)


def original_conv_block(x, w, b, beta, row_mask=None):
  """The original's block op for op: conv + bias, batch norm by its formula, ReLU, max-pool."""
  h = tf.nn.conv2d(x, w, 1, 'SAME') + b
  mask = tf.ones([tf.shape(h)[0]], h.dtype) if row_mask is None else row_mask
  mask = tf.reshape(mask, [-1, 1, 1, 1])
  count = tf.reduce_sum(mask) * tf.cast(tf.shape(h)[1] * tf.shape(h)[2], h.dtype)
  mean = tf.reduce_sum(h * mask, axis=[0, 1, 2]) / count
  var = tf.reduce_sum(tf.square(h - mean) * mask, axis=[0, 1, 2]) / count
  normalised = (h - mean) * tf.math.rsqrt(var + learner.BN_EPSILON) + beta
  return tf.nn.max_pool2d(tf.nn.relu(normalised), 2, 2, 'VALID')


@pytest.mark.parametrize('masked', [False, True])
def test_conv_block_is_the_original_block_to_second_order(masked):
  """Pool-first batch norm and ReLU with both derivatives written out == the
  original's normalise-ReLU-pool recorded op by op: values, inner gradients and
  the outer (second-order) gradients through an inner step, for the kernel and
  the batch-norm offset, in float64 so that no ReLU decision can differ; the
  conv bias has no gradient path (None; round-off in the original)."""
  rng = np.random.default_rng(7)
  const = lambda *shape: tf.constant(rng.normal(size=shape), tf.float64)
  x, beta, v1, v2 = const(10, 10, 10, 3), const(4), const(10, 5, 5, 4), const(10, 2, 2, 4)
  w1, b1, w2 = const(3, 3, 3, 4), const(4), const(3, 3, 4, 4)
  row_mask = tf.constant([1.] * 7 + [0.] * 3, tf.float64) if masked else None

  def run(block):
    def loss(w1, b1, beta):   # two blocks (the second on odd 5x5: VALID drops a row)
      h = block(x, w1, b1, beta, row_mask)
      return tf.reduce_sum(block(h, w2, b1, beta, row_mask) * v2) + tf.reduce_sum(h * v1)
    watched = [w1, b1, beta]
    with tf.GradientTape() as outer:
      outer.watch(watched)
      with tf.GradientTape() as inner:
        inner.watch(watched)
        value = loss(*watched)
      g_w, g_b, g_beta = inner.gradient(value, watched)
      adapted = (loss(w1 - 0.1 * g_w, b1 if g_b is None else b1 - 0.1 * g_b,
                      beta - 0.1 * g_beta)
                 + tf.reduce_sum(tf.square(g_w)) + tf.reduce_sum(tf.square(g_beta)))
    return [value, g_w, g_beta, adapted] + outer.gradient(adapted, watched) + [g_b]

  ours, original = tf.function(lambda: run(learner.conv_block))(), run(original_conv_block)
  names = ['loss', 'inner grad w', 'inner grad beta', 'adapted loss', 'outer grad w',
           'outer grad b', 'outer grad beta', 'inner grad b']
  for i in (0, 1, 2, 3, 4, 6):
    np.testing.assert_allclose(ours[i], original[i], rtol=1e-10,
                               atol=1e-10 * np.abs(original[i]).max(), err_msg=names[i])
  assert ours[5] is None and ours[7] is None
  scale = np.abs(original[4]).max()   # the original's bias gradients: round-off only
  assert np.abs(original[5]).max() < 1e-10 * scale and np.abs(original[7]).max() < 1e-10 * scale


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
