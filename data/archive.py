"""Read members of a .tar(.gz)/.tgz/.zip archive, or files of a folder, in one pass.

The scripts never extract archives to disk (the originals did, then deleted the
folders): streaming the members keeps the dataset folder clean and lets a
killed run restart from the archive alone.  Tar archives are read as a stream
(`r|*`), so a 2 GB .tar.gz is decompressed once, front to back.
"""
import os
import tarfile
import zipfile

from common.progress import progress
from data.download import reading


def iter_members(path, want):
  """Yield (member name, bytes) for every file whose name satisfies `want`.

  Names use '/' separators and are relative to the archive (or folder) root.
  Any decoding failure becomes a one-line UserError (see `reading`).  A progress
  bar counts the files (folder, zip) or the archive bytes read (tar streams).
  """
  desc = os.path.basename(os.path.normpath(path))
  with reading(path):
    if os.path.isdir(path):
      names = []
      for root, _, files in os.walk(path):
        for fname in sorted(files):
          full = os.path.join(root, fname)
          name = os.path.relpath(full, path).replace(os.sep, '/')
          if want(name):
            names.append((name, full))
      for name, full in progress(names, unit='file', desc=desc):
        with open(full, 'rb') as f:
          yield name, f.read()
    elif zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and want(i.filename)]
        for info in progress(infos, unit='file', desc=desc):
          yield info.filename, zf.read(info)
    else:
      from tqdm.utils import CallbackIOWrapper
      with open(path, 'rb') as raw, progress(total=os.path.getsize(path), unit='B',
                                             unit_scale=True, unit_divisor=1024,
                                             desc=desc) as bar:
        with tarfile.open(fileobj=CallbackIOWrapper(bar.update, raw, 'read'),
                          mode='r|*') as tf:
          for member in tf:
            if member.isfile() and want(member.name):
              yield member.name, tf.extractfile(member).read()


def read_members(path, names):
  """{name: bytes} for the members whose base name is in `names` (all needed)."""
  found = {}
  for name, data in iter_members(path, lambda n: n.rsplit('/', 1)[-1] in names):
    found[name.rsplit('/', 1)[-1]] = data
  missing = sorted(set(names) - set(found))
  with reading(path):
    if missing:
      raise KeyError('no member named %s' % ', '.join(missing))
  return found
