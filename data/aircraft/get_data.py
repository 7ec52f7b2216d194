"""FGVC-Aircraft, in-distribution set of l2b's multi-dataset runs, 32x32.

As l2b: the 100 variants are split 70/15/15 by name (lists below), every image
(trainval and test lists together, ordered by file name) is cropped to its
bounding box (images_box.txt, as Meta-Dataset does), resized to 32x32 RGB and
divided by 255.  Writes <out>/train.npy, valid.npy, test.npy [C,100,32,32,3].
Run: `python get_data.py` here, or `python data/aircraft/get_data.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import UserError, run_cli  # noqa: E402
from data import archive, download, images  # noqa: E402

ARCHIVE = 'fgvc-aircraft-2013b.tar.gz'
URL = ('https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/'
       'fgvc-aircraft-2013b.tar.gz')
MD5 = 'd4acdd33327262359767eeaa97a4f732'
SPLITS = {
    'train': [
        'A340-300', 'A318', 'Falcon 2000', 'F-16A/B', 'F/A-18', 'C-130',
        'MD-80', 'BAE 146-200', '777-200', '747-400', 'Cessna 172', 'An-12',
        'A330-300', 'A321', 'Fokker 100', 'Fokker 50', 'DHC-1', 'Fokker 70',
        'A340-200', 'DC-6', '747-200', 'Il-76', '747-300', 'Model B200',
        'Saab 340', 'Cessna 560', 'Dornier 328', 'E-195', 'ERJ 135', '747-100',
        '737-600', 'C-47', 'DR-400', 'ATR-72', 'A330-200', '727-200',
        '737-700', 'PA-28', 'ERJ 145', '737-300', '767-300', '737-500',
        '737-200', 'DHC-6', 'Falcon 900', 'DC-3', 'Eurofighter Typhoon',
        'Challenger 600', 'Hawk T1', 'A380', '777-300', 'E-190', 'DHC-8-100',
        'Cessna 525', 'Metroliner', 'EMB-120', 'Tu-134', 'Embraer Legacy 600',
        'Gulfstream IV', 'Tu-154', 'MD-87', 'A300B4', 'A340-600', 'A340-500',
        'MD-11', '707-320', 'Cessna 208', 'Global Express', 'A319', 'DH-82',
    ],
    'valid': [
        '737-900', '757-300', '767-200', 'A310', 'A320', 'BAE 146-300',
        'CRJ-900', 'DC-10', 'DC-8', 'DC-9-30', 'DHC-8-300', 'Gulfstream V',
        'SR-20', 'Tornado', 'Yak-42',
    ],
    'test': [
        '737-400', '737-800', '757-200', '767-400', 'ATR-42', 'BAE-125',
        'Beechcraft 1900', 'Boeing 717', 'CRJ-200', 'CRJ-700', 'E-170',
        'L-1011', 'MD-90', 'Saab 2000', 'Spitfire',
    ],
}
LISTS = ('images_box.txt', 'images_variant_trainval.txt',
         'images_variant_test.txt')


def parse_lists(texts):
  """({image id: variant}, {image id: (x0, y0, x1, y1)}) from the list files."""
  variant, box = {}, {}
  for name in LISTS[1:]:
    for line in texts[name].decode().splitlines():
      if line.strip():
        image_id, var = line.split(' ', 1)
        variant[image_id] = var
  for line in texts[LISTS[0]].decode().splitlines():
    if line.strip():
      image_id, *coords = line.split()
      box[image_id] = tuple(int(v) for v in coords)
  return variant, box


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  args = parser.parse_args(argv)
  if download.splits_done(args.out, list(SPLITS)):
    return
  path = download.fetch_single_archive(args, ARCHIVE, URL, MD5)
  # Two streaming passes (lists, then images): a .tar.gz has no random access.
  with download.reading(path):
    variant, box = parse_lists(archive.read_members(path, set(LISTS)))
  image_id = lambda m: m.rsplit('/', 1)[-1][:-len('.jpg')]
  is_image = lambda m: '/images/' in m and m.endswith('.jpg')
  by_class = images.decode_by_class(
      path, lambda m: variant.get(image_id(m)) if is_image(m) else None,
      (32, 32), box_of=lambda m: box[image_id(m)])
  for split, classes in SPLITS.items():
    missing = [c for c in classes if c not in by_class]
    if missing:
      raise UserError('%s has no images of variant %s' % (path, missing[0]))
    download.save_split(os.path.join(args.out, split + '.npy'),
                        [images.unit_float(by_class[c]) for c in classes])


if __name__ == '__main__':
  run_cli(main)
