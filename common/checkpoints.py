"""Checkpoints that a kill at any instant cannot leave half written.

A checkpoint is one folder, committed as a unit:

  <directory>/<name>-<step>/weights.index, weights.data-*   tf.train.Checkpoint.write
                            checkpoint   TensorFlow's pointer file, so that
                                         tf.train.load_checkpoint(<folder>) works
                            state.json   who wrote it (trainer, run id, step, config,
                                         thread settings) and the host-side state
                                         (samplers, RNGs, counters)
                            manifest.json  the size + sha256 of every file above

A restore takes a folder only if every file matches the manifest and its
state.json names this trainer, this run (config.json's run_id) and the step of
the folder's name; a foreign or inconsistent newest folder is skipped with a
warning line, and when checkpoints exist but none is usable the run is refused
(`UserError`) instead of silently starting over.  Folders of the earlier format
(the manifest inside state.json, no writer recorded) are restored with a
warning.

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
from common.errors import UserError, warn
from common.run_dir import fsync_dir, os_errors

WEIGHTS = 'weights'
STATE_FILE = 'state.json'
MANIFEST_FILE = 'manifest.json'
POINTER_FILE = 'checkpoint'
TMP_PREFIX = '.tmp-'
FORMAT = 2


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


def write_folder(path, checkpoint, state=None, written_by=None):
  """Commit `checkpoint` + `state` (JSON-able) as the new folder `path`;
  `written_by` (JSON-able) says which trainer, run and step wrote it.

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
      with open(os.path.join(tmp, POINTER_FILE), 'w') as fh:
        fh.write('model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n'
                 % (WEIGHTS, WEIGHTS))
      with open(os.path.join(tmp, STATE_FILE), 'w') as fh:
        json.dump({'written_by': written_by or {}, 'state': state or {}}, fh)
      files = {}
      for fname in sorted(os.listdir(tmp)):   # every file of the folder, state included
        _fsync_file(os.path.join(tmp, fname))
        files[fname] = [os.path.getsize(os.path.join(tmp, fname)),
                        _sha256(os.path.join(tmp, fname))]
      with open(os.path.join(tmp, MANIFEST_FILE), 'w') as fh:
        json.dump({'format': FORMAT, 'files': files}, fh)
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


def publish_folder(link, step, checkpoint, state=None, written_by=None):
  """Write `<link>-<step>/` and point the symlink `link` at it atomically (a
  reader sees the previous folder or the new one, never none); the previous
  target is then removed."""
  parent, name = os.path.split(os.path.abspath(link))
  target = '%s-%d' % (name, step)
  write_folder(os.path.join(parent, target), checkpoint, state, written_by)
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
  """The folder's record {'state', 'written_by', 'legacy'} if every file matches
  its manifest, else None.  `legacy`: written before the manifest covered
  state.json (its state and writer are then unverified)."""
  try:
    if os.path.exists(os.path.join(path, MANIFEST_FILE)):
      with open(os.path.join(path, MANIFEST_FILE)) as fh:
        files = json.load(fh)['files']
      if STATE_FILE not in files or not _files_match(path, files):
        return None
      with open(os.path.join(path, STATE_FILE)) as fh:
        record = json.load(fh)
      return {'state': record['state'], 'written_by': record['written_by'], 'legacy': False}
    with open(os.path.join(path, STATE_FILE)) as fh:   # the earlier format
      manifest = json.load(fh)
    if not _files_match(path, manifest['files']):
      return None
    return {'state': manifest['state'], 'written_by': {}, 'legacy': True}
  except (OSError, ValueError, KeyError, TypeError, AttributeError):
    return None


def _files_match(path, files):
  for fname, (size, digest) in files.items():
    fpath = os.path.join(path, fname)
    if os.path.getsize(fpath) != size or _sha256(fpath) != digest:
      return False
  return True


def foreign_reason(record, trainer, step=None, run_id=None):
  """Why a verified folder's record is not one this trainer may restore (None: it is).

  trainer: the trainer's name; step: the step of the folder's name; run_id: the
  run directory's id (config.json), None when the run has none yet.
  """
  if record['legacy']:
    return None
  by = record['written_by']
  if not isinstance(by, dict) or not isinstance(record['state'], dict):
    return 'has no valid state'
  if by.get('trainer') != trainer:
    return 'was written by %s, not by %s' % (by.get('trainer', 'an unknown program'), trainer)
  if step is not None and by.get('step') != step:
    return 'records step %r, not the %d of its name' % (by.get('step'), step)
  if run_id is not None and by.get('run_id') is not None and by['run_id'] != run_id:
    return 'belongs to another run (run_id %s, this run is %s)' % (by['run_id'], run_id)
  return None


def read_folder(path, checkpoint, check=None, trainer=None, variables=None):
  """Restore `checkpoint` from a verified folder; `check(status)` may assert on
  the restore status (e.g. `assert_existing_objects_matched`); `trainer` must
  have written it; `variables` (name -> variable) must be finite after the
  restore.  Returns its state."""
  record = verify_folder(path)
  if record is None:
    raise UserError('checkpoint %s is incomplete or corrupt; remove it or use another run '
                    'directory' % path)
  reason = trainer and foreign_reason(record, trainer)
  if reason:
    raise UserError('checkpoint %s %s; use another run directory' % (path, reason))
  _read(path, checkpoint, check)
  bad = non_finite(variables or {})
  if bad:
    raise UserError('checkpoint %s holds non-finite weights (%s); it cannot be evaluated'
                    % (path, ', '.join(bad[:5])))
  return record['state']


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
  trainer: the trainer's name, recorded in and required of every folder.
  run: the `RunDirectory` (its run_id and config are recorded and checked).
  links: best-model links this run publishes (`publish`), withdrawn by
    `set_aside` when the weights they hold turn out to give non-finite values.
  """

  def __init__(self, directory, checkpoint, watch, keep=3, name='ckpt', strategy=None,
               log=print, trainer='unnamed', run=None, links=()):
    self.directory, self.checkpoint, self.watch = directory, checkpoint, watch
    self.keep, self.name, self.log = keep, name, log
    self.trainer, self.run, self.links = trainer, run, set(links)
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

  def written_by(self, step):
    """What a folder of `step` records about its writer."""
    from common.tf_env import thread_settings
    return {'trainer': self.trainer, 'step': step,
            'run_id': self.run.run_id if self.run else None,
            'config': self.run.config if self.run else None, 'threads': thread_settings()}

  def save(self, step, state=None):
    """Commit the checkpoint of `step` with `state`; keep the newest `keep`."""
    self.check_finite(step)
    if not self.chief:
      self._scratch_write(self.path(step), self.checkpoint, state, step)
      return
    write_folder(self.path(step), self.checkpoint, state, self.written_by(step))
    for old in self.steps()[:-self.keep]:
      shutil.rmtree(self.path(old), ignore_errors=True)

  def publish(self, link, step, checkpoint, state=None, weights_step=None):
    """`publish_folder` on the chief; a scratch write elsewhere (see `save`).
    `weights_step`: the training step of the published weights (default `step`)."""
    self.check_finite(step if weights_step is None else weights_step)
    self.links.add(link)
    written_by = self.written_by(step if weights_step is None else weights_step)
    if self.chief:
      publish_folder(link, step, checkpoint, state, written_by)
    else:
      self._scratch_write(link, checkpoint, state, step)

  def _scratch_write(self, path, checkpoint, state, step):
    """A non-chief worker's part of a save (a collective): written to its scratch
    folder beside `path`, then dropped."""
    scratch = distribute.worker_directory(self.strategy, os.path.dirname(path))
    write_folder(os.path.join(scratch, os.path.basename(path)), checkpoint, state,
                 self.written_by(step))
    shutil.rmtree(scratch, ignore_errors=True)

  def set_aside(self, first_step, reason):
    """Rename the checkpoints from `first_step` on to `<name>-<step>.<reason>[-k]`:
    kept for inspection, never restored (the chief does it, once).  A published
    best model holding the weights of such a step is withdrawn the same way (its
    link removed): no best model is ever made of weights that diverged."""
    if not self.chief:
      return
    for step in self.steps():
      if step >= first_step:
        _rename_aside(self.path(step), reason)
    for link in sorted(self.links):
      record = verify_folder(link) if os.path.isdir(link) else None
      weights_step = record and record['written_by'].get('step')
      if isinstance(weights_step, int) and weights_step >= first_step:
        with os_errors('cannot withdraw best model %s' % link):
          target = os.path.realpath(link)
          if os.path.islink(link):
            os.remove(link)
          _rename_aside(target, reason)
          fsync_dir(os.path.dirname(target))

  def restore_latest(self, check=None):
    """Restore the newest usable checkpoint: (step, state), or (None, None) if
    there is none.  Corrupt, foreign or inconsistent newer ones are skipped
    with a warning line; checkpoints none of which is usable are refused."""
    skipped = []
    for step in reversed(self.steps()):
      path = self.path(step)
      record = verify_folder(path)
      reason = ('is incomplete or corrupt' if record is None else
                foreign_reason(record, self.trainer, step, self.run and self.run.run_id))
      if reason:
        warn('checkpoint %s %s; using an older one' % (path, reason))
        skipped.append('%s %s' % (os.path.basename(path), reason))
        continue
      if record['legacy']:
        warn('checkpoint %s was written before checkpoints recorded their trainer, run and '
             'step (and before the manifest covered state.json): restored unverified' % path)
      _read(path, self.checkpoint, check)
      _warn_thread_change(path, record['written_by'].get('threads'))
      return step, record['state']
    if skipped:
      raise UserError('no usable checkpoint in %s (%s); remove them or use another run '
                      'directory' % (self.directory, '; '.join(skipped)))
    return None, None


def _rename_aside(path, reason):
  target, k = '%s.%s' % (path, reason), 1
  while os.path.lexists(target):   # set aside before, at the same step
    k += 1
    target = '%s.%s-%d' % (path, reason, k)
  with os_errors('cannot set aside checkpoint %s' % path):
    os.rename(path, target)


def _warn_thread_change(path, saved):
  """One warning line when the checkpoint was written under other thread-pool sizes:
  TensorFlow's reductions then run in another order (README, "Runs you can trust")."""
  from common.tf_env import thread_settings
  now = thread_settings()
  keys = ('intra_op', 'inter_op')
  if isinstance(saved, dict) and any(saved.get(k) != now[k] for k in keys):
    warn('checkpoint %s was written with %s intra-op / %s inter-op threads, this process '
         'runs %s / %s (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS): the resumed run is '
         'no longer bit-reproducible' % ((path,) + tuple(saved.get(k) for k in keys)
                                         + tuple(now[k] for k in keys)))
