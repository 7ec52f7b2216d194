"""Checkpoints that a kill at any instant cannot leave half written.

A checkpoint is one folder, committed as a unit:

  <directory>/<name>-<step>/weights.index, weights.data-*   tf.train.Checkpoint.write
                            state.json   the host-side state (samplers, RNGs, counters)
                                         and the size + sha256 of every file above
                            checkpoint   TensorFlow's pointer file, so that
                                         tf.train.load_checkpoint(<folder>) works

It is written into `.tmp-<name>-<step>-<pid>/`, every file fsync'd, then renamed
into place (a rename is atomic) and the parent folder fsync'd.  On restore, a
folder whose files do not match its manifest (truncated, corrupt, half copied) is
skipped with a warning and the next older one is used; temp leftovers of killed
runs are removed.  Non-finite weights are never written: `save` refuses them, so
rotation can never delete the newest finite checkpoint.
"""
import errno
import hashlib
import json
import os
import re
import shutil
import signal

import numpy as np

from common import distribute
from common.errors import UserError
from common.run_dir import fsync_dir, os_errors

WEIGHTS = 'weights'
STATE_FILE = 'state.json'
POINTER_FILE = 'checkpoint'
TMP_PREFIX = '.tmp-'


# Fault injection for the crash tests (tests/test_run_lifecycle.py): with
# CHECKPOINT_KILL_AT=<point>:<n> the process SIGKILLs itself the n-th time it
# reaches <point> of a checkpoint write.  Unset, `_crash_point` does nothing.
_KILL_AT = os.environ.get('CHECKPOINT_KILL_AT', '')
_reached = {}


def _crash_point(point):
  if not _KILL_AT.startswith(point + ':'):
    return
  _reached[point] = _reached.get(point, 0) + 1
  if _reached[point] == int(_KILL_AT.split(':')[1]):
    os.kill(os.getpid(), signal.SIGKILL)


def _sha256(path):
  digest = hashlib.sha256()
  with open(path, 'rb') as fh:
    for block in iter(lambda: fh.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _fsync_file(path):
  with open(path, 'rb') as fh:
    os.fsync(fh.fileno())


def non_finite(variables):
  """Names of the variables (name -> tf.Variable) holding a NaN or an infinity."""
  values = {name: np.asarray(var) for name, var in variables.items()}
  return [name for name, value in values.items()
          if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value))]


def write_folder(path, checkpoint, state=None):
  """Commit `checkpoint` + `state` (JSON-able) as the new folder `path`.

  An existing `path` (the same step saved again) is moved aside first, so a kill
  in between loses at most that one folder, never an older checkpoint.
  """
  parent, name = os.path.split(os.path.abspath(path))
  tmp = os.path.join(parent, '%s%s-%d' % (TMP_PREFIX, name, os.getpid()))
  old = os.path.join(parent, '%sold-%s-%d' % (TMP_PREFIX, name, os.getpid()))
  try:
    with os_errors('cannot write checkpoint %s' % path):
      shutil.rmtree(tmp, ignore_errors=True)
      os.makedirs(tmp)
      _write_weights(checkpoint, os.path.join(tmp, WEIGHTS))
      _crash_point('weights_written')
      files = {}
      for fname in sorted(os.listdir(tmp)):
        _fsync_file(os.path.join(tmp, fname))
        files[fname] = [os.path.getsize(os.path.join(tmp, fname)),
                        _sha256(os.path.join(tmp, fname))]
      with open(os.path.join(tmp, POINTER_FILE), 'w') as fh:
        fh.write('model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n'
                 % (WEIGHTS, WEIGHTS))
      with open(os.path.join(tmp, STATE_FILE), 'w') as fh:
        json.dump({'state': state or {}, 'files': files}, fh)
        fh.flush()
        os.fsync(fh.fileno())
      fsync_dir(tmp)
      _crash_point('state_written')
      if os.path.lexists(path):
        os.rename(path, old)
      os.rename(tmp, path)
      fsync_dir(parent)
      _crash_point('renamed')
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _write_weights(checkpoint, prefix):
  """`checkpoint.write(prefix)`, with TensorFlow's I/O failures as `OSError`."""
  import tensorflow as tf
  try:
    checkpoint.write(prefix)
  except tf.errors.OpError as err:
    message = str(err).strip().splitlines()[0]
    full = 'space' in message.lower() or 'quota' in message.lower()
    raise OSError(errno.ENOSPC if full else errno.EIO, message)


def publish_folder(link, step, checkpoint, state=None):
  """Write `<link>-<step>/` and point the symlink `link` at it atomically (a
  reader sees the previous folder or the new one, never none); the previous
  target is then removed."""
  parent, name = os.path.split(os.path.abspath(link))
  target = '%s-%d' % (name, step)
  write_folder(os.path.join(parent, target), checkpoint, state)
  _crash_point('published_folder')
  tmp_link = os.path.join(parent, '%slink-%s-%d' % (TMP_PREFIX, name, os.getpid()))
  with os_errors('cannot update %s' % link):
    if os.path.isdir(link) and not os.path.islink(link):   # a folder of an older version
      shutil.rmtree(link)
    if os.path.lexists(tmp_link):
      os.remove(tmp_link)
    os.symlink(target, tmp_link)
    os.replace(tmp_link, link)
    fsync_dir(parent)
  # the previous target, and what a kill left: unpublished folders, temp leftovers
  folder = re.compile(r'^%s-\d+$' % re.escape(name))
  leftover = re.compile(r'(^|-)%s-\d+' % re.escape(name))
  for fname in os.listdir(parent):
    temp = fname.startswith(TMP_PREFIX) and leftover.search(fname[len(TMP_PREFIX):])
    if (folder.match(fname) or temp) and fname != target:
      path = os.path.join(parent, fname)
      if os.path.islink(path):
        os.remove(path)
      else:
        shutil.rmtree(path, ignore_errors=True)


def verify_folder(path):
  """The folder's state dict if every file matches its manifest, else None."""
  try:
    with open(os.path.join(path, STATE_FILE)) as fh:
      manifest = json.load(fh)
    for fname, (size, digest) in manifest['files'].items():
      fpath = os.path.join(path, fname)
      if os.path.getsize(fpath) != size or _sha256(fpath) != digest:
        return None
    return manifest['state']
  except (OSError, ValueError, KeyError, TypeError):
    return None


def read_folder(path, checkpoint, check=None):
  """Restore `checkpoint` from a verified folder; `check(status)` may assert on
  the restore status (e.g. `assert_existing_objects_matched`).  Returns its state."""
  state = verify_folder(path)
  if state is None:
    raise UserError('checkpoint %s is incomplete or corrupt; remove it or use another run '
                    'directory' % path)
  _read(path, checkpoint, check)
  return state


def _read(path, checkpoint, check):
  import tensorflow as tf
  try:
    status = checkpoint.read(os.path.join(path, WEIGHTS))
    if check is not None:
      check(status)
    else:
      status.expect_partial()
  except (AssertionError, ValueError, tf.errors.OpError) as err:
    raise UserError('checkpoint %s does not fit this configuration (%s)'
                    % (path, str(err).strip().splitlines()[0]))


def numbered_steps(directory, name):
  """Steps of the committed folders `<directory>/<name>-<step>`, oldest first."""
  if not os.path.isdir(directory):
    return []
  pattern = re.compile(r'^%s-(\d+)$' % re.escape(name))
  found = (pattern.match(n) for n in os.listdir(directory))
  return sorted(int(m.group(1)) for m in found if m)


class CheckpointStore:
  """The numbered checkpoints `<directory>/<name>-<step>/` of one run.

  checkpoint: the `tf.train.Checkpoint` to write / restore.
  watch: name -> variable, checked finite before every save.
  keep: how many numbered checkpoints stay (the oldest are removed).
  strategy: a multi-worker strategy makes every worker take part in the write
    (a collective); only the chief's folder is kept.
  """

  def __init__(self, directory, checkpoint, watch, keep=3, name='ckpt', strategy=None,
               log=print):
    self.directory, self.checkpoint, self.watch = directory, checkpoint, watch
    self.keep, self.name, self.log = keep, name, log
    self.strategy = strategy
    self.chief = strategy is None or distribute.is_chief(strategy)
    if self.chief:
      with os_errors('cannot create %s' % directory):
        os.makedirs(directory, exist_ok=True)
      self.remove_leftovers()

  def path(self, step):
    return os.path.join(self.directory, '%s-%d' % (self.name, step))

  def steps(self):
    """Step numbers of the committed checkpoints, oldest first."""
    return numbered_steps(self.directory, self.name)

  def latest(self):
    """Folder of the newest committed checkpoint (not verified), or None."""
    steps = self.steps()
    return self.path(steps[-1]) if steps else None

  def remove_leftovers(self):
    """Temp folders of writes that a kill interrupted."""
    for fname in os.listdir(self.directory):
      if fname.startswith(TMP_PREFIX):
        shutil.rmtree(os.path.join(self.directory, fname), ignore_errors=True)

  def check_finite(self, step):
    bad = non_finite(self.watch)
    if bad:
      raise UserError('non-finite weights at step %d (%s); stopped without saving. The last '
                      'good checkpoint is %s' % (step, ', '.join(bad[:5]), self.latest()))

  def save(self, step, state=None):
    """Commit the checkpoint of `step` with `state`; keep the newest `keep`."""
    self.check_finite(step)
    if not self.chief:
      self._scratch_write(self.path(step), self.checkpoint, state)
      return
    write_folder(self.path(step), self.checkpoint, state)
    for old in self.steps()[:-self.keep]:
      shutil.rmtree(self.path(old), ignore_errors=True)

  def publish(self, link, step, checkpoint, state=None):
    """`publish_folder` on the chief; a scratch write elsewhere (see `save`)."""
    if self.chief:
      publish_folder(link, step, checkpoint, state)
    else:
      self._scratch_write(link, checkpoint, state)

  def _scratch_write(self, path, checkpoint, state):
    """A non-chief worker's part of a save (a collective): written to its scratch
    folder beside `path`, then dropped."""
    scratch = distribute.worker_directory(self.strategy, os.path.dirname(path))
    write_folder(os.path.join(scratch, os.path.basename(path)), checkpoint, state)
    shutil.rmtree(scratch, ignore_errors=True)

  def set_aside(self, first_step, reason):
    """Rename the checkpoints from `first_step` on to `<name>-<step>.<reason>[-k]`:
    kept for inspection, never restored (the chief does it, once)."""
    if not self.chief:
      return
    for step in self.steps():
      if step >= first_step:
        target, k = '%s.%s' % (self.path(step), reason), 1
        while os.path.lexists(target):   # set aside before, at the same step
          k += 1
          target = '%s.%s-%d' % (self.path(step), reason, k)
        with os_errors('cannot set aside checkpoint %s' % self.path(step)):
          os.rename(self.path(step), target)

  def restore_latest(self, check=None):
    """Restore the newest intact checkpoint: (step, state), or (None, None) if
    there is none.  Corrupt newer ones are skipped with a warning line."""
    for step in reversed(self.steps()):
      path = self.path(step)
      state = verify_folder(path)
      if state is None:
        self.log('warning: checkpoint %s is incomplete or corrupt; using an older one' % path)
        continue
      _read(path, self.checkpoint, check)
      return step, state
    return None, None
