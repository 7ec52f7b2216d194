"""The Meta-GMVAE model: training loss (`forward`) and few-shot prediction (`predict`).

`p` is a flat dict of tensors named by the original `state_dict` keys (TF
layouts, see layers.py).  Randomness is passed in (`eps`, `init_idx`) so a
call is a pure function; the trainer draws them.  `ops` (layers.LayerOps) says
how the ReLUs, max-pools and training-mode batch norms compute (default: plain
kernels on one device).
"""
import dataclasses

import numpy as np
import tensorflow as tf

from models.gmvae import decoders, em, encoders
from models.gmvae.layers import LAYER_OPS
from models.gmvae.posterior import init_posterior, posterior, reparameterize

OMNIGLOT_SHAPE = (28, 28, 1)


@dataclasses.dataclass(frozen=True)
class GMVAEConfig:
  dataset: str = 'omniglot'            # 'omniglot' (images) or 'mimgnet' (features)
  component_size: int = 20             # = way
  latent_size: int = 64
  hidden_size: int = 64                # omniglot conv width
  feature_size: int = 0                # mimgnet input feature width
  unsupervised_em_iters: int = 10
  semisupervised_em_iters: int = 10
  fix_pi: bool = False
  train_mc_sample_size: int = 32
  test_mc_sample_size: int = 32
  # --mixed_precision: the Omniglot conv encoder / decoder compute in bfloat16;
  # the set transformer, the EM and every loss stay in the input's dtype
  # (float32; float64 in the golden replays).  'float32': no mixed precision,
  # the convolutions compute in the input's dtype too.
  conv_dtype: str = 'float32'

  @property
  def conv_compute_dtype(self):
    """dtype of the conv encoder / decoder: None = that of their input."""
    return None if self.conv_dtype == 'float32' else tf.as_dtype(self.conv_dtype)

  @property
  def images(self):
    return self.dataset == 'omniglot'

  @property
  def set_width(self):
    """Width of the set-transformer input: encoder output or the features."""
    return 4 * self.hidden_size if self.images else self.feature_size

  @property
  def input_shape(self):
    return OMNIGLOT_SHAPE if self.images else (self.feature_size,)


def init_params(cfg, seed=0):
  """PyTorch-default initial values (numpy, TF layouts), incl. BN buffers."""
  rng = np.random.RandomState(seed)
  params = {}
  if cfg.images:
    encoders.init_conv_encoder(rng, params, 'encoder.encoder', encoders.OMNIGLOT_BLOCKS,
                               OMNIGLOT_SHAPE[-1], cfg.hidden_size)
  init_posterior(rng, params, cfg.set_width, cfg.latent_size)
  if cfg.images:
    decoders.init_omniglot_decoder(rng, params, cfg.latent_size, cfg.hidden_size)
  else:
    decoders.init_feature_decoder(rng, params, cfg.latent_size, cfg.feature_size)
  return params


def encode(p, cfg, x, training, stats=None, ops=LAYER_OPS):
  """x [B, S, *input_shape] -> set elements [B, S, set_width]."""
  if not cfg.images:
    return x
  shape = tf.shape(x)
  h = encoders.conv_encoder(p, tf.reshape(x, (-1,) + OMNIGLOT_SHAPE), 'encoder.encoder',
                            encoders.OMNIGLOT_BLOCKS, encoders.OMNIGLOT_POOL, training, stats,
                            cfg.conv_compute_dtype, ops)
  return tf.reshape(h, [shape[0], shape[1], cfg.set_width])


def reconstruction_loss(p, cfg, z, x, training, stats=None, ops=LAYER_OPS):
  """Summed BCE (omniglot) or squared error (features) of decode(z) against x,
  divided by B*S*mc.  z [B, S, mc, L], x [B, S, *input_shape].
  Returns (loss, reconstruction [B, S, mc, *input_shape]: probabilities or features)."""
  shape = tf.shape(z)
  flat = tf.reshape(z, [-1, cfg.latent_size])
  target = x[:, :, None]
  if cfg.images:
    logits = decoders.omniglot_decoder(p, flat, cfg.hidden_size, training, stats,
                                       cfg.conv_compute_dtype, ops)
    logits = tf.reshape(logits, tf.concat([shape[:3], OMNIGLOT_SHAPE], 0))
    # BCE(sigmoid(l), x) = softplus(l) - x l  (PyTorch clamps log at -100; this does not)
    total = tf.reduce_sum(tf.nn.softplus(logits)) - tf.reduce_sum(target * logits)
    rec = tf.sigmoid(logits)
  else:
    rec = decoders.feature_decoder(p, flat, ops)
    rec = tf.reshape(rec, tf.concat([shape[:3], [cfg.feature_size]], 0))
    total = tf.reduce_sum(tf.square(rec - target))
  count = tf.cast(tf.reduce_prod(shape[:3]), total.dtype)
  return total / count, rec


def sample_posterior(p, cfg, x, eps, training, stats=None, ops=LAYER_OPS):
  """encode -> set-conditioned posterior -> z [B, S, mc, L] (eps [B*S, mc, L])."""
  h = encode(p, cfg, x, training, stats, ops)
  q_mean, q_logvar = posterior(p, h, cfg.latent_size, ops)
  return h, q_mean, q_logvar, reparameterize(q_mean, q_logvar, eps)


def forward(p, cfg, x, eps, init_idx, training=True, stats=None, ops=LAYER_OPS):
  """Training loss of one batch of episodes.

  x [B, S, *input_shape]; eps [B*S, mc, L] standard normals; init_idx [B, K]
  indices into z viewed [B, S*mc, L] (the EM's initial means).  Returns a dict
  with H, q_mean, q_logvar, z, em_pi, em_mean, rec, rec_loss, kl_loss, loss."""
  h, q_mean, q_logvar, z = sample_posterior(p, cfg, x, eps, training, stats, ops)
  shape = tf.shape(z)
  all_z = tf.reshape(z, [shape[0], -1, cfg.latent_size])
  pi, mean = em.unsupervised_em(all_z, tf.gather(all_z, init_idx, batch_dims=1),
                                cfg.unsupervised_em_iters, cfg.fix_pi)
  rec_loss, rec = reconstruction_loss(p, cfg, z, x, training, stats, ops)
  log_qz = em.gaussian_log_prob(z, q_mean[:, :, None], q_logvar[:, :, None])
  log_pz = tf.reduce_logsumexp(
      em.unit_log_likelihoods(all_z, mean) + tf.math.log(pi)[:, None, :], axis=-1)
  kl_loss = tf.reduce_mean(tf.reshape(log_qz, [shape[0], -1]) - log_pz)
  return dict(H=h, q_mean=q_mean, q_logvar=q_logvar, z=z, em_pi=pi, em_mean=mean, rec=rec,
              rec_loss=rec_loss, kl_loss=kl_loss, loss=rec_loss + kl_loss)


def predict(p, cfg, x_tr, y_tr, x_te, eps, ops=LAYER_OPS):
  """Few-shot prediction (eval-mode BN): x_tr [B, N, ...], y_tr int [B, N], x_te [B, T, ...],
  eps [B*(N+T), mc, L].  Returns H, z, psi_pi, psi_mean, psi_logvar,
  query_class_prob [B, T, K] and y_te_pred [B, T]."""
  n_tr = x_tr.shape[1]
  h, _, _, z = sample_posterior(p, cfg, tf.concat([x_tr, x_te], axis=1), eps, training=False,
                                ops=ops)
  sup, unsup = z[:, :n_tr], z[:, n_tr:]
  mc = tf.shape(z)[2]
  batch = tf.shape(z)[0]
  y = tf.one_hot(tf.repeat(tf.cast(y_tr, tf.int32), mc, axis=1), cfg.component_size,
                 dtype=z.dtype)
  pi, mean, logvar = em.semi_supervised_em(
      tf.reshape(unsup, [batch, -1, cfg.latent_size]),
      tf.reshape(sup, [batch, -1, cfg.latent_size]), y, cfg.semisupervised_em_iters)
  prob = em.class_posteriors(unsup, pi, mean, logvar)
  return dict(H=h, z=z, psi_pi=pi, psi_mean=mean, psi_logvar=logvar, query_class_prob=prob,
              y_te_pred=tf.argmax(prob, axis=-1, output_type=tf.int32))
