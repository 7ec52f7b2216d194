"""CUB-200-2011, the out-of-distribution set of the miniImageNet runs, 84x84.

Only valid.npy and test.npy (l2b never meta-trains on CUB).
Default, as l2b: download the authors' ready-made valid.npy and test.npy
(Dropbox; no published checksum).  With `--source CUB_200_2011.tgz` (or the
extracted folder) build them here instead.  l2b does not say how its files
were made, so we use the common few-shot CUB split of Chen et al. (2019): of
the 200 classes in id order, index i % 4 == 1 is valid and i % 4 == 3 is test
(50 classes each; the even ones would be train).  Whole images, RGB, resized
to 84x84, float32 in [0,1]; class sizes differ, so each file is a 1-D object
array of [N_c, 84, 84, 3] arrays.
Run: `python get_data.py` here, or `python data/cub/get_data.py` from the root.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import UserError, run_cli  # noqa: E402
from data import download, images  # noqa: E402

PREBUILT = {
    'valid': 'https://www.dropbox.com/s/2cv4lfdmaja0wq6/valid.npy?dl=1',
    'test': 'https://www.dropbox.com/s/1oxiehzuqvuil60/test.npy?dl=1',
}
ARCHIVE = 'CUB_200_2011.tgz'
ARCHIVE_URL = ('https://data.caltech.edu/records/65de6-vp158/files/'
               'CUB_200_2011.tgz?download=1')
ARCHIVE_MD5 = '97eceeb196236b17998738112f37df78'
SPLIT_OF_REMAINDER = {1: 'valid', 3: 'test'}
_IMAGE = re.compile(r'(?:^|/)images/(\d{3})\.[^/]+/[^/]+\.jpg$')


def class_id(member):
  """0-based class id of an image member (folder NNN.Name), or None."""
  m = _IMAGE.search(member)
  return int(m.group(1)) - 1 if m else None


def build(args):
  path = download.fetch_single_archive(args, ARCHIVE, ARCHIVE_URL, ARCHIVE_MD5)
  wanted = lambda m: (class_id(m) if class_id(m) is not None
                      and class_id(m) % 4 in SPLIT_OF_REMAINDER else None)
  by_class = images.decode_by_class(path, wanted, (84, 84))
  for rem, split in SPLIT_OF_REMAINDER.items():
    ids = sorted(c for c in by_class if c % 4 == rem)
    if not ids:
      raise UserError('%s holds no CUB images (images/NNN.Name/*.jpg)' % path)
    download.save_split(os.path.join(args.out, split + '.npy'),
                        [images.unit_float(by_class[c]) for c in ids])


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  download.prebuilt_or_build(parser.parse_args(argv), PREBUILT, build)


if __name__ == '__main__':
  run_cli(main)
