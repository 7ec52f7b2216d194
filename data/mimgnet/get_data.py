"""miniImageNet (Vinyals et al.; Ravi & Larochelle split), 84x84: train/valid/test.

Default, as l2b: download the authors' ready-made train.npy, valid.npy and
test.npy (Dropbox; no published checksum).  With `--source IMAGES`, where
IMAGES is the usual miniImageNet image archive (.zip/.tar) or folder (files
named like n0153282900000005.jpg), build them here instead: the 64/16/20
classes of Ravi & Larochelle's train/val/test.csv (600 images each, csv
order), each image RGB, resized to 84x84, float32 in [0,1].  The csv files
come from `--splits_dir` or are downloaded from twitter-research/meta-learning-lstm.
Run: `python get_data.py` here, or `python data/mimgnet/get_data.py` from the root.
"""
import csv
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from common.errors import UserError, run_cli  # noqa: E402
from data import download, images  # noqa: E402

PREBUILT = {
    'train': 'https://www.dropbox.com/s/llfp5p6vymiabzl/train.npy?dl=1',
    'valid': 'https://www.dropbox.com/s/f1jz6valn6j42jk/valid.npy?dl=1',
    'test': 'https://www.dropbox.com/s/o0mg0b83978yu5y/test.npy?dl=1',
}
CSV_URL = ('https://raw.githubusercontent.com/twitter-research/'
           'meta-learning-lstm/master/data/miniImagenet/')
# split -> (csv file, md5 of the csv)
CSVS = {
    'train': ('train.csv', '9525e1538f67719f18f1936bf8d0782d'),
    'valid': ('val.csv', 'ce315ce99b41fbf84fa6acd69315d918'),
    'test': ('test.csv', '5b89df877c6cbe5d291e43118a2a9591'),
}
SIZE = (84, 84)


def read_split_csv(path):
  """[(file name, class)] rows of a Ravi & Larochelle csv (header skipped)."""
  with download.reading(path), open(path, newline='') as f:
    rows = list(csv.reader(io.StringIO(f.read())))
    if rows[0] != ['filename', 'label']:
      raise ValueError('header is %s, expected filename,label' % rows[0])
  return [tuple(r) for r in rows[1:] if r]


def build(args):
  rows = {}
  for split, (name, md5) in CSVS.items():
    path = download.fetch_archive(
        name, CSV_URL + name, args.out, md5=md5, verify=args.verify,
        source=download.pick_source([args.splits_dir] if args.splits_dir
                                    else None, name))
    rows[split] = read_split_csv(path)
  class_of_file = {f: c for split_rows in rows.values() for f, c in split_rows}
  source = args.source[0]
  # Each wanted file is its own group here; classes are assembled below.
  base = lambda member: member.rsplit('/', 1)[-1]
  by_file = images.decode_by_class(
      source, lambda m: base(m) if base(m) in class_of_file else None, SIZE)
  for split, split_rows in rows.items():
    missing = [f for f, _ in split_rows if f not in by_file]
    if missing:
      raise UserError('%s lacks %d images of %s.csv (e.g. %s): not the '
                      'miniImageNet image set' % (source, len(missing),
                                                  split, missing[0]))
    classes = list(dict.fromkeys(c for _, c in split_rows))  # csv order
    per_class = [np.concatenate([by_file[f] for f, c in split_rows if c == cls])
                 for cls in classes]
    download.save_split(os.path.join(args.out, split + '.npy'),
                        [images.unit_float(x) for x in per_class])


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  parser.add_argument('--splits_dir', default=None, metavar='DIR', type=download.existing_path,
                      help='folder with train.csv, val.csv, test.csv')
  download.prebuilt_or_build(parser.parse_args(argv), PREBUILT, build)


if __name__ == '__main__':
  run_cli(main)
