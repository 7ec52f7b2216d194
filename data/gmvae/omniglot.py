"""Omniglot arrays of Meta-GMVAE: `<data-dir>/train.npy`, `val.npy`, `test.npy`,
each float32 [classes, 20, 28, 28, 1] in [0, 1] (write them with
`python data/omniglot/get_data.py --layout gmvae --out <data-dir>`)."""
import os

import numpy as np

from common.errors import UserError, require

SPLITS = ('train', 'val', 'test')
IMAGE_SHAPE = (28, 28, 1)
HINT = 'write them with: python data/omniglot/get_data.py --layout gmvae --out %s'


def load_split(data_dir, split):
  path = os.path.join(data_dir, split + '.npy')
  require(os.path.isfile(path), 'missing Omniglot array %s; %s' % (path, HINT % data_dir))
  try:
    x = np.load(path, mmap_mode='r', allow_pickle=False)
  except (ValueError, OSError) as err:
    raise UserError('cannot read %s (%s); %s' % (path, err, HINT % data_dir))
  require(x.ndim == 5 and x.shape[2:] == IMAGE_SHAPE and x.shape[0] > 0 and x.shape[1] > 0,
          '%s has shape %s, expected [classes, images, 28, 28, 1]' % (path, x.shape))
  require(np.issubdtype(x.dtype, np.floating), '%s holds %s values, expected float32 pixels '
          'in [0, 1] (the BCE targets); %s' % (path, x.dtype, HINT % data_dir))
  x = np.asarray(x, np.float32)
  lo, hi = float(x.min()), float(x.max())   # NaN / inf show up here
  require(np.isfinite(lo) and np.isfinite(hi) and lo >= 0. and hi <= 1.,
          '%s holds values in [%g, %g], expected finite pixels in [0, 1] (the BCE targets); '
          '%s' % (path, lo, hi, HINT % data_dir))
  return x


def load(data_dir, splits=SPLITS):
  """dict split -> [K, N, 28, 28, 1] float32."""
  require(os.path.isdir(data_dir), 'Omniglot data dir %s does not exist; %s'
          % (data_dir, HINT % data_dir))
  return {s: load_split(data_dir, s) for s in splits}


def train_pool(train):
  """All training images as one pool [K*N, 28, 28, 1] (labels are not used)."""
  return train.reshape((-1,) + train.shape[2:])
