"""Whole MNIST / CIFAR-10 / CIFAR-100 train and test sets as uint8 HWC arrays.

From the standard archives given by path (MNIST: the folder of the four idx .gz
files; CIFAR: the `cifar-10-python.tar.gz` / `cifar-100-python.tar.gz` archive
or its extracted folder), or from TFDS when online.
"""
import os
import pickle
import socket
import tarfile

import numpy as np

from common.errors import UserError
from data.tdr import DATASETS

MNIST_FILES = {'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
               'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}
CIFAR = {  # dataset -> (archive folder, train members, test member, label key)
    'cifar10': ('cifar-10-batches-py', ['data_batch_%d' % i for i in range(1, 6)],
                'test_batch', b'labels'),
    'cifar100': ('cifar-100-python', ['train'], 'test', b'fine_labels'),
}


def _mnist(source):
  from data.images import read_idx_gz
  if not os.path.isdir(source):
    raise UserError('--source for mnist must be the folder holding %s, got %s'
                    % (', '.join(sum(MNIST_FILES.values(), ())), source))
  out = []
  for split in ('train', 'test'):
    paths = [os.path.join(source, f) for f in MNIST_FILES[split]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
      raise UserError('MNIST file missing: %s' % missing[0])
    try:
      images, labels = (read_idx_gz(p) for p in paths)
    except (OSError, ValueError, EOFError) as err:
      raise UserError('cannot read MNIST idx files in %s: %s' % (source, err))
    if images.ndim != 3 or len(images) != len(labels):
      raise UserError('MNIST files in %s disagree: %s images, %s labels'
                      % (source, images.shape, labels.shape))
    out.append((images[..., None], labels.astype(np.int64)))
  return tuple(out)


def _cifar_batch(raw, label_key, where):
  try:
    d = pickle.loads(raw, encoding='bytes')
    data = np.asarray(d[b'data'], np.uint8)
    labels = np.asarray(d[label_key], np.int64)
  except Exception as err:  # any unpickling problem is a bad archive
    raise UserError('cannot read CIFAR batch %s: %s' % (where, err))
  # stored as rows of 3072 bytes, channel planes R, G, B (CHW): make it HWC
  return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cifar(dataset, source):
  folder, train_names, test_name, label_key = CIFAR[dataset]
  if os.path.isdir(source):
    base = os.path.join(source, folder) if os.path.isdir(
        os.path.join(source, folder)) else source

    def read(name):
      path = os.path.join(base, name)
      if not os.path.isfile(path):
        raise UserError('CIFAR file missing: %s' % path)
      with open(path, 'rb') as f:
        return f.read()
  elif os.path.isfile(source):
    try:
      tar = tarfile.open(source)
      members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as err:
      raise UserError('cannot open CIFAR archive %s: %s' % (source, err))

    def read(name):
      if name not in members:
        raise UserError('%s has no member %s (is it the %s archive?)'
                        % (source, name, dataset))
      return tar.extractfile(members[name]).read()
  else:
    raise UserError('--source not found: %s' % source)
  parts = [_cifar_batch(read(n), label_key, n) for n in train_names]
  train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
  return train, _cifar_batch(read(test_name), label_key, test_name)


def _online(host='storage.googleapis.com', timeout=3.0):
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def _prepared_locally(dataset):
  root = os.environ.get('TFDS_DATA_DIR', os.path.expanduser('~/tensorflow_datasets'))
  return os.path.isdir(os.path.join(root, dataset))


def _tfds(dataset):
  import tensorflow_datasets as tfds
  out = []
  for split in ('train', 'test'):
    x, y = tfds.as_numpy(tfds.load(dataset, split=split, batch_size=-1, as_supervised=True))
    out.append((np.asarray(x, np.uint8), np.asarray(y, np.int64)))
  return tuple(out)


def _keras(dataset):
  import keras
  loader = getattr(keras.datasets, dataset)
  (x_tr, y_tr), (x_te, y_te) = (loader.load_data(label_mode='fine') if dataset == 'cifar100'
                                else loader.load_data())
  fix = lambda x: x[..., None] if x.ndim == 3 else x
  return ((fix(x_tr), y_tr.reshape(-1).astype(np.int64)),
          (fix(x_te), y_te.reshape(-1).astype(np.int64)))


def download(dataset):
  """TFDS (or the Keras copy of the same archives if TFDS fails), online only."""
  if not _prepared_locally(dataset) and not _online():
    raise UserError('no --source given and %s cannot be downloaded (offline): pass '
                    '--source with the standard archive' % dataset)
  from common.tf_env import quiet_tensorflow_import
  quiet_tensorflow_import()
  errors = []
  for fetch in (_tfds, _keras):
    try:
      return fetch(dataset)
    except Exception as err:  # a broken TFDS install, network failures, ...
      errors.append('%s: %s' % (fetch.__name__.strip('_'), (str(err) or
                                                            type(err).__name__).splitlines()[0]))
  raise UserError('could not download %s (%s); pass --source with the standard archive'
                  % (dataset, '; '.join(errors)))


def keras_download(dataset):
  """`keras.datasets.<dataset>.load_data()`, what the original generator read: its
  record order (the archives' order; TFDS stores its own shuffled order), so the
  same images are picked.  Online, or offline with Keras' cached copy."""
  try:
    return _keras(dataset)
  except Exception as err:  # network failure, bad cache, ...
    raise UserError('--source keras: could not load keras.datasets.%s (%s); it needs the '
                    'network or the cached file in ~/.keras/datasets' % (
                        dataset, (str(err) or type(err).__name__).splitlines()[0]))


def load(dataset, source=None):
  """((x_train, y_train), (x_test, y_test)): uint8 [N, H, W, C], int64 labels.

  source: None (TFDS, else Keras; online), 'keras' (keras.datasets, as the
  original), or the path of the standard archive / folder (archive order, which
  is also Keras' order)."""
  if dataset not in DATASETS:
    raise UserError('unknown dataset %r (choose from %s)' % (dataset, ', '.join(DATASETS)))
  if not source:
    return download(dataset)
  if source == 'keras' and not os.path.exists(source):
    return keras_download(dataset)
  if not os.path.exists(source):
    raise UserError('--source not found: %s' % source)
  return _mnist(source) if dataset == 'mnist' else _cifar(dataset, source)
