"""CIFAR-FS (Bertinetto et al. 2019) from CIFAR-100, as l2b prepares it.

The 500 train and 100 test images of each CIFAR-100 fine class are merged
(600 per class, train images first, each in archive order) and the classes are
split 64/16/20 by name.  Writes <out>/train.npy [64,600,32,32,3],
valid.npy [16,...], test.npy [20,...], float32 in [0,1].

l2b went through JPEG files on disk (PIL's default quality 75) and read them
back, so its arrays carry JPEG artefacts; we keep the exact pixels by default
and `--jpeg` reproduces that round trip.
Run: `python get_data.py` here, or `python data/cifar/get_data.py` from the root.
"""
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from common.errors import run_cli  # noqa: E402
from common.progress import progress  # noqa: E402
from data import archive, download, images  # noqa: E402

ARCHIVE = 'cifar-100-python.tar.gz'
URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'
MD5 = 'eb9058c3a382ffc7106e4002c42a8d85'

# The class split of Bertinetto et al., by CIFAR-100 fine label name.
SPLITS = {
    'train': [
        'train', 'skyscraper', 'turtle', 'raccoon', 'spider', 'orange',
        'castle', 'keyboard', 'clock', 'pear', 'girl', 'seal', 'elephant',
        'apple', 'aquarium_fish', 'bus', 'mushroom', 'possum', 'squirrel',
        'chair', 'tank', 'plate', 'wolf', 'road', 'mouse', 'boy', 'shrew',
        'couch', 'sunflower', 'tiger', 'caterpillar', 'lion', 'streetcar',
        'lawn_mower', 'tulip', 'forest', 'dolphin', 'cockroach', 'bear',
        'porcupine', 'bee', 'hamster', 'lobster', 'bowl', 'can', 'bottle',
        'trout', 'snake', 'bridge', 'pine_tree', 'skunk', 'lizard', 'cup',
        'kangaroo', 'oak_tree', 'dinosaur', 'rabbit', 'orchid', 'willow_tree',
        'ray', 'palm_tree', 'mountain', 'house', 'cloud',
    ],
    'valid': [
        'otter', 'motorcycle', 'television', 'lamp', 'crocodile', 'shark',
        'butterfly', 'sea', 'beaver', 'beetle', 'tractor', 'flatfish',
        'maple_tree', 'camel', 'crab', 'cattle',
    ],
    'test': [
        'baby', 'bed', 'bicycle', 'chimpanzee', 'fox', 'leopard', 'man',
        'pickup_truck', 'plain', 'poppy', 'rocket', 'rose', 'snail',
        'sweet_pepper', 'table', 'telephone', 'wardrobe', 'whale', 'woman',
        'worm',
    ],
}


def load_cifar100(path):
  """(uint8 images [N,32,32,3], fine labels [N], class names), train then test."""
  members = archive.read_members(path, {'train', 'test', 'meta'})
  with download.reading(path):
    load = lambda key: pickle.loads(members[key], encoding='bytes')
    names = [n.decode() for n in load('meta')[b'fine_label_names']]
    parts = [load(key) for key in ('train', 'test')]
    pixels = np.concatenate([np.asarray(p[b'data'], np.uint8) for p in parts])
    labels = np.concatenate([np.asarray(p[b'fine_labels']) for p in parts])
    # Rows hold the R, G and B planes one after the other (channel-major).
    pixels = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return pixels, labels, names


def build_split(pixels, labels, names, classes, jpeg):
  """Dense float32 [len(classes), n, 32, 32, 3]; every class must have n."""
  n = np.sum(labels == names.index(classes[0]))
  out = np.empty((len(classes), n, 32, 32, 3), np.float32)
  for i, cls in enumerate(progress(classes, unit='class',
                                   desc='jpeg round trip' if jpeg else 'classes')):
    imgs = pixels[labels == names.index(cls)]
    if len(imgs) != n:  # the real archive has 600 of every class
      raise ValueError('class %s has %d images, %s has %d'
                       % (cls, len(imgs), classes[0], n))
    if jpeg:
      imgs = np.stack([images.jpeg_roundtrip(x) for x in imgs])
    out[i] = images.unit_float(imgs)
  return out


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  parser.add_argument('--jpeg', action='store_true',
                      help="reproduce l2b's JPEG round trip of every image")
  args = parser.parse_args(argv)
  if download.splits_done(args.out, list(SPLITS)):
    return
  path = download.fetch_single_archive(args, ARCHIVE, URL, MD5)
  pixels, labels, names = load_cifar100(path)
  for split, classes in SPLITS.items():
    with download.reading(path):
      data = build_split(pixels, labels, names, classes, args.jpeg)
    download.save_split(os.path.join(args.out, split + '.npy'), data)


if __name__ == '__main__':
  run_cli(main)
