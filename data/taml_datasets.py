"""Per-class image arrays of the TAML datasets, loaded with clear errors.

Layout (written by `data/<name>/get_data.py`, as in l2b): `<data_dir>/<name>/`
holds `train.npy` (meta-train), `valid.npy` (meta-validation) and `test.npy`
(meta-test), each either a dense float32 array `[C, N, H, W, 3]` or a 1-D
object array of per-class float32 arrays `[N_c, H, W, 3]`, values in [0, 1].
vgg_flower may also hold 0..255 (its get_data.py `--no_rescale`, l2b's own files).
"""
import os

import numpy as np

from common.errors import UserError, require

SPLIT_FILES = {'mtr': 'train.npy', 'mval': 'valid.npy', 'mte': 'test.npy'}

# name -> (image size, splits the dataset provides), as in the original.
DATASETS = {
    'cifar': (32, ('mtr', 'mval', 'mte')),
    'mimgnet': (84, ('mtr', 'mval', 'mte')),
    'aircraft': (32, ('mtr', 'mval', 'mte')),
    'quickdraw': (32, ('mtr', 'mval', 'mte')),
    'vgg_flower': (32, ('mtr', 'mval', 'mte')),
    'omniglot': (32, ('mtr', 'mval', 'mte')),
    'svhn': (32, ('mval', 'mte')),
    'cub': (84, ('mval', 'mte')),
    'traffic': (32, ('mte',)),
    'fashion-mnist': (32, ('mte',)),
    'mnist': (32, ('mte',)),
}


def image_size(name):
  require(name in DATASETS, 'unknown dataset %r; known: %s' % (name, ', '.join(sorted(DATASETS))))
  return DATASETS[name][0]


# datasets whose files may hold raw 0..255 floats on purpose (get_data.py --no_rescale)
RAW_PIXELS_OK = ('vgg_flower',)


def check_values(path, per_class, high=1.0):
  """`UserError` unless every class is a float array with finite values in [0, high]."""
  name = os.path.basename(os.path.dirname(path)) or '<name>'
  redo = ('delete it and run `python data/%s/get_data.py` again (it writes float32 in '
          '[0, 1])' % name)
  for c in per_class:
    dtype = np.asarray(c[:0]).dtype
    require(np.issubdtype(dtype, np.floating),
            '%s holds %s values, expected float images in [0, 1]; %s' % (path, dtype, redo))
    if c.size:
      lo, hi = float(np.min(c)), float(np.max(c))   # NaN / inf show up here
      require(np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= high,
              '%s holds values in [%g, %g], expected [0, %g]; %s' % (path, lo, hi, high, redo))


def load_split(path, size, high=1.0):
  """List of per-class arrays `[N_c, size, size, 3]` from one split file, float
  values in [0, high] (checked)."""
  require(os.path.exists(path),
          '%s not found; prepare it with `python data/%s/get_data.py` (see README) '
          'or point --data_dir at the folder that holds it'
          % (path, os.path.basename(os.path.dirname(path))))
  try:
    array = np.load(path, mmap_mode='r', allow_pickle=False)
  except ValueError:
    try:   # ragged classes are stored as an object array (original layout)
      array = np.load(path, allow_pickle=True)
    except Exception as err:
      raise UserError('cannot read %s (%s); the file is truncated or corrupt: '
                      'delete it and run get_data.py again' % (path, err))
  except Exception as err:
    raise UserError('cannot read %s (%s); the file is truncated or corrupt: '
                    'delete it and run get_data.py again' % (path, err))
  per_class = list(array)
  require(len(per_class) > 0, '%s holds no classes' % path)
  for c in per_class:
    shape = np.shape(c)
    require(len(shape) == 4 and tuple(shape[1:]) == (size, size, 3),
            '%s has a class of shape %s; expected [N, %d, %d, 3] per class'
            % (path, list(shape), size, size))
  check_values(path, per_class, high)
  return per_class


def load_dataset(name, data_dir, splits):
  """dict split -> per-class arrays for the requested splits of `name`."""
  size, available = image_size(name), DATASETS[name][1]
  out = {}
  for split in splits:
    require(split in available, '%s has no %s split' % (name, split))
    out[split] = load_split(os.path.join(data_dir, name, SPLIT_FILES[split]), size,
                            255.0 if name in RAW_PIXELS_OK else 1.0)
  return out
