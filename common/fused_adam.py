"""Keras Adam whose per-variable update is TensorFlow's fused `ApplyAdam` kernel.

The kernel is the one TF1's `tf.train.AdamOptimizer` ran (the original
repositories' optimizer) and its formula is Keras Adam's, term for term:

  alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t)
  m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2);  var -= m alpha / (sqrt(v) + eps)

Keras builds that from ~39 graph ops per variable; this is one op plus the
step's scalars.  In the traced TAML meta-train step (54 updated variables)
that is 1.3K fewer nodes to trace and instantiate (results/taml_speed.md).  The
slots, `iterations` and the checkpoint layout are Keras Adam's, so checkpoints
move freely between the two; clipping, weight decay and distribution are
Keras' own code (only `update_step` is replaced).
"""
import keras
import tensorflow as tf


def _handle(variable):
  """The resource handle of a Keras or tf.Variable (inside `Strategy.update`: this device's)."""
  return (variable.value if isinstance(variable, keras.Variable) else variable).handle


class FusedAdam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` (no amsgrad) updating each variable with `ResourceApplyAdam`."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if self.amsgrad:
      raise ValueError('FusedAdam: amsgrad has no fused kernel; use keras.optimizers.Adam')

  def update_step(self, gradient, variable, learning_rate):
    index = self._get_variable_index(variable)
    dtype = variable.dtype
    step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.constant(self.beta_1, dtype)
    beta_2 = tf.constant(self.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=_handle(variable), m=_handle(self._momentums[index]),
        v=_handle(self._velocities[index]),
        beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
        epsilon=tf.constant(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
