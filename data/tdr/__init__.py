"""Data for targeted meta-learning: source archives, imbalance makers, tfrecords."""

DATASETS = ('mnist', 'cifar10', 'cifar100')
IMAGE_SHAPES = {'mnist': (28, 28, 1), 'cifar10': (32, 32, 3), 'cifar100': (32, 32, 3)}
NUM_CLASSES = {'mnist': 10, 'cifar10': 10, 'cifar100': 100}


def check_parent_dir(path, flag):
  """Absolute `path`; `UserError` unless the folder that would hold it exists."""
  import os
  from common.errors import UserError
  path = os.path.abspath(path)
  if not os.path.isdir(os.path.dirname(path)):
    raise UserError('parent folder of %s does not exist: %s' % (flag, os.path.dirname(path)))
  return path
