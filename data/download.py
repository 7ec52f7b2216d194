"""What every `data/<name>/get_data.py` shares: fetch, verify, save, skip.

* `fetch_archive` finds a source file (a path the user gave with `--source`, a
  copy already in the dataset folder, or a download), and checks its checksum.
  Offline, or when a download fails, it raises `UserError` naming the file, the
  URL and where to put it, instead of a traceback.
* `save_split` writes one split in the layout the TAML loader reads: a dense
  float32 array [C, N, H, W, ch] when every class has N images, else a 1-D object
  array of per-class float32 arrays.  It writes atomically, so a killed run
  never leaves a half-written `.npy` that a later run would take as finished.
* `splits_done` lets a script skip all work when its outputs already exist.

Setting the environment variable L2B_OFFLINE=1 forbids any download (CI and
tests use it to exercise the offline error path deterministically).
"""
import argparse
import contextlib
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request

import numpy as np

from common.errors import ArgumentParser, UserError
from common.run_dir import os_errors

OFFLINE_ENV = 'L2B_OFFLINE'
# Archives already on the machine: $SHARED_DATASETS/<name>/ (empty: look nowhere), by
# default ../shared/datasets/<name>/ beside the checkout (what the quickstarts use).
SHARED_ENV = 'SHARED_DATASETS'
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CHUNK = 1 << 20


def script_parser(script_file, description):
  """argparse parser with the flags every get_data script has.

  --out defaults to the script's own folder, as the original scripts wrote
  their .npy files next to themselves.  Without --source, the archives of
  `shared_folder` are used when it exists (said so on stdout).
  """
  name = os.path.basename(os.path.dirname(os.path.abspath(script_file)))
  parser = _ScriptParser(description=description, prog='data/%s/get_data.py' % name)
  parser.dataset = name
  parser.add_argument(
      '--out', default=os.path.dirname(os.path.abspath(script_file)),
      help='folder for the .npy splits (default: the script folder)')
  parser.add_argument(
      '--source', nargs='+', default=None, metavar='PATH', type=existing_path,
      help='already downloaded archive file(s), or folder(s) holding them')
  parser.add_argument(
      '--no-verify', dest='verify', action='store_false',
      help='do not check archive checksums (prints a warning)')
  return parser


def prepare_out(out):
  """Create the --out folder, or `UserError` saying why it cannot hold the splits
  (a file, a broken link or link loop, read-only, a path too long).  None: the
  script's own folder (the default), which the checkout provides."""
  if out is None:
    return
  if os.path.lexists(out) and not os.path.exists(out):
    raise UserError('--out %s is a broken symbolic link or a link loop' % out)
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserError('--out %s is a file, not a folder' % out)
  with os_errors('cannot create --out %s' % out):
    os.makedirs(out, exist_ok=True)
  if not os.access(out, os.W_OK):
    raise UserError('--out %s is not writable (read-only or permission denied)' % out)


@contextlib.contextmanager
def temp_beside(path):
  """A temp name beside `path`, removed if the block fails (a full disk, a kill
  signal); the block renames it into place."""
  tmp = '%s.tmp-%d' % (path, os.getpid())
  try:
    yield tmp
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def shared_folder(name):
  """`$SHARED_DATASETS/<name>` (default `<repo>/../shared/datasets/<name>`) if it is a
  folder, else None."""
  root = os.environ.get(SHARED_ENV, os.path.join(os.path.dirname(REPO), 'shared', 'datasets'))
  path = os.path.join(root, name) if root else ''
  return path if path and os.path.isdir(path) else None


class _ScriptParser(ArgumentParser):
  dataset = None

  def parse_args(self, args=None, namespace=None):
    args = super().parse_args(args, namespace)
    prepare_out(args.out)
    if args.source is None and self.dataset:
      found = shared_folder(self.dataset)
      if found:
        print('looking for the archives in %s (shared datasets; --source PATH to use '
              'others, %s= to turn this off)' % (found, SHARED_ENV), flush=True)
        args.source = [found]
    return args


def existing_path(path):
  """argparse type: a file or folder that exists (`--source` typos named as such)."""
  if not os.path.exists(path):
    raise argparse.ArgumentTypeError('%s: no such file or folder' % path)
  return path


def int_at_least(low):
  """argparse type: an integer >= `low`."""
  def parse(text):
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError('not an integer: %r' % text)
    if value < low:
      raise argparse.ArgumentTypeError('must be >= %d, got %d' % (low, value))
    return value
  parse.__name__ = 'integer'
  return parse


def file_digest(path, algo):
  h = hashlib.new(algo)
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK), b''):
      h.update(chunk)
  return h.hexdigest()


def _check(path, name, url, md5, sha256, verify):
  """Raise UserError unless `path` has the expected checksum."""
  if not verify:
    print('warning: checksum of %s not verified (--no-verify): results may '
          'differ from the published data' % path, file=sys.stderr, flush=True)
    return
  if md5 is None and sha256 is None:
    print('note: no published checksum for %s; using it unchecked' % name,
          flush=True)
    return
  algo, want = ('md5', md5) if md5 is not None else ('sha256', sha256)
  got = file_digest(path, algo)
  if got != want:
    raise UserError(
        '%s has %s %s, expected %s: it is truncated or not the original file; '
        'delete it and download it again from %s' % (path, algo, got, want, url))


def fetch_single_archive(args, name, url, md5):
  """`fetch_archive` for a dataset made from one archive, with the script's flags."""
  return fetch_archive(name, url, args.out, md5=md5, verify=args.verify,
                       source=pick_source(args.source, name, single=True))


def pick_source(sources, name, single=False):
  """The path among `sources` (files or folders) that provides `name`, or None.

  A folder provides `name` when it holds a file of that name; a file provides
  it when its base name is `name`.  With `single` (a dataset made from one
  archive), one file given alone is taken whatever its name: users rename.
  """
  if not sources:
    return None
  for src in sources:
    if os.path.isdir(src) and os.path.isfile(os.path.join(src, name)):
      return os.path.join(src, name)
    if os.path.basename(src) == name:
      return src
  if single and len(sources) == 1 and not os.path.isdir(sources[0]):
    return sources[0]
  return None


def fetch_archive(name, url, dest_dir, md5=None, sha256=None, source=None,
                  verify=True):
  """Return the path of a verified copy of archive `name`.

  Order: `source` (used in place, never copied: archives are large), then
  `dest_dir/name` if present, then a download of `url` to `dest_dir/name`.
  """
  if source is not None:
    if os.path.isdir(source):
      source = os.path.join(source, name)
    if not os.path.isfile(source):
      raise UserError('--source %s: no such file (expected %s, from %s)'
                      % (source, name, url))
    _check(source, name, url, md5, sha256, verify)
    print('using %s' % source, flush=True)
    return source

  os.makedirs(dest_dir, exist_ok=True)
  path = os.path.join(dest_dir, name)
  if os.path.isfile(path):
    _check(path, name, url, md5, sha256, verify)
    print('%s already present, not downloading it again' % path, flush=True)
    return path

  _download(url, path, name, dest_dir)
  try:
    _check(path, name, url, md5, sha256, verify)
  except UserError:
    os.remove(path)  # a bad download must not pass as present next time
    raise
  return path


def _download(url, path, name, dest_dir):
  """Download `url` to `path` through `path.part`, with a progress bar."""
  def fail(reason):
    return UserError(
        '%s not found and could not be downloaded (%s); download it from %s '
        'and pass --source PATH or put it in %s/' % (name, reason, url, dest_dir))

  if os.environ.get(OFFLINE_ENV, '') not in ('', '0'):
    raise fail('offline: %s is set' % OFFLINE_ENV)
  from common.progress import progress
  part = path + '.part'
  print('downloading %s from %s' % (name, url), flush=True)
  try:
    req = urllib.request.Request(url, headers={'User-Agent': 'l2b-get-data'})
    with urllib.request.urlopen(req, timeout=60) as resp, open(part, 'wb') as f:
      total = resp.headers.get('Content-Length')
      with progress(total=int(total) if total else None, unit='B', unit_scale=True,
                    unit_divisor=1024, desc=name) as bar:
        for chunk in iter(lambda: resp.read(_CHUNK), b''):
          f.write(chunk)
          bar.update(len(chunk))
    os.replace(part, path)
  except (urllib.error.URLError, OSError, ValueError) as err:
    raise fail(getattr(err, 'reason', None) or err) from None
  finally:   # also on Ctrl-C / SIGTERM: no half download left behind
    if os.path.exists(part):
      os.remove(part)


@contextlib.contextmanager
def reading(path):
  """Turn any failure to parse an archive into one clear UserError."""
  try:
    yield
  except UserError:
    raise
  except Exception as err:  # tarfile, zipfile, gzip, pickle, scipy all differ
    raise UserError('cannot read %s (%s: %s): it is truncated or corrupt; '
                    'delete it and download it again'
                    % (path, type(err).__name__, err)) from None


def splits_done(out_dir, names):
  """True (and says so) when every `<out_dir>/<name>.npy` already exists."""
  paths = [os.path.join(out_dir, n + '.npy') for n in names]
  if all(os.path.isfile(p) for p in paths):
    print('skipping: %s already in %s (delete to rebuild)'
          % (', '.join(n + '.npy' for n in names), out_dir), flush=True)
    return True
  return False


def save_split(path, per_class):
  """Save a per-class image list as the TAML loader expects; atomically.

  `per_class` is either a dense array [C, N, ...] or a list of [N_c, ...]
  arrays.  Equal class sizes give a dense float32 array, unequal ones a 1-D
  object array (np.save pickles it; the loader uses allow_pickle).
  """
  if isinstance(per_class, np.ndarray) and per_class.dtype != object:
    arr = per_class.astype(np.float32, copy=False)
  elif len({c.shape for c in per_class}) == 1:
    arr = np.stack([np.asarray(c, np.float32) for c in per_class])
  else:
    arr = np.empty(len(per_class), dtype=object)
    for i, c in enumerate(per_class):
      arr[i] = np.asarray(c, np.float32)
  with os_errors('cannot write %s' % path), temp_beside(path) as tmp:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, 'wb') as f:
      np.save(f, arr, allow_pickle=arr.dtype == object)
    os.replace(tmp, path)
  counts = [len(c) for c in arr]
  print('wrote %s: %d classes, %d-%d images per class, image shape %s'
        % (path, len(arr), min(counts), max(counts), arr[0].shape[1:]),
        flush=True)


def install_prebuilt(args, urls):
  """Fetch the authors' ready-made split files {split: url} into args.out.

  l2b ships quickdraw, miniImageNet and CUB only as .npy files on Dropbox (no
  published checksum); a copy given with --source is copied into args.out,
  because the loader reads <out>/<split>.npy.
  """
  os.makedirs(args.out, exist_ok=True)
  for split, url in urls.items():
    name = split + '.npy'
    dest = os.path.join(args.out, name)
    if os.path.isfile(dest):
      print('%s already present' % dest, flush=True)
      continue
    path = fetch_archive(name, url, args.out, verify=args.verify,
                         source=pick_source(args.source, name))
    if os.path.abspath(path) != os.path.abspath(dest):
      with os_errors('cannot write %s' % dest), temp_beside(dest) as tmp:
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)
      print('copied %s to %s' % (path, dest), flush=True)


def prebuilt_or_build(args, urls, build=None):
  """Main body of the scripts whose original downloads ready-made .npy files.

  Without --source, or with --source naming .npy files (or a folder of them),
  install the authors' files; with a raw image archive, `build(args)` converts
  it here.  Quits early when the outputs already exist.
  """
  if splits_done(args.out, list(urls)):
    return
  npy = lambda p: p.endswith('.npy') or any(
      os.path.isfile(os.path.join(p, s + '.npy')) for s in urls)
  if build is not None and args.source and not any(map(npy, args.source)):
    build(args)
  else:
    install_prebuilt(args, urls)
