"""MNIST-format (IDX) test sets converted the way l2b converts Fashion-MNIST.

l2b uses Fashion-MNIST as an out-of-distribution set with a test split only:
every image of the 10k test file, as 28x28 grey -> RGB -> resized to 32x32,
divided by 255, grouped by label.  MNIST (not in the original) is converted
identically.  Classes are ordered by label (the original used the order in
which labels first appear in the file; order carries no meaning for episodes).
"""
import os

import numpy as np
from PIL import Image

from common.progress import progress
from data import download, images

IMAGES = 't10k-images-idx3-ubyte.gz'
LABELS = 't10k-labels-idx1-ubyte.gz'


def convert(pixels, labels):
  """uint8 [N,28,28] + labels [N] -> list of per-class float32 [N_c,32,32,3]."""
  # Grey -> RGB copies one channel three times and resizing acts per channel,
  # so resizing the grey image and repeating it gives the same pixels.
  small = np.stack([
      np.asarray(Image.fromarray(p).resize((32, 32), images.RESAMPLE))
      for p in progress(pixels, unit='img', desc='resize to 32x32')])
  rgb = np.repeat(small[..., None], 3, axis=-1)
  return [images.unit_float(rgb[labels == c]) for c in np.unique(labels)]


def main(script_file, title, base_url, md5s, argv=None):
  parser = download.script_parser(
      script_file, '%s test split (OOD) for TAML, 32x32 RGB.' % title)
  args = parser.parse_args(argv)
  if download.splits_done(args.out, ['test']):
    return
  paths = {
      name: download.fetch_archive(
          name, base_url + name, args.out, md5=md5s[name],
          source=download.pick_source(args.source, name), verify=args.verify)
      for name in (IMAGES, LABELS)}
  with download.reading(paths[IMAGES]):
    pixels = images.read_idx_gz(paths[IMAGES])
  with download.reading(paths[LABELS]):
    labels = images.read_idx_gz(paths[LABELS])
  with download.reading(paths[IMAGES]):
    if pixels.shape[0] != labels.shape[0] or pixels.shape[1:] != (28, 28):
      raise ValueError('images %s do not match labels %s'
                       % (pixels.shape, labels.shape))
  download.save_split(os.path.join(args.out, 'test.npy'),
                      convert(pixels, labels))
