"""`BilevelModel`: a Keras 3 model that can be run with any weight tensors.

The TF1-era original assigned look-ahead tensors into layer attributes.  Here the
look-ahead is functional: `functional_call` runs the model inside a Keras
`StatelessScope` in which every variable reads the tensor we hand it, so
gradients flow from the look-ahead model back to the class weights.  A new
bilevel model is a plain subclass (define layers in `__init__`, use them in
`call`), exactly as the original README shows; use `BatchNorm` below instead of
`keras.layers.BatchNormalization` to keep the original's batch-norm math.
"""
import contextlib
import threading

import keras
import tensorflow as tf

from models.tdr import losses

BN_MOMENTUM = 0.997
BN_EPSILON = 1e-5
_TRACE_OPTIONS = threading.local()


@contextlib.contextmanager
def fused_batch_norm(enabled=True):
  """While tracing inside this context, `BatchNorm` in training mode runs TF's
  fused kernel: the same values and first derivatives as the original's
  formulation (up to float32 rounding), in one kernel each way (~25 % of a
  ResNet-20 base step, results/speed_vs_originals.md).  Its second derivative
  is NOT the original's, so only for steps differentiated once (the base
  step); the class-weight update never enters it."""
  before = getattr(_TRACE_OPTIONS, 'fused', False)
  _TRACE_OPTIONS.fused = enabled
  try:
    yield
  finally:
    _TRACE_OPTIONS.fused = before


class BatchNorm(keras.layers.Layer):
  """Keras 2 `BatchNormalization(fused=False)` semantics, channels last.

  Training: batch statistics from `tf.nn.moments` (biased variance, the mean
  under stop_gradient inside the variance, which fixes the second-order
  class-weight gradient), moving averages updated with `momentum`; inside
  `fused_batch_norm()` the fused kernel computes the same.
  Inference: moving statistics.  Variables: gamma, beta, moving_mean,
  moving_variance (the original's names and order).
  """

  def __init__(self, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, **kwargs):
    super().__init__(**kwargs)
    self.momentum = momentum
    self.epsilon = epsilon

  def build(self, input_shape):
    c = (input_shape[-1],)
    self.gamma = self.add_weight(shape=c, initializer='ones', name='gamma')
    self.beta = self.add_weight(shape=c, initializer='zeros', name='beta')
    self.moving_mean = self.add_weight(
        shape=c, initializer='zeros', name='moving_mean', trainable=False,
        aggregation='mean')
    self.moving_variance = self.add_weight(
        shape=c, initializer='ones', name='moving_variance', trainable=False,
        aggregation='mean')

  def call(self, inputs, training=False):
    dtype = inputs.dtype
    inputs = tf.cast(inputs, tf.float32)   # statistics in float32 under mixed precision
    if training and getattr(_TRACE_OPTIONS, 'fused', False):
      out, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          inputs, tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta),
          epsilon=self.epsilon, is_training=True)
      # the kernel returns the Bessel-corrected variance; the original averages the biased one
      n = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], tf.float32)
      self._update_moving(mean, variance * ((n - 1.) / n))
      return tf.cast(out, dtype)
    if training:
      axes = list(range(len(inputs.shape) - 1))
      mean, variance = tf.nn.moments(inputs, axes)
      self._update_moving(mean, variance)
    else:
      mean = tf.convert_to_tensor(self.moving_mean)
      variance = tf.convert_to_tensor(self.moving_variance)
    return tf.cast(tf.nn.batch_normalization(
        inputs, mean, variance, tf.convert_to_tensor(self.beta),
        tf.convert_to_tensor(self.gamma), self.epsilon), dtype)

  def _update_moving(self, mean, variance):
    m = self.momentum
    self.moving_mean.assign(self.moving_mean * m + mean * (1. - m))
    self.moving_variance.assign(self.moving_variance * m + variance * (1. - m))

  def get_config(self):
    return dict(super().get_config(), momentum=self.momentum, epsilon=self.epsilon)


class BilevelModel(keras.Model):
  """Base class: subclasses define layers and `call(inputs, training)`."""

  def logits(self, inputs, training=False):
    """The model's outputs in float32 (also under a mixed-precision policy)."""
    return tf.cast(self(inputs, training=training), tf.float32)

  def ensure_built(self, image_shape):
    """Create the variables by one inference call on zeros of `image_shape`."""
    if not self.built or not self.trainable_variables:
      self(tf.zeros([1] + list(image_shape)), training=False)

  def named_variables(self):
    """Ordered {path: variable}, trainable and not, in creation order."""
    return {v.path: v for v in self.variables}

  def functional_call(self, trainable_values, inputs, training=False,
                      non_trainable_values=None):
    """Run the model with `trainable_values` in place of its trainable weights.

    Returns (outputs, new non-trainable values); nothing is assigned, so
    batch-norm and dropout-seed updates come back as tensors.
    """
    if non_trainable_values is None:
      non_trainable_values = [tf.convert_to_tensor(v)
                              for v in self.non_trainable_variables]
    mapping = (list(zip(self.trainable_variables, trainable_values))
               + list(zip(self.non_trainable_variables, non_trainable_values)))
    with keras.StatelessScope(state_mapping=mapping) as scope:
      outputs = self.logits(inputs, training=training)
    updated = [scope.get_current_value(v) for v in self.non_trainable_variables]
    return outputs, updated

  def bilevel_pass(self, class_weights, train_x, train_y, val_x, val_y,
                   learning_rate, weight_decay,
                   class_weight_lr=losses.CLASS_WEIGHT_LR, reduce_gradients=None):
    """Everything one class-weight update of the original graph computes.

    Base model (training=True) on the train batch -> weighted inner loss ->
    one SGD look-ahead of every weight -> look-ahead model (training=False,
    moving statistics) on the target batch -> target loss -> its gradient with
    respect to `class_weights` (second order) -> the clipped, normalised update.
    No variable is changed.  `reduce_gradients` (replicas: the mean over
    them, differentiable) makes the look-ahead use the whole batch's gradient.
    """
    params = [tf.convert_to_tensor(v) for v in self.trainable_variables]
    with tf.GradientTape() as outer:
      outer.watch(class_weights)
      with tf.GradientTape() as inner:
        inner.watch(params)
        logits, _ = self.functional_call(params, train_x, training=True)
        base_loss = losses.inner_loss(logits, train_y, class_weights, params,
                                      weight_decay)
      base_grads = inner.gradient(base_loss, params)
      if reduce_gradients is not None:
        base_grads = reduce_gradients(base_grads)
      perturbed = losses.lookahead(params, base_grads, learning_rate)
      target_logits, _ = self.functional_call(perturbed, val_x, training=False)
      t_loss = losses.target_loss(target_logits, val_y, perturbed, weight_decay)
    cw_grad = outer.gradient(t_loss, class_weights)
    return dict(
        base_logits=logits, base_loss=base_loss, base_grads=base_grads,
        perturbed=perturbed, target_logits=target_logits, target_loss=t_loss,
        class_weight_grad=cw_grad,
        new_class_weights=losses.class_weight_update(class_weights, cw_grad,
                                                     class_weight_lr))
