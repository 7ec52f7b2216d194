"""Data for targeted meta-learning: source archives, imbalance makers, tfrecords."""

DATASETS = ('mnist', 'cifar10', 'cifar100')
IMAGE_SHAPES = {'mnist': (28, 28, 1), 'cifar10': (32, 32, 3), 'cifar100': (32, 32, 3)}
NUM_CLASSES = {'mnist': 10, 'cifar10': 10, 'cifar100': 100}


def check_parent_dir(path, flag):
  """Absolute `path`, with the folder that will hold it created (and its parents);
  `UserError` when that folder cannot be created."""
  import os
  from common.errors import UserError
  path = os.path.abspath(path)
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
  except OSError as err:
    raise UserError('cannot create the parent folder of %s %s: %s'
                    % (flag, path, err.strerror or err))
  return path
