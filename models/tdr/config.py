"""Model choices and checks that need no TensorFlow (fast CLI errors)."""
from common.errors import UserError

MODELS = ('lenet', 'convnet', 'resnet')
RESNET_VERSIONS = ('v1', 'v2', 'bv1', 'bv2')


def check_resnet_size(resnet_size):
  """Blocks per stage n for a size 6n + 2 (n >= 1); else `UserError`."""
  if resnet_size < 8 or resnet_size % 6 != 2:
    raise UserError('resnet size must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...), '
                    'got %d' % resnet_size)
  return (resnet_size - 2) // 6


def default_model(dataset):
  """The original's choice: LeNet for MNIST, ResNet for CIFAR."""
  return 'lenet' if dataset == 'mnist' else 'resnet'
