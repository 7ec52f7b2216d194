"""Task-specific adaptation: `n_steps` of (Meta-)SGD on the support set.

Everything here is one task; the caller maps it over the metabatch.
Second-order: the gradients are taken inside the caller's outer tape, so the
outer gradient flows through every inner step (no first-order shortcut).
"""
import tensorflow as tf

from models.taml.learner import (LEARNER_KEYS, inner_backward, layer_of, learner_forward,
                                 softmax_cross_entropy)


def per_class_loss(logits, labels, n_rows):
  """Sum of softmax CE over each class's support rows, times way / N_t.

  Padding rows have all-zero labels, hence CE 0.  N_t (`n_rows`) is the padded
  support length of the metabatch, as in the original.
  Returns `[way]`.
  """
  ce = softmax_cross_entropy(labels, logits)
  way = labels.shape[-1] or tf.cast(tf.shape(labels)[-1], logits.dtype)
  return tf.linalg.matvec(labels, ce, transpose_a=True) * way / n_rows


def inner_objective(per_class, omega):
  """Mean over classes, or the omega-weighted sum sum_c softmax(omega)_c L_c (Eq. 6)."""
  if omega is None:
    return tf.reduce_mean(per_class)
  return tf.reduce_sum(tf.nn.softmax(omega) * per_class)


def step_sizes(method, alpha, inner_lr, way):
  """Inner step per parameter the `method` adapts (the keys of the result):
  Meta-SGD alpha (dense column tiled to `way`) or the fixed inner_lr."""
  if method.learned_step_sizes:
    sizes = dict(alpha)
    sizes['dense_w'] = tf.tile(alpha['dense_w'], [1, way])
    sizes['dense_b'] = tf.tile(alpha['dense_b'], [way])
  else:
    sizes = {key: inner_lr for key in LEARNER_KEYS}
  return {key: size for key, size in sizes.items() if method.adapts(key)}


def inner_loop(params, steps, betas, xtr, ytr, n_rows, n_steps, image_shape,
               row_mask=None, omega=None, gamma=None, bn_grad='exact', tap=None,
               conv_dtype=None, recompute=False):
  """Adapted learner parameters after `n_steps` inner updates of one task.

  Args:
    params: initial learner tensors (theta, z-modulated if z is on).
    steps: step size per adapted key (`step_sizes`); the other parameters
      keep their initial values (ANIL's body).
    betas: batch-norm offsets (meta-learned, never adapted here).
    xtr, ytr: `[N, H*W*C]`, `[N, way]` support rows, zero padded (or the
      labelled rows plus one weighted padding row).
    n_rows: scalar N_t, padded support length of the metabatch.
    row_mask: `[N]` weight of each row in the batch-norm statistics
      (None: all rows, once; objective.weighted_support).
    omega: `[way]` class weights logits, or None.
    gamma: `[5]` per-layer log step multipliers (conv1..4, dense), or None.
    bn_grad: the batch norm's second derivative, 'exact' or 'fused'
      (`learner.bn_relu_pool`): what the outer gradient takes through
      each step's batch-norm backward.
    tap, conv_dtype, recompute: see `learner.learner_forward` (tap: None in
      production; recompute: `--recompute_activations`).
  """
  keys = sorted(steps)   # the adapted ones: only they are watched and updated
  held = {k: v for k, v in params.items() if k not in steps}
  # One exp and one unstack per task, not a slice and an exp per key and step.
  multipliers = None if gamma is None else tf.unstack(tf.exp(gamma))

  def one_step(values):
    current = dict(held, **dict(zip(keys, values)))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(values)
      logits = learner_forward(current, betas, xtr, image_shape, row_mask, bn_grad, tap,
                               conv_dtype, recompute)
      loss = inner_objective(per_class_loss(logits, ytr, n_rows), omega)
    with inner_backward():
      grads = tape.gradient(loss, values)
    new = []
    for k, value, grad in zip(keys, values, grads):
      if grad is None:   # conv biases: batch norm cancels them (learner.bn_relu_pool)
        new.append(value)
        continue
      delta = steps[k] * grad
      if multipliers is not None:
        delta = delta * multipliers[layer_of(k)]
      new.append(value - delta)
    return new

  # Unrolled in Python rather than a tf.while_loop: a while body halves the
  # first-step time, but grappler's AddN rewrite inside its gradient fails at
  # 84x84 ("tmp_var already exists"), so the robust form is used.
  values = [params[k] for k in keys]
  for _ in range(n_steps):
    values = one_step(values)
  return dict(held, **dict(zip(keys, values)))
