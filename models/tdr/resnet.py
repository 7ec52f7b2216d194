"""`BilevelResNet`: the original's CIFAR ResNet (v1, v2, bottleneck), size 6n+2.

Layers are created in the original's order and named like the original's
Keras-2 auto names (conv2d, conv2d_1, ..., batch_normalization_k, dense), and
`call` consumes them in that same order.  Channels last only (the original
picked channels_first on CUDA builds: same math).  No input normalisation (the
original feeds raw 0..255 pixels to the ResNet).
"""
import keras
import tensorflow as tf

from common.errors import UserError
from models.tdr.config import RESNET_VERSIONS, check_resnet_size
from models.tdr.bilevel import BN_EPSILON, BN_MOMENTUM, BatchNorm, BilevelModel

def _fixed_pad(x, kernel_size):
  """Pad H and W by kernel_size-1 in total, independent of the input size."""
  total = kernel_size - 1
  beg = total // 2
  return tf.pad(x, [[0, 0], [beg, total - beg], [beg, total - beg], [0, 0]])


class BilevelResNet(BilevelModel):

  def __init__(self, resnet_size, num_classes=11, num_filters=16, kernel_size=3,
               conv_stride=1, block_strides=(1, 2, 2), resnet_version='v2',
               bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
    super().__init__(**kwargs)
    num_blocks = check_resnet_size(resnet_size)
    if resnet_version not in RESNET_VERSIONS:
      raise UserError('resnet version must be one of %s, got %r'
                      % (', '.join(RESNET_VERSIONS), resnet_version))
    self.resnet_size = resnet_size
    self.bottleneck = resnet_version.startswith('b')
    self.version = resnet_version[-2:]
    self.num_classes = num_classes
    self.kernel_size = kernel_size
    self.conv_stride = conv_stride
    self._bn_args = dict(momentum=bn_momentum, epsilon=bn_epsilon)
    self._counts = {}
    layers = [self._conv(num_filters, kernel_size, conv_stride)]
    if self.version == 'v1':
      layers.append(self._bn())
    self.block_plan = []  # (stride, has_projection) per block, in order
    for i, stride in enumerate(block_strides):
      filters = num_filters * 2 ** i
      for b in range(num_blocks):
        s = stride if b == 0 else 1
        layers += self._block_layers(filters, s, projection=(b == 0))
        self.block_plan.append((s, b == 0))
    if self.version == 'v2':
      layers.append(self._bn())
    layers.append(keras.layers.Dense(num_classes, name='dense'))
    self.resnet_layers = layers

  def _name(self, base):
    n = self._counts.get(base, 0)
    self._counts[base] = n + 1
    return base if n == 0 else '%s_%d' % (base, n)

  def _conv(self, filters, kernel_size, strides):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides,
        padding='same' if strides == 1 else 'valid', use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(),
        name=self._name('conv2d'))

  def _bn(self):
    return BatchNorm(name=self._name('batch_normalization'), **self._bn_args)

  def _block_layers(self, filters, strides, projection):
    """The block's layers in the original's creation (= use) order."""
    out_filters = 4 * filters if self.bottleneck else filters
    shortcut = ([self._conv(out_filters, 1, strides)] if projection else [])
    if self.bottleneck:
      pre = [self._bn()] if self.version == 'v2' else []
      body = [self._conv(filters, 1, 1), self._bn(), self._conv(filters, 3, strides),
              self._bn(), self._conv(out_filters, 1, 1)]
      return pre + shortcut + (body + [self._bn()] if self.version == 'v1' else body)
    if self.version == 'v1':
      return shortcut + [self._conv(filters, 3, strides), self._bn(),
                         self._conv(filters, 3, 1), self._bn()]
    return [self._bn()] + shortcut + [self._conv(filters, 3, strides), self._bn(),
                                      self._conv(filters, 3, 1)]

  @staticmethod
  def _apply_conv(layer, x):
    strides = layer.strides[0]
    if strides > 1:
      x = _fixed_pad(x, layer.kernel_size[0])
    return layer(x)

  def _block(self, x, nxt, strides, projection, training):
    conv = lambda x: self._apply_conv(nxt(), x)
    bn_relu = lambda x: tf.nn.relu(nxt()(x, training=training))
    if self.version == 'v1':
      shortcut = conv(x) if projection else x
      if self.bottleneck:
        x = bn_relu(conv(x))
      x = bn_relu(conv(x))
      x = conv(x)  # before nxt(): the callee would be fetched first
      x = nxt()(x, training=training)
      return tf.nn.relu(x + shortcut)
    shortcut = x
    x = bn_relu(x)
    if projection:
      shortcut = conv(x)
    if self.bottleneck:
      x = bn_relu(conv(x))
    x = bn_relu(conv(x))
    return conv(x) + shortcut

  def call(self, inputs, training=False):
    nxt = iter(self.resnet_layers).__next__
    x = self._apply_conv(nxt(), tf.cast(inputs, tf.float32))
    if self.version == 'v1':
      x = tf.nn.relu(nxt()(x, training=training))
    for strides, projection in self.block_plan:
      x = self._block(x, nxt, strides, projection, training)
    if self.version == 'v2':
      x = tf.nn.relu(nxt()(x, training=training))
    x = tf.reduce_mean(x, axis=[1, 2])
    return nxt()(x)
