"""SVHN, the out-of-distribution set of the CIFAR-FS runs: valid.npy, test.npy.

Class c holds SVHN label c + 1, so digits 1..9 are classes 0..8 and label 10
(digit 0) is class 9: l2b's `val_idx.npy` indexes the classes in that order.
valid: --ver 1 (default) takes, for every class, the images of train_32x32.mat
that l2b's val_idx.npy lists (10 x 600 indices into that class's images in file
order); --ver 2 takes 600 random images per class (seeded like l2b, --seed 222).
test: every image of test_32x32.mat, grouped by class (unequal class sizes, so
a 1-D object array of [N_c, 32, 32, 3] float32 arrays in [0,1]).
Run: `python get_data.py` here, or `python data/svhn/get_data.py` from the root.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402

from common.errors import UserError, run_cli  # noqa: E402
from data import download, images  # noqa: E402

URL = 'http://ufldl.stanford.edu/housenumbers/'
MD5 = {
    'train_32x32.mat': 'e26dedcc434d2e4c54c9b2d4a06d8373',
    'test_32x32.mat': 'eb5a983be6a315427106f1b6b1aea3b6',
}
VAL_IDX = 'val_idx.npy'
VAL_IDX_URL = ('https://raw.githubusercontent.com/haebeom-lee/l2b/master/'
               'data/svhn/val_idx.npy')
VAL_IDX_MD5 = 'b1b2527bfbe11c0810cdf1db7ae21f24'
N_CLASSES = 10
VALID_PER_CLASS = 600


def load_per_class(path):
  """uint8 images of a SVHN .mat file, as a list over the 10 classes."""
  with download.reading(path):
    mat = scipy.io.loadmat(path)
    pixels = np.transpose(mat['X'], (3, 0, 1, 2))  # [32,32,3,N] -> [N,32,32,3]
    classes = mat['y'].reshape(-1).astype(np.int64) - 1
    if pixels.shape[1:] != (32, 32, 3) or len(classes) != len(pixels):
      raise ValueError('unexpected shapes X %s, y %s'
                       % (mat['X'].shape, mat['y'].shape))
    if classes.min() < 0 or classes.max() >= N_CLASSES:
      raise ValueError('labels outside 1..10')
  return [pixels[classes == c] for c in range(N_CLASSES)]


def validation(train, ver, val_idx, seed):
  if ver == 1:
    try:
      return [train[c][val_idx[c]] for c in range(N_CLASSES)]
    except IndexError:
      raise UserError('val_idx.npy does not index this train_32x32.mat '
                      '(wrong file?)') from None
  # As l2b: one global seed, then one shuffle of each class in class order.
  rng = np.random.RandomState(seed)
  out = []
  for c in range(N_CLASSES):
    idx = np.arange(len(train[c]))
    rng.shuffle(idx)
    out.append(train[c][idx[:VALID_PER_CLASS]])
  return out


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  parser.add_argument('--ver', type=int, choices=(1, 2), default=1,
                      help="1: l2b's validation images, 2: random 600/class")
  parser.add_argument('--seed', type=download.int_at_least(0), default=222,
                      help='for --ver 2')
  parser.add_argument('--val_idx', default=None, metavar='PATH', type=download.existing_path,
                      help="l2b's data/svhn/val_idx.npy (downloaded if absent)")
  args = parser.parse_args(argv)
  if download.splits_done(args.out, ['valid', 'test']):
    return
  fetch = lambda name, url, md5, src: download.fetch_archive(
      name, url, args.out, md5=md5, source=src, verify=args.verify)
  paths = {name: fetch(name, URL + name, md5,
                       download.pick_source(args.source, name))
           for name, md5 in MD5.items()}
  val_idx = None
  if args.ver == 1:
    path = fetch(VAL_IDX, VAL_IDX_URL, VAL_IDX_MD5,
                 args.val_idx or download.pick_source(args.source, VAL_IDX))
    with download.reading(path):
      val_idx = np.load(path)
      if len(val_idx) != N_CLASSES:
        raise ValueError('expected %d rows, got %d' % (N_CLASSES, len(val_idx)))

  train = load_per_class(paths['train_32x32.mat'])
  valid = validation(train, args.ver, val_idx, args.seed)
  del train
  download.save_split(os.path.join(args.out, 'valid.npy'),
                      [images.unit_float(x) for x in valid])
  test = load_per_class(paths['test_32x32.mat'])
  download.save_split(os.path.join(args.out, 'test.npy'),
                      [images.unit_float(x) for x in test])


if __name__ == '__main__':
  run_cli(main)
