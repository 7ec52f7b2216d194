"""`BilevelLenet`: the original code's MNIST model."""
import keras
import tensorflow as tf

from models.tdr.bilevel import BilevelModel

L = keras.layers


class BilevelLenet(BilevelModel):
  """x/128-1, conv5(6) relu, pool2, conv5(16) relu, pool2, flatten, 120, 84, C."""

  def __init__(self, num_class=2, **kwargs):
    super().__init__(**kwargs)
    self.num_class = num_class
    self.conv1 = L.Conv2D(6, 5, activation='relu', name='conv2d')
    self.max_pool1 = L.MaxPooling2D(pool_size=2, strides=2, name='max_pooling2d')
    self.conv2 = L.Conv2D(16, 5, activation='relu', name='conv2d_1')
    self.max_pool2 = L.MaxPooling2D(pool_size=2, strides=2, name='max_pooling2d_1')
    self.flatten = L.Flatten(name='flatten')
    self.fc1 = L.Dense(120, activation='relu', name='dense')
    self.fc2 = L.Dense(84, activation='relu', name='dense_1')
    self.fc3 = L.Dense(num_class, name='dense_2')

  def call(self, inputs, training=False):
    del training
    out = tf.cast(inputs, tf.float32) / 128. - 1.
    for layer in self.layers:
      out = layer(out)
    return out
