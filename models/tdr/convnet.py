"""`BilevelConvNet`: the model written out in the original README.

It is also the template for user models: subclass `BilevelModel`, create the
layers in `__init__`, chain them in `call`.  Nothing else is needed for the
look-ahead.
"""
import keras
import tensorflow as tf

from models.tdr.bilevel import BilevelModel


class BilevelConvNet(BilevelModel):

  def __init__(self, num_class=2):
    super().__init__()
    self.num_class = num_class
    self.conv1 = keras.layers.Conv2D(filters=32, kernel_size=3, activation=tf.nn.relu)
    self.conv2 = keras.layers.Conv2D(filters=64, kernel_size=3, activation=tf.nn.relu)
    self.max_pool1 = keras.layers.MaxPooling2D(pool_size=2, strides=2)
    self.dropout1 = keras.layers.Dropout(0.25)
    self.conv3 = keras.layers.Conv2D(filters=128, kernel_size=3, activation=tf.nn.relu)
    self.max_pool2 = keras.layers.MaxPooling2D(pool_size=2, strides=2)
    self.conv4 = keras.layers.Conv2D(filters=128, kernel_size=3, activation=tf.nn.relu)
    self.max_pool3 = keras.layers.MaxPooling2D(pool_size=2, strides=2)
    self.dropout2 = keras.layers.Dropout(0.25)
    self.flatten = keras.layers.Flatten()
    self.fc1 = keras.layers.Dense(units=1024, activation=tf.nn.relu)
    self.dropout3 = keras.layers.Dropout(0.25)
    self.fc3 = keras.layers.Dense(units=self.num_class)

  def call(self, inputs, training=True):
    del training  # the dropout layers read it from the call context
    out = inputs / 128 - 1
    for layer in self.layers:
      out = layer(out)
    return out
