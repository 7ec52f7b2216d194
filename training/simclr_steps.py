"""The compiled SimCLR training step and feature extraction (the loop is
training/gmvae.py `SimCLRRun`).

`SimCLRTrainer` holds the encoder and projection head (tf.Variables named by
the original `state_dict` keys), the Adam moments and the step counter, which
the loop checkpoints, and the learning rate the loop sets once per epoch.
"""
import tensorflow as tf

from models.gmvae import simclr
from models.gmvae.layers import bn_running_update
from training.gmvae_steps import adam_l2_update, make_state


class SimCLRTrainer:
  """Parameters, optimizer state and the compiled steps of one SimCLR model on
  images of `image_shape` (H, W, 3), `batch_size` of them per step."""

  def __init__(self, hidden_size, lr, batch_size, image_shape, seed=0):
    init = simclr.init_params(hidden_size, seed)
    self.params, self.trainable, self.m, self.v = make_state(init)
    self.step = tf.Variable(0, dtype=tf.int64)   # batches done, over all epochs
    self.lr = tf.Variable(lr, dtype=tf.float32)
    spec = tf.TensorSpec((batch_size,) + tuple(image_shape), tf.float32)
    self.train_step = tf.function(self._train_step, input_signature=[spec, spec])
    self.features = tf.function(
        lambda x: simclr.encode(self.params, simclr.normalize(x), False))

  def _train_step(self, x_i, x_j):
    """NT-Xent of two augmented views [N, H, W, 3]; one Adam step and the
    running batch-norm update when the loss is finite.  Returns the loss."""
    stats_i, stats_j = {}, {}
    with tf.GradientTape() as tape:
      z_i = simclr.project(self.params, simclr.encode(self.params, x_i, True, stats_i))
      z_j = simclr.project(self.params, simclr.encode(self.params, x_j, True, stats_j))
      loss = simclr.nt_xent(z_i, z_j)
    grads = tape.gradient(loss, {n: self.params[n] for n in self.trainable})
    if tf.math.is_finite(loss):
      self.step.assign_add(1)
      adam_l2_update(self.params, grads, self.m, self.v, self.step, self.lr, 0.)
      bn_running_update(self.params, stats_i)     # the encoder ran twice in train mode
      bn_running_update(self.params, stats_j)
    return loss
