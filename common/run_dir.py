"""The run directory of a trainer: created with its parents, locked, and holding
`config.json`, the flags that change what the run computes.

  run = RunDirectory(FLAGS.savedir, '--savedir')     # exclusive until the process ends
  run.check_config(config, override=False)           # first run: writes it; later: compares

Every OS failure (a path that is a file, a read-only folder, a full disk) is a
`UserError` naming the path: one `error:` line, exit 2.
"""
import contextlib
import errno
import fcntl
import json
import os

from common.errors import UserError

CONFIG_FILE = 'config.json'
LOCK_FILE = '.lock'


@contextlib.contextmanager
def os_errors(what):
  """Turn an `OSError` in the block into a `UserError`: '<what>: <reason>'."""
  try:
    yield
  except OSError as err:
    hint = {errno.ENOSPC: ' (disk full)', errno.EROFS: ' (read-only file system)',
            errno.EACCES: ' (permission denied)', errno.EDQUOT: ' (disk quota exceeded)'}
    raise UserError('%s: %s%s' % (what, err.strerror or err, hint.get(err.errno, '')))


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
  """An existing, writable, exclusively locked run directory.

  The lock is an `flock` on `<path>/.lock`: the kernel drops it when the process
  ends however it ends, so a killed run never leaves a stale lock behind.
  `chief=False` (non-chief workers of a multi-worker run) neither locks nor writes.
  `legacy`: what a config.json written before a flag existed meant (name -> value).
  """

  def __init__(self, path, flag, chief=True, legacy=None):
    if not path:
      raise UserError('%s is required (the run directory)' % flag)
    self.path, self.flag, self.chief = os.path.abspath(path), flag, chief
    self.legacy = legacy or {}
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise UserError('%s %s is a file, not a folder' % (flag, self.path))
    self._lock = None
    if chief:
      with os_errors('cannot create %s %s' % (flag, self.path)):
        os.makedirs(self.path, exist_ok=True)
      self._take_lock()

  def _take_lock(self):
    path = os.path.join(self.path, LOCK_FILE)
    with os_errors('cannot lock %s %s' % (self.flag, self.path)):
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      owner = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'another process'
      os.close(fd)
      raise UserError('%s %s is in use by process %s; wait for it to end or use another '
                      'run directory' % (self.flag, self.path, owner))
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    self._lock = fd

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
    (then config.json is rewritten with the new values and `log` says so).
    Without config.json, `write` creates it.  Returns the saved configuration.
    """
    saved = self.saved_config()
    if saved is not None:
      diff = config_differences(saved, config)
      if diff and not override:
        raise UserError('%s %s was run with other settings (%s); use the same flags, another '
                        'run directory, or --override_config' % (self.flag, self.path, diff))
      if not diff:
        return saved
      if log:
        log('warning: --override_config: continuing with other settings (%s)' % diff)
    if write and self.chief:
      with os_errors('cannot write %s' % self.join(CONFIG_FILE)):
        write_json(self.join(CONFIG_FILE), dict(saved or {}, **config))
    return dict(saved or {}, **config)


def config_differences(saved, config):
  """'name: saved -> now' for every key of `config` whose value differs from `saved`."""
  missing = object()
  return ', '.join('%s: %r -> %r' % (k, saved.get(k, '(unset)'), v)
                   for k, v in sorted(config.items()) if saved.get(k, missing) != v)
