r"""Make an imbalanced (or long-tailed) dataset from MNIST / CIFAR as tfrecords.

  python makeImbalanceDataset.py --data-dir ./data/mnist_23_0995 --dataset mnist \
      --source ../shared/datasets/mnist --train-size 5000 --validation-size 20 \
      --test-size 1000 --ratio 0.995 --minority-labels 2 --majority-labels 3
  python makeImbalanceDataset.py --long-tail --dataset cifar10 --n0 5000 --imf 100 ...
"""
import sys

from absl import flags

from common.dash_flags import check_ranges, normalise_argv, reject_extra_args
from common.errors import UserError, absl_main
from common.tf_env import configure_tensorflow_env

configure_tensorflow_env(onednn=None)   # C++ start-up logging quiet (tfrecords writing)
from data.tdr import DATASETS
from data.tdr.make import make_and_write

flags.DEFINE_string('data-dir', './data/mnist_23_09', 'Folder to write the tfrecords to.')
flags.DEFINE_enum('dataset', 'mnist', list(DATASETS), 'The source dataset.')
flags.DEFINE_string('source', None, 'The standard archive: MNIST idx .gz folder, '
                    'CIFAR python tar.gz or its folder (both in the order Keras reads); '
                    '"keras": keras.datasets, as the original (online or Keras\' cache). '
                    'Without it: TFDS (online; its record order differs, so other images '
                    'are picked).')
flags.DEFINE_integer('train-size', 5000, 'Number of training samples.')
flags.DEFINE_integer('validation-size', 20, 'Number of validation (target) samples.')
flags.DEFINE_integer('test-size', 2000, 'Number of test samples.')
flags.DEFINE_float('ratio', 0.9, 'Share of a majority class vs a minority class.')
flags.DEFINE_list('minority-labels', ['2'], 'Minority class labels.')
flags.DEFINE_list('majority-labels', ['3'], 'Majority class labels.')
flags.DEFINE_bool('long-tail', False, 'Long-tailed dataset over all classes instead.')
flags.DEFINE_integer('n0', 5000, 'Long tail: training images of class 0.')
flags.DEFINE_float('imf', 1.0, 'Long tail: imbalance factor n_0 / n_(C-1).')
flags.DEFINE_integer('seed', 0, 'Seed of the split shuffles.')
check_ranges(at_least={'train-size': 1, 'validation-size': 1, 'test-size': 1, 'n0': 1,
                       'imf': 1, 'seed': 0}, above={'ratio': 0}, below={'ratio': 1})
FLAGS = flags.FLAGS


def _labels(name):
  try:
    return [int(v) for v in FLAGS[name].value]
  except ValueError:
    raise UserError('--%s must be integers, got %s' % (name, FLAGS[name].value))


def main(argv):
  reject_extra_args(argv)
  make_and_write(
      FLAGS['data-dir'].value, FLAGS.dataset, FLAGS.source, FLAGS.seed,
      FLAGS['long-tail'].value, FLAGS['train-size'].value,
      FLAGS['validation-size'].value, FLAGS['test-size'].value, FLAGS.ratio,
      _labels('minority-labels'), _labels('majority-labels'), FLAGS.n0, FLAGS.imf)


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main)
