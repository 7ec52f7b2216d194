"""The outer objective of the TAML family over a metabatch of tasks (Eq. 8).

outer loss = mean_t CE(query_t | adapted theta_t) + mean_t KL_t / (N_t + M_t)

`cfg.algorithm` (models/taml/methods) says what the inner loop adapts, with
which steps, and which balancing variables (and prior) enter; KL_t is 0
without balancing variables.
"""
import collections

import tensorflow as tf

from common import precision

from models.taml import balancing, inference_network
from models.taml.inner_loop import inner_loop, step_sizes
from models.taml.learner import learner_forward, feature_size, softmax_cross_entropy
from models.taml.parameters import split_groups

TaskOutputs = collections.namedtuple('TaskOutputs', ['cent', 'acc', 'kl', 'pred'])


def initial_learner(theta, cfg):
  """theta plus the constant zero dense head (never meta-learned)."""
  params = dict(theta)
  n_features = feature_size(cfg.image_size, cfg.n_channel)
  dtype = theta['conv1_w'].dtype
  params['dense_w'] = tf.zeros([n_features, cfg.way], dtype)
  params['dense_b'] = tf.zeros([cfg.way], dtype)
  return params


def support_row_mask(ytr, n_rows, cfg):
  """Rows of one task's padded support `[N, way]` counted by the support-pass
  batch norm: `[N]`, or None for all.

  The original counts every row up to the metabatch's padded length N_t
  (padding included): with `fixed_support` off the support has exactly N_t
  rows and needs no mask; with it, the rows beyond N_t exist only for the
  fixed shape and never count.  `bn_counts_padding=False` counts labelled
  rows only.
  """
  if cfg.bn_counts_padding and not cfg.fixed_support:
    return None
  if cfg.bn_counts_padding:
    return tf.cast(tf.range(tf.shape(ytr)[0], dtype=n_rows.dtype) < n_rows, ytr.dtype)
  return tf.reduce_sum(ytr, axis=-1)


def weighted_support(xtr, ytr, n_counted):
  """One task's support as its labelled rows plus one of its padding rows, weighted.

  Every padding row is the same all-zero image with all-zero labels, so
  through the learner the padding rows are one row repeated: zero loss, the
  same activations, and (they reach the loss through the batch-norm
  statistics only) gradients that all scale with their number.  One row
  weighted by that number in the statistics (`learner.batch_norm_moments`)
  gives the padded pass's values and both orders of its gradients for a
  fraction of the work.  Assumes the labelled rows come first and the padding
  rows are zero (data.episodes, as the original pads).

  Args:
    xtr, ytr: `[N, D]`, `[N, way]` one task's zero-padded support.
    n_counted: scalar rows the statistics count (N_t), or None: the labelled only.
  Returns:
    x `[R, D]`, y `[R, way]`, row weights `[R]`: the k labelled rows (weight 1)
    and, if the task has padding, one padding row (weight N_t - k), R = min(k + 1, N).
    With n_counted None the k labelled rows and weights None (all count).
  """
  labelled = tf.reduce_sum(tf.cast(tf.reduce_any(ytr > 0, axis=-1), tf.int32))
  if n_counted is None:
    return xtr[:labelled], ytr[:labelled], None
  rows = tf.minimum(labelled + 1, tf.shape(ytr)[0])
  padding = tf.fill([rows - labelled], n_counted - tf.cast(labelled, ytr.dtype))
  return xtr[:rows], ytr[:rows], tf.concat([tf.ones([labelled], ytr.dtype), padding], 0)


def support_pass(xtr, ytr, n_rows, cfg):
  """The rows one task's support pass computes and their batch-norm weights:
  the padded rows and `support_row_mask` under a static shape (`fixed_support`)
  or with `weighted_padding` off, else `weighted_support`."""
  if cfg.fixed_support or not cfg.weighted_padding:
    return xtr, ytr, support_row_mask(ytr, n_rows, cfg)
  return weighted_support(xtr, ytr, n_rows if cfg.bn_counts_padding else None)


def metabatch_forward(values, episode, cfg, sample, seed=None, task_offset=None,
                      n_total_tasks=None, tap=None):
  """Per-task query CE, accuracy, scaled KL and softmax predictions.

  Args:
    values: name -> tensor of every variable (`TamlParameters.values()`).
    episode: dict with xtr `[T, N, D]`, ytr `[T, N, way]`, xte `[T, M, D]`,
      yte `[T, M, way]` and n_rows (scalar float N_t, the original padded length).
    cfg: `TamlConfig`.
    sample: draw the balancing variables (True) or use posterior means.
    seed: stateless seed `[2]` for the draws.
    task_offset, n_total_tasks: the episode holds tasks task_offset.. of a
      metabatch of n_total_tasks (one replica's share); None: the whole one.
    tap: see `learner.learner_forward`; called per task for the support pass
      of every inner step, then the query pass (None in production).
  Returns:
    TaskOutputs of `[T]`, `[T]`, `[T]`, `[T, M, way]`.
  """
  theta, alpha, betas, encoder = split_groups(values)
  xtr, ytr, xte, yte = episode['xtr'], episode['ytr'], episode['xte'], episode['yte']
  n_rows = tf.cast(episode['n_rows'], ytr.dtype)
  raw = precision.run_in(
      cfg.encoder_dtype,
      lambda enc, x, y: inference_network.posterior_params(
          enc, x, y, cfg.image_shape, cfg.max_shot, cfg.multi_dataset),
      encoder, xtr, ytr)
  method = cfg.algorithm
  bal = balancing.balancing_variables(raw, cfg.balancing_on, sample, seed, task_offset,
                                      n_total_tasks, prior=method.prior)
  n_query = tf.cast(tf.shape(yte)[1], ytr.dtype)
  kl = bal.kl / (n_rows + n_query)

  steps = step_sizes(method, alpha, cfg.inner_lr, cfg.way)
  init = initial_learner(theta, cfg)
  # Per-task pieces by one unstack each (cheap to differentiate), not a slice per use.
  n_tasks = xtr.shape[0]
  per_task = lambda x: [None] * n_tasks if x is None else tf.unstack(x, n_tasks)
  xtr, ytr, xte, yte, omega, gamma, z = (
      per_task(x) for x in (xtr, ytr, xte, yte, bal.omega, bal.gamma, bal.z))

  def one_task(t):
    x, y, weights = support_pass(xtr[t], ytr[t], n_rows, cfg)
    params = init
    if z[t] is not None:
      params = balancing.modulate_initialisation(params, z[t], cfg.n_channel)
    params = inner_loop(params, steps, betas, x, y, n_rows, cfg.n_steps,
                        cfg.image_shape, row_mask=weights, omega=omega[t], gamma=gamma[t],
                        bn_grad=cfg.bn_grad, tap=tap, conv_dtype=cfg.learner_conv_dtype,
                        recompute=cfg.recompute_activations)
    logits = learner_forward(params, betas, xte[t], cfg.image_shape, tap=tap,
                             conv_dtype=cfg.learner_conv_dtype)
    cent = tf.reduce_mean(softmax_cross_entropy(yte[t], logits))
    correct = tf.equal(tf.argmax(logits, -1), tf.argmax(yte[t], -1))
    # In the logits' dtype: a float64 replay's accuracy is k/M exactly, float32 is unchanged.
    return cent, tf.reduce_mean(tf.cast(correct, logits.dtype)), tf.nn.softmax(logits)

  # Tasks are independent subgraphs that the executor runs concurrently
  # (measured faster here than tf.map_fn, which runs one traced body).
  outputs = [one_task(t) for t in range(n_tasks)]
  cent, acc, pred = (tf.stack(x) for x in zip(*outputs))
  return TaskOutputs(cent, acc, kl, pred)


def outer_loss(out):
  """Mean query CE plus mean scaled KL over the tasks of the metabatch."""
  return tf.reduce_mean(out.cent) + tf.reduce_mean(out.kl)
