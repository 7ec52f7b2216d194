"""miniImageNet for Meta-GMVAE and its SimCLR feature extractor.

Images + csv (what the SimCLR trainer reads, the original's data/imgnet):
  <dir>/images/<file>.jpg and <dir>/{train,val,test}.csv with a header and rows
  `filename,label` (Ravi & Larochelle's split files); classes in csv order.
Features (what the SimCLR trainer writes and the GMVAE reads, data/mimgnet):
  <dir>/{train,val,test}_features.npy, float32 [images, D] in csv order (600
  images per class), or [classes, images, D].
"""
import csv
import os

import numpy as np

from common.errors import UserError, require
from common.progress import progress

SPLITS = ('train', 'val', 'test')
IMAGES_PER_CLASS = 600      # the original reshapes val/test features to [K, 600, D]
IMAGE_SIZE = 84


def features_path(data_dir, split):
  return os.path.join(data_dir, '%s_features.npy' % split)


def load_features(data_dir, split, per_class=IMAGES_PER_CLASS):
  """[K, N, D] features of one split; per_class=None: one pool [1, M, D] (training)."""
  path = features_path(data_dir, split)
  require(os.path.isfile(path), 'missing feature array %s; write it with '
          'gmvae_main.py --dataset simclr --feature-save-dir %s' % (path, data_dir))
  try:
    x = np.load(path, allow_pickle=False)
  except (ValueError, OSError) as err:
    raise UserError('cannot read %s (%s)' % (path, err))
  if x.ndim == 2 and per_class is None:
    x = x[None]
  if x.ndim == 2:
    require(len(x) % per_class == 0 and len(x) > 0, '%s has %d rows, not a multiple of %d '
            'images per class' % (path, len(x), per_class))
    x = x.reshape(-1, per_class, x.shape[-1])
  require(x.ndim == 3 and min(x.shape) > 0, '%s has shape %s, expected [images, D] or '
          '[classes, images, D]' % (path, x.shape))
  redo = 'write it again with gmvae_main.py --dataset simclr --feature-save-dir %s' % data_dir
  require(np.issubdtype(x.dtype, np.floating), '%s holds %s values, expected float32 '
          'features; %s' % (path, x.dtype, redo))
  require(np.all(np.isfinite(x)), '%s holds non-finite values; %s' % (path, redo))
  return x.astype(np.float32)


def load(data_dir):
  require(os.path.isdir(data_dir), 'feature dir %s does not exist' % data_dir)
  out = {s: load_features(data_dir, s, None if s == 'train' else IMAGES_PER_CLASS)
         for s in SPLITS}
  dims = {s: x.shape[-1] for s, x in out.items()}
  require(len(set(dims.values())) == 1, 'feature widths differ between splits: %s' % dims)
  return out


def read_csv(root, split):
  """Ordered (label, [filenames]) of `<root>/<split>.csv` (header skipped)."""
  path = os.path.join(root, split + '.csv')
  require(os.path.isfile(path), 'missing split file %s (rows: filename,label)' % path)
  classes = {}
  with open(path, newline='') as f:
    rows = csv.reader(f)
    next(rows, None)
    for row in rows:
      require(len(row) >= 2, '%s: bad row %r (expected filename,label)' % (path, row))
      classes.setdefault(row[1], []).append(row[0])
  require(classes, '%s lists no images' % path)
  return list(classes.items())


def load_images(root, split, size=IMAGE_SIZE):
  """All images of a split, csv order, resized to size x size RGB: uint8 [M, size, size, 3]."""
  from PIL import Image
  files = [name for _, names in read_csv(root, split) for name in names]
  out = np.empty((len(files), size, size, 3), np.uint8)
  for i, name in enumerate(progress(files, unit='img', desc='%s images' % split)):
    path = os.path.join(root, 'images', name)
    require(os.path.isfile(path), 'missing image %s (listed in %s.csv)' % (path, split))
    try:
      with Image.open(path) as im:
        out[i] = np.asarray(im.convert('RGB').resize((size, size), Image.BILINEAR))
    except OSError as err:
      raise UserError('cannot read image %s (%s)' % (path, err))
  return out


def save_features(out_dir, split, features):
  os.makedirs(out_dir, exist_ok=True)
  np.save(features_path(out_dir, split), np.asarray(features, np.float32))
