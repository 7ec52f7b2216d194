"""Omniglot (not in l2b) for two consumers, chosen with --layout.

--layout taml (default): TAML's per-class layout, 32x32 RGB float32 in [0,1],
  ink = 1 on background 0 (the PNGs store ink as black; we invert, as common
  Omniglot pipelines do).  Resized from 105x105 with PIL's antialiasing
  bilinear filter on the float ink map; grey replicated to 3 channels.
  The 30 background alphabets (964 characters) are split by a seeded
  permutation into train (964 - n_valid) and valid (n_valid = 100); the 20
  evaluation alphabets (659 characters) are the test split.
  Writes <out>/train.npy, valid.npy, test.npy, each [C, 20, 32, 32, 3].
--layout gmvae: the arrays Meta-GMVAE reads: <out>/train.npy, val.npy, test.npy
  of shape [C, 20, 28, 28, 1].  All 1623 characters are split by a seeded
  permutation into 1200/100/323 (the counts of the authors' arrays: 4800/400/1292
  classes; their split itself is unpublished, so the classes differ) and each
  character gives 4 classes, rotated by 0/90/180/270 degrees (class index =
  4 * character + k for k quarter turns counter-clockwise): 4800/400/1292.
  Resized to 28x28 the way MAML's resize script did it (PIL resize of the
  1-bit PNG, which PIL always does with nearest neighbour), so pixels stay
  binary; ink = 1.

Sources: the original archives images_background.zip / images_evaluation.zip
(downloaded from brendenlake/omniglot if absent), or their .npz form (`images`
bool [C,20,105,105], True = background); `--source` takes either, by extension.
"""
import io
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common.errors import UserError, run_cli  # noqa: E402
from common.progress import progress  # noqa: E402
from data import archive, download  # noqa: E402

URL = 'https://raw.githubusercontent.com/brendenlake/omniglot/master/python/'
# subset -> (md5 of the original zip, md5 of its .npz form)
SUBSETS = {
    'images_background': ('68d2efa1b9178cc56df9314c21c6e718',
                          '042c0a3e1688c4f4dc9d7213db63ee80'),
    'images_evaluation': ('6b91aef0f799c5bb55b94e3f2daec811',
                          'a6277b6770b9241c6906fa797456e652'),
}
DRAWERS = 20
GMVAE_SPLIT = (1200, 100, 323)
_PNG = re.compile(r'(?:^|/)(\d{4})_(\d{2})\.png$')


def read_subset(path):
  """Ink masks of one subset: bool [C, 20, 105, 105], True = ink.

  Accepts the original zip (alphabet/characterNN/XXXX_YY.png; characters are
  ordered by their global id XXXX, drawers by YY) or the .npz form.
  """
  if path.endswith('.npz'):
    with download.reading(path):
      return ~np.load(path)['images']
  by_char = {}
  for name, data in archive.iter_members(path, _PNG.search):
    char, drawer = map(int, _PNG.search(name).groups())
    with download.reading(path):
      by_char.setdefault(char, {})[drawer] = ~np.asarray(
          Image.open(io.BytesIO(data)).convert('1'))
  with download.reading(path):
    if not by_char or any(len(d) != DRAWERS for d in by_char.values()):
      raise ValueError('expected %d drawings of every character' % DRAWERS)
  return np.stack([np.stack([by_char[c][d] for d in sorted(by_char[c])])
                   for c in sorted(by_char)])


def load_subsets(args):
  """{subset name: ink masks} from --source files or downloads."""
  out = {}
  for subset, (zip_md5, npz_md5) in SUBSETS.items():
    src = (download.pick_source(args.source, subset + '.npz')
           or download.pick_source(args.source, subset + '.zip'))
    md5 = npz_md5 if src and src.endswith('.npz') else zip_md5
    name = os.path.basename(src) if src else subset + '.zip'
    path = download.fetch_archive(name, URL + subset + '.zip', args.archives,
                                  md5=md5, source=src, verify=args.verify)
    out[subset] = read_subset(path)
  return out


def resize(ink, size, binary):
  """[..., 105, 105] bool -> float32 [..., size, size] in [0, 1]."""
  flat = progress(ink.reshape(-1, *ink.shape[-2:]), unit='img',
                  desc='resize to %dx%d' % (size, size))
  if binary:  # PIL resizes 1-bit images with nearest neighbour
    small = [np.asarray(Image.fromarray(x).resize((size, size))) for x in flat]
  else:
    small = [np.asarray(Image.fromarray(x.astype(np.float32), 'F').resize(
        (size, size), Image.BILINEAR)) for x in flat]
  small = np.clip(np.asarray(small, np.float32), 0.0, 1.0)
  return small.reshape(*ink.shape[:-2], size, size)


def build_taml(subsets, args):
  background = subsets['images_background']
  n_bg = len(background)
  if not 0 < args.n_valid < n_bg:
    raise UserError('--n_valid must be between 1 and %d' % (n_bg - 1))
  perm = np.random.RandomState(args.seed).permutation(n_bg)
  valid_ids = np.sort(perm[:args.n_valid])
  train_ids = np.sort(perm[args.n_valid:])
  rgb = lambda ink: np.repeat(resize(ink, 32, False)[..., None], 3, axis=-1)
  download.save_split(os.path.join(args.out, 'train.npy'),
                      rgb(background[train_ids]))
  download.save_split(os.path.join(args.out, 'valid.npy'),
                      rgb(background[valid_ids]))
  download.save_split(os.path.join(args.out, 'test.npy'),
                      rgb(subsets['images_evaluation']))


def build_gmvae(subsets, args):
  chars = np.concatenate([subsets['images_background'],
                          subsets['images_evaluation']])
  if len(chars) != sum(GMVAE_SPLIT):
    raise UserError('expected %d characters, found %d'
                    % (sum(GMVAE_SPLIT), len(chars)))
  perm = np.random.RandomState(args.seed).permutation(len(chars))
  bounds = np.cumsum(GMVAE_SPLIT)[:-1]
  for name, ids in zip(('train', 'val', 'test'), np.split(perm, bounds)):
    small = resize(chars[np.sort(ids)], 28, True)  # [C, 20, 28, 28]
    rotated = np.stack([np.rot90(small, k, axes=(-2, -1)) for k in range(4)],
                       axis=1)  # [C, 4, 20, 28, 28]
    download.save_split(os.path.join(args.out, name + '.npy'),
                        rotated.reshape(-1, DRAWERS, 28, 28, 1))


def main(argv=None):
  here = os.path.dirname(os.path.abspath(__file__))
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  parser.add_argument('--layout', choices=('taml', 'gmvae'), default='taml')
  parser.add_argument('--seed', type=download.int_at_least(0), default=1,
                      help='seed of the character split permutation')
  parser.add_argument('--n_valid', type=download.int_at_least(1), default=100,
                      help='taml layout: background characters for valid')
  parser.add_argument('--archives', default=here, metavar='DIR',
                      help='where downloaded archives are kept (default: the '
                      'script folder, shared by both layouts)')
  parser.set_defaults(out=None)
  args = parser.parse_args(argv)
  if args.out is None:
    args.out = os.path.join(here, 'gmvae') if args.layout == 'gmvae' else here
  names = ['train', 'val', 'test'] if args.layout == 'gmvae' else [
      'train', 'valid', 'test']
  if download.splits_done(args.out, names):
    return
  subsets = load_subsets(args)
  (build_gmvae if args.layout == 'gmvae' else build_taml)(subsets, args)


if __name__ == '__main__':
  run_cli(main)
