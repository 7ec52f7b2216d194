"""The run directory of a trainer: created with its parents, locked, and holding
`config.json`, the flags that change what the run computes.

  run = RunDirectory(FLAGS.savedir, '--savedir')     # exclusive until the process ends
  run.check_config(config, override=False)           # compares with config.json
  ... data loaded, model built ...
  run.commit_config()                                # training starts: config.json written

  RunDirectory(path, flag, evaluation=True)          # meta_test: a shared lock, writes no config

config.json is written only when training starts, so a start that fails before
(missing data, a bad geometry) leaves nothing that would refuse the corrected
retry.  It also holds `run_id`, a random id given at the first start, which every
checkpoint records: a checkpoint of another run is recognised as such.

Every OS failure (a path that is a file, a read-only folder, a full disk) is a
`UserError` naming the path: one `error:` line, exit 2.
"""
import contextlib
import fcntl
import json
import os
import uuid

from common.errors import UserError, os_error_message, require

CONFIG_FILE = 'config.json'
LOCK_FILE = '.lock'
RUN_ID = 'run_id'


@contextlib.contextmanager
def os_errors(what):
  """Turn an `OSError` in the block into a `UserError`: '<what>: <reason>'."""
  try:
    yield
  except OSError as err:
    raise UserError(os_error_message(err, what))


def fsync_dir(path):
  """Make a rename or a new file in folder `path` durable."""
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_atomic(path, text):
  """Write `text` to `path` so that a reader sees the old file or the whole new one."""
  tmp = '%s.tmp-%d' % (path, os.getpid())
  try:
    with open(tmp, 'w') as fh:
      fh.write(text)
      fh.flush()
      os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path, obj):
  """`write_atomic` of `obj` as indented JSON."""
  write_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + '\n')


def read_json(path, what):
  """The JSON object at `path`; a `UserError` naming `what` if it is unreadable."""
  try:
    with open(path) as fh:
      return json.load(fh)
  except (OSError, ValueError) as err:
    raise UserError('%s %s is unreadable (%s); restore it or use another run directory'
                    % (what, path, getattr(err, 'strerror', None) or err))


class RunDirectory:
  """An existing, writable, locked run directory.

  The lock is an `flock` on `<path>/.lock`: the kernel drops it when the process
  ends however it ends, so a killed run never leaves a stale lock behind.
  Training holds it exclusively; `evaluation=True` (meta_test) holds it shared:
  evaluations run side by side, never while a run trains there, and write no
  config.json.
  `chief=False` (non-chief workers of a multi-worker run) neither locks nor writes.
  `legacy`: what a config.json written before a flag existed meant (name -> value).
  """

  def __init__(self, path, flag, chief=True, legacy=None, evaluation=False):
    if not path:
      raise UserError('%s is required (the run directory)' % flag)
    self.path, self.flag, self.chief = os.path.abspath(path), flag, chief
    self.legacy = legacy or {}
    self.evaluation = evaluation
    self.config, self._pending = None, None
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise UserError('%s %s is a file, not a folder' % (flag, self.path))
    self._lock = None
    if evaluation:
      require(os.path.isdir(self.path), 'no such %s %s: train there first' % (flag, self.path))
      require(os.access(self.path, os.W_OK), '%s %s is not writable (read-only or permission '
              'denied); the evaluation writes its results there' % (flag, self.path))
      self._take_lock(shared=True)
    elif chief:
      with os_errors('cannot create %s %s' % (flag, self.path)):
        os.makedirs(self.path, exist_ok=True)
      self._take_lock(shared=False)
    saved = self.saved_config()
    self.run_id = saved.get(RUN_ID) if saved else None

  def _take_lock(self, shared):
    path = os.path.join(self.path, LOCK_FILE)
    with os_errors('cannot lock %s %s' % (self.flag, self.path)):
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
      message = self._holder(fd, shared)
      os.close(fd)
      raise UserError(message)
    if not shared:   # evaluations leave the trainer's pid in place
      os.ftruncate(fd, 0)
      os.pwrite(fd, str(os.getpid()).encode(), 0)
    self._lock = fd

  def _holder(self, fd, shared):
    """The refusal line: who holds the lock this process could not take."""
    owner = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'another process'
    if shared:
      return ('%s %s is in use by training process %s; evaluate it when training has ended'
              % (self.flag, self.path, owner))
    try:   # a shared lock taken at once: only evaluations hold it
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
      return ('%s %s is being evaluated (meta_test or --test-only); wait for it to end or '
              'use another run directory' % (self.flag, self.path))
    except OSError:
      return ('%s %s is in use by process %s; wait for it to end or use another run '
              'directory' % (self.flag, self.path, owner))

  def release(self):
    if self._lock is not None:
      os.close(self._lock)
      self._lock = None

  def join(self, *parts):
    return os.path.join(self.path, *parts)

  def saved_config(self):
    """config.json as a dict, or None before the first run."""
    path = self.join(CONFIG_FILE)
    if not os.path.exists(path):
      return None
    saved = read_json(path, 'run configuration')
    if not isinstance(saved, dict):
      raise UserError('run configuration %s is not a JSON object; restore it or use another '
                      'run directory' % path)
    return dict(self.legacy, **saved)

  def check_config(self, config, override=False, write=True, log=None):
    """Compare `config` (flag name -> value) with config.json.

    A difference is refused, naming every differing flag, unless `override`
    (then `log` says so, and `commit_config` records the new values).
    Without config.json, `write` lets `commit_config` create it.  Returns the
    configuration the run computes with.
    """
    saved = self.saved_config()
    if saved is not None:
      diff = config_differences(saved, config)
      if diff and not override:
        raise UserError('%s %s was run with other settings (%s); use the same flags, another '
                        'run directory, or --override_config' % (self.flag, self.path, diff))
      if diff and log:
        log('warning: --override_config: continuing with other settings (%s)' % diff)
    self.config = dict(saved or {}, **config)
    self.config.pop(RUN_ID, None)
    if write and self.chief and not self.evaluation:
      self._pending = dict(saved or {}, **config)
    return dict(saved or {}, **config)

  def commit_config(self):
    """Write config.json as `check_config` settled it (and a run_id on the first
    start); call when training starts.  A no-op for evaluations and non-chiefs."""
    if self._pending is None:
      return
    record = dict(self._pending)
    record.setdefault(RUN_ID, uuid.uuid4().hex)
    if record != self.saved_config():
      with os_errors('cannot write %s' % self.join(CONFIG_FILE)):
        write_json(self.join(CONFIG_FILE), record)
    self.run_id, self._pending = record[RUN_ID], None


def config_differences(saved, config):
  """'name: saved -> now' for every key of `config` whose value differs from `saved`."""
  missing = object()
  return ', '.join('%s: %r -> %r' % (k, saved.get(k, '(unset)'), v)
                   for k, v in sorted(config.items()) if saved.get(k, missing) != v)
