"""EM for the Gaussian-mixture prior, vectorised over episodes, points and components.

`unsupervised_em`: training prior (unit-variance E-step; pi re-estimated unless
fix_pi; means = responsibility-weighted averages).  `semi_supervised_em`:
prediction (means start at the labelled class means; E-step on the unlabelled
points with UNIT variance; pi stays as given; the M-step pools labelled and soft
counts for mean and variance).  Both are stop-gradient, as in the original.
"""
import math

import tensorflow as tf

LOG_NORM_CONSTANT = -0.5 * math.log(2. * math.pi)


def gaussian_log_prob(x, mean, logvar=None):
  """Diagonal Gaussian log density summed over the last axis (broadcasting)."""
  sq = tf.square(x - mean)
  if logvar is None:
    log_p = -0.5 * sq
  else:
    log_p = -0.5 * (logvar + sq * tf.exp(-logvar))
  return tf.reduce_sum(log_p + LOG_NORM_CONSTANT, axis=-1)


def unit_log_likelihoods(x, mean):
  """log N(x_m; mean_k, I) for x [B, M, L], mean [B, K, L] -> [B, M, K].

  Computed as -|x - mu|^2 / 2 through one matmul (no [B, M, K, L] tensor);
  both sides are first centred on the (stop-gradient) mean of x so the
  expansion loses no float32 precision."""
  centre = tf.stop_gradient(tf.reduce_mean(x, axis=1, keepdims=True))
  x, mean = x - centre, mean - centre
  sq = (tf.reduce_sum(tf.square(x), -1)[:, :, None]
        - 2. * tf.matmul(x, mean, transpose_b=True)
        + tf.reduce_sum(tf.square(mean), -1)[:, None, :])
  return -0.5 * sq + x.shape[-1] * LOG_NORM_CONSTANT


def responsibilities(x, pi, mean):
  """E-step with unit variance: softmax_k(log pi_k + log N(x; mu_k, I)), [B, M, K]."""
  return tf.nn.softmax(unit_log_likelihoods(x, mean) + tf.math.log(pi)[:, None, :], axis=-1)


def unsupervised_em(z, initial_mean, iters, fix_pi=False, initial_pi=None):
  """z [B, M, L], initial_mean [B, K, L] -> (pi [B, K], mean [B, K, L]), detached."""
  z = tf.stop_gradient(z)
  mean = tf.stop_gradient(initial_mean)
  k = tf.shape(mean)[1]
  pi = initial_pi if initial_pi is not None else uniform_pi(tf.shape(z)[0], k, z.dtype)
  for _ in range(iters):
    post = responsibilities(z, pi, mean)
    counts = tf.reduce_sum(post, axis=1)
    if not fix_pi:
      pi = counts / tf.reduce_sum(counts, axis=-1, keepdims=True)
    mean = tf.matmul(post, z, transpose_a=True) / counts[:, :, None]
  return tf.stop_gradient(pi), tf.stop_gradient(mean)


def uniform_pi(batch, k, dtype=tf.float32):
  return tf.fill([batch, k], 1. / tf.cast(k, dtype))


def semi_supervised_em(unsup_z, sup_z, y, iters):
  """unsup_z [B, U, L], sup_z [B, N, L], y one-hot [B, N, K] ->
  (pi [B, K], mean [B, K, L], logvar [B, K, L]), detached."""
  unsup_z, sup_z, y = (tf.stop_gradient(t) for t in (unsup_z, sup_z, y))
  sup_n = tf.reduce_sum(y, axis=1)[:, :, None]
  sup_sum = tf.matmul(y, sup_z, transpose_a=True)
  sup_sq = tf.matmul(y, tf.square(sup_z), transpose_a=True)
  pi = uniform_pi(tf.shape(y)[0], tf.shape(y)[2], y.dtype)
  mean = sup_sum / sup_n
  logvar = tf.zeros_like(mean)
  for _ in range(iters):
    post = responsibilities(unsup_z, pi, mean)
    unsup_n = tf.reduce_sum(post, axis=1)[:, :, None]
    unsup_sum = tf.matmul(post, unsup_z, transpose_a=True)
    unsup_sq = tf.matmul(post, tf.square(unsup_z), transpose_a=True)
    denominator = sup_n + unsup_n
    mean = (sup_sum + unsup_sum) / denominator
    var = ((sup_sq - 2. * mean * sup_sum + sup_n * tf.square(mean))
           + (unsup_sq - 2. * mean * unsup_sum + unsup_n * tf.square(mean))) / denominator
    logvar = tf.math.log(var)
  return pi, mean, logvar


def component_log_likelihoods(z, pi, mean, logvar=None):
  """log pi_k + log N(z; mean_k, diag(exp(logvar_k))) for z [B, T, mc, L] -> [B, T, mc, K]."""
  ll = gaussian_log_prob(z[:, :, :, None, :], mean[:, None, None],
                         None if logvar is None else logvar[:, None, None])
  return ll + tf.math.log(pi)[:, None, None, :]


def class_posteriors(z, pi, mean, logvar):
  """Class posteriors of z [B, T, mc, L] averaged over the mc samples -> [B, T, K]."""
  return tf.reduce_mean(tf.nn.softmax(component_log_likelihoods(z, pi, mean, logvar), -1),
                        axis=2)
