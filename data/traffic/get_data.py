"""German Traffic Signs (GTSRB), out-of-distribution set of l2b's multi runs.

As l2b: test.npy only, made of every image of the official training archive
(43 classes, folders GTSRB/Final_Training/Images/000NN/*.ppm), RGB, resized to
32x32, divided by 255.  Classes are in folder order and images in file-name
order (l2b used glob order, which depends on the file system).  Class sizes
differ, so test.npy is a 1-D object array of [N_c, 32, 32, 3] float32 arrays.
Run: `python get_data.py` here, or `python data/traffic/get_data.py`.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import UserError, run_cli  # noqa: E402
from data import download, images  # noqa: E402

ARCHIVE = 'GTSRB_Final_Training_Images.zip'
URL = ('https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/'
       'GTSRB_Final_Training_Images.zip')
MD5 = 'f33fd80ac59bff73c82d25ab499e03a3'
_IMAGE = re.compile(r'Final_Training/Images/(\d{5})/[^/]+\.ppm$')


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  args = parser.parse_args(argv)
  if download.splits_done(args.out, ['test']):
    return
  path = download.fetch_single_archive(args, ARCHIVE, URL, MD5)
  class_of = lambda m: int(_IMAGE.search(m).group(1)) if _IMAGE.search(m) \
      else None
  by_class = images.decode_by_class(path, class_of, (32, 32))
  if not by_class:
    raise UserError('%s holds no GTSRB training images' % path)
  download.save_split(os.path.join(args.out, 'test.npy'),
                      [images.unit_float(by_class[c]) for c in sorted(by_class)])


if __name__ == '__main__':
  run_cli(main)
