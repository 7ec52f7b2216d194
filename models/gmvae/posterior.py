"""The set-conditioned posterior q(z | x, episode): SAB -> SAB -> Linear -> (mean, logvar)."""
import tensorflow as tf

from models.gmvae.layers import LAYER_OPS, dense, init_linear
from models.gmvae.set_transformer import init_sab, sab

NET = 'q_z_given_x_net'


def posterior(p, h, latent_size, ops=LAYER_OPS):
  """h [B, S, D] -> mean, logvar [B, S, latent] (`ops`: layers.LayerOps)."""
  h = sab(p, NET + '.0', h, ops=ops)
  h = sab(p, NET + '.1', h, ops=ops)
  out = dense(p, NET + '.2', h)
  return out[..., :latent_size], out[..., latent_size:]


def reparameterize(mean, logvar, eps):
  """z = eps * exp(logvar / 2) + mean, eps [B*S, mc, L] or [B, S, mc, L] -> [B, S, mc, L]."""
  shape = tf.shape(mean)
  eps = tf.reshape(eps, [shape[0], shape[1], -1, shape[2]])
  return eps * tf.exp(0.5 * logvar)[:, :, None] + mean[:, :, None]


def init_posterior(rng, params, width, latent_size):
  init_sab(rng, params, NET + '.0', width, width)
  init_sab(rng, params, NET + '.1', width, width)
  init_linear(rng, params, NET + '.2', width, 2 * latent_size)
