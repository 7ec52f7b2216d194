"""FusedAdam is TF1's Adam (one fused kernel per variable) and shares Keras Adam's checkpoints."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from common.fused_adam import FusedAdam


def run_steps(optimizer, n_steps=4):
  rng = np.random.default_rng(0)
  variables = [tf.Variable(rng.normal(size=s).astype(np.float32)) for s in ((3, 4), (5,))]
  grads = [[tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables]
           for _ in range(n_steps)]

  @tf.function
  def step(gs):
    optimizer.apply_gradients(zip(gs, variables))

  for gs in grads:
    step(gs)
  return variables, optimizer


def tf1_adam_reference(var, grads, lr, beta_1, beta_2, epsilon):
  """TF1 AdamOptimizer's kernel in numpy float32: (1 - beta) rounded in float32, as
  there (Keras Adam rounds it from float64: its steps differ by ~1e-5 relative)."""
  f32 = np.float32
  var, m, v = var.astype(f32), np.zeros_like(var, f32), np.zeros_like(var, f32)
  for t, g in enumerate(grads, start=1):
    m = m + (g - m) * (f32(1) - f32(beta_1))
    v = v + (g * g - v) * (f32(1) - f32(beta_2))
    alpha = f32(lr) * np.sqrt(f32(1) - f32(beta_2) ** t) / (f32(1) - f32(beta_1) ** t)
    var = var - m * alpha / (np.sqrt(v) + f32(epsilon))
  return var


def test_fused_adam_is_tf1_adam():
  settings = dict(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
  fused, fused_opt = run_steps(FusedAdam(**settings))
  start, _ = run_steps(keras.optimizers.SGD(0.), n_steps=1)
  rng = np.random.default_rng(0)   # run_steps' draws, replayed
  [rng.normal(size=s) for s in ((3, 4), (5,))]
  grads = [[rng.normal(size=v.shape).astype(np.float32) for v in start] for _ in range(4)]
  assert int(fused_opt.iterations) == 4
  for i, (f, s) in enumerate(zip(fused, start)):
    want = tf1_adam_reference(s.numpy(), [g[i] for g in grads], **{
        k.replace('learning_rate', 'lr'): v for k, v in settings.items()})
    assert np.abs(want - s.numpy()).min() > 1e-3    # the steps moved every element
    np.testing.assert_allclose(f.numpy(), want, rtol=1e-6, atol=1e-7)


def test_fused_adam_restores_a_keras_adam_checkpoint(tmp_path):
  plain, plain_opt = run_steps(keras.optimizers.Adam(learning_rate=0.1))
  path = tf.train.Checkpoint(optimizer=plain_opt, v=plain).save(str(tmp_path / 'ckpt'))
  fresh = [tf.Variable(tf.zeros_like(v)) for v in plain]
  fused_opt = FusedAdam(learning_rate=0.1)
  fused_opt.build(fresh)
  tf.train.Checkpoint(optimizer=fused_opt, v=fresh).restore(path).assert_consumed()
  assert int(fused_opt.iterations) == 4
  for f, p in zip(fused_opt.variables, plain_opt.variables):
    np.testing.assert_array_equal(np.asarray(f), np.asarray(p))


def test_fused_adam_refuses_amsgrad():
  with pytest.raises(ValueError, match='amsgrad'):
    FusedAdam(amsgrad=True)


def test_fused_adam_float64_uses_tf1s_float32_constants():
  """TF1's AdamOptimizer keeps lr, beta1, beta2, epsilon and beta^t in float32
  and casts them to a float64 variable's dtype; so does FusedAdam (goldens README 4)."""
  rng = np.random.default_rng(1)
  start = rng.normal(size=(4, 3))
  grads = [rng.normal(size=(4, 3)) * 10. ** rng.integers(-9, 0, size=(4, 3)) for _ in range(3)]
  var = tf.Variable(start)
  optimizer = FusedAdam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
  for g in grads:
    optimizer.apply_gradients([(tf.constant(g), var)])
  assert var.dtype == tf.float64
  lr, b1, b2, eps = (np.float64(np.float32(x)) for x in (1e-3, 0.9, 0.999, 1e-8))
  want, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
  for t, g in enumerate(grads, start=1):
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    b1t, b2t = (np.float64(np.float32(b) ** np.float32(t)) for b in (np.float32(0.9),
                                                                     np.float32(0.999)))
    want = want - m * (lr * np.sqrt(1 - b2t) / (1 - b1t)) / (np.sqrt(v) + eps)
  np.testing.assert_allclose(var.numpy(), want, rtol=1e-13, atol=0)
  # exact float64 constants would move the tiny-gradient elements visibly
  assert np.abs(var.numpy() - start).max() > 1e-4
