"""Quick Draw, in-distribution set of l2b's multi-dataset runs, 32x32.

As l2b: the authors' ready-made train.npy, valid.npy and test.npy are
downloaded from Dropbox (the original has no conversion code for Quick Draw
and no checksum).  `--source` takes copies already downloaded (files or a
folder holding them).
Run: `python get_data.py` here, or `python data/quickdraw/get_data.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import run_cli  # noqa: E402
from data import download  # noqa: E402

PREBUILT = {
    'train': 'https://www.dropbox.com/s/33evycb4c997ya9/train.npy?dl=1',
    'valid': 'https://www.dropbox.com/s/y2azjtm7glnq40x/valid.npy?dl=1',
    'test': 'https://www.dropbox.com/s/j3n419htp5pjkec/test.npy?dl=1',
}


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  download.prebuilt_or_build(parser.parse_args(argv), PREBUILT)


if __name__ == '__main__':
  run_cli(main)
