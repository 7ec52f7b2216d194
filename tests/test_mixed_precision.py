"""--mixed_precision: the parts each trainer allows compute in bfloat16, the
precision-critical ones (TAML's inner loop, GMVAE's EM, TDR's class weights) stay
float32, and a step still trains."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from common import precision


def relative(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b).max() / np.abs(b).max()


def test_taml_inference_network_in_bfloat16_learner_in_float32():
  from data.episodes import EpisodeSampler
  from models.taml import inference_network, objective
  from models.taml.config import TamlConfig
  from models.taml.parameters import TamlParameters
  rng = np.random.default_rng(0)
  sampler = EpisodeSampler({'mtr': [rng.random((8, 32, 32, 3), dtype=np.float32)
                                    for _ in range(4)]}, 'toy', seed=0)
  ep = {k: tf.constant(v) for k, v in sampler.sample('mtr', 2, 3, 4, 2).items()}
  outputs, dtypes = {}, []
  original = inference_network.posterior_params

  def recorded(encoder, xtr, ytr, *args):
    dtypes.append((xtr.dtype, encoder['dense1/kernel'].dtype))
    return original(encoder, xtr, ytr, *args)

  inference_network.posterior_params = recorded
  try:
    for dtype in (precision.FULL, precision.MIXED):
      cfg = TamlConfig(way=3, max_shot=4, query=2, n_steps=1, alpha_on=True, omega_on=True,
                       gamma_on=True, z_on=True, encoder_dtype=dtype)
      outputs[dtype] = objective.metabatch_forward(TamlParameters(cfg).values(), ep, cfg,
                                                   sample=False)
  finally:
    inference_network.posterior_params = original
  assert dtypes == [(tf.float32, tf.float32), (tf.bfloat16, tf.bfloat16)]
  full, mixed = outputs[precision.FULL], outputs[precision.MIXED]
  assert mixed.pred.dtype == tf.float32 and mixed.kl.dtype == tf.float32
  # bfloat16 has an 8-bit mantissa: close, not equal
  assert 0 < relative(mixed.kl, full.kl) < 3e-2
  assert relative(mixed.cent, full.cent) < 3e-2


def test_gmvae_convolutions_in_bfloat16_step_trains():
  from models.gmvae.gmvae import GMVAEConfig
  from training.gmvae_steps import GMVAETrainer
  x = tf.constant(np.random.default_rng(0).random((2, 5, 28, 28, 1), dtype=np.float32))
  losses = {}
  for dtype in (precision.FULL, precision.MIXED):
    cfg = GMVAEConfig(component_size=3, train_mc_sample_size=2, unsupervised_em_iters=2,
                      hidden_size=8, latent_size=6, conv_dtype=dtype)
    trainer = GMVAETrainer(cfg, 2, 5, 1e-3, 0., seed=0)
    rec, kl, finite = trainer.train_step(x)
    assert bool(finite) and int(trainer.step.numpy()) == 1
    assert trainer.params['encoder.encoder.0.weight'].dtype == tf.float32
    losses[dtype] = (float(rec), float(kl))
  full, mixed = losses[precision.FULL], losses[precision.MIXED]
  assert full != mixed and abs(mixed[0] - full[0]) < 1e-2 * abs(full[0])


def test_tdr_mixed_bfloat16_policy_keeps_weights_and_class_weights_float32():
  from models.tdr import build_model
  from training.tdr_steps import TDRTrainer
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (8, 28, 28, 1)).astype(np.uint8)
  y = (rng.random(8) < 0.7).astype(np.int64)
  keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = build_model('lenet', 2)
    trainer = TDRTrainer(model, 2, (28, 28, 1), learning_rate=0.1)
  finally:
    keras.mixed_precision.set_global_policy('float32')
  assert model.conv1.compute_dtype == 'bfloat16'
  assert all(v.dtype == 'float32' for v in model.trainable_variables)
  data = lambda n: iter(tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(n))
  before = trainer.class_weights.numpy()
  out, target = trainer.advance(data(8), data(4), 1)
  assert np.isfinite(out['loss'].numpy()) and np.isfinite(target['target_loss'].numpy())
  assert trainer.class_weights.dtype == tf.float32
  assert np.any(trainer.class_weights.numpy() != before)
