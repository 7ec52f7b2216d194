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
    # As TF1's AdamOptimizer: the hyper-parameters and beta^t are float32 and
    # cast to the variable's dtype (a float64 variable sees lr = 1.0000000475e-3,
    # beta2 = 0.99900001287 ...).  For float32 variables the casts are no-ops.
    f32 = tf.float32
    step = tf.cast(self.iterations + 1, f32)
    beta_1 = tf.constant(self.beta_1, f32)
    beta_2 = tf.constant(self.beta_2, f32)
    as_var = lambda t: tf.cast(t, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=_handle(variable), m=_handle(self._momentums[index]),
        v=_handle(self._velocities[index]),
        beta1_power=as_var(tf.pow(beta_1, step)), beta2_power=as_var(tf.pow(beta_2, step)),
        lr=as_var(tf.cast(learning_rate, f32)), beta1=as_var(beta_1), beta2=as_var(beta_2),
        epsilon=as_var(tf.constant(self.epsilon, f32)), grad=tf.cast(gradient, dtype))
