"""One clear line and a non-zero exit for every mistake a user can make.

Anything a user can get wrong (a missing file, a wrong shape, an unknown dataset
name, a flag combination that cannot work) raises `UserError`.  Entry points run
through `run_cli` (argparse scripts) or `absl_main` (absl flags), which turn a
`UserError`, and a flag that does not parse or is out of range, into a single
`error: ...` line on stderr and exit status 2, instead of a traceback wall.
`--help` (and absl's --helpfull, --helpshort) exits 0; Ctrl-C or SIGTERM outside
the training loops (which handle their own signals) prints `interrupted` and exits
130.  The same runners turn what the OS or the machine refuses (an unwritable or
full disk, memory that cannot be allocated) into one `error:` line, and refuse
flag values that are not valid UTF-8 (a path with a stray byte) before any work.
"""
import argparse
import errno
import os
import signal
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
  """A problem the user can fix; the message says what is wrong and what to do."""


def require(condition, message):
  """Raise `UserError(message)` unless `condition` holds."""
  if not condition:
    raise UserError(message)


# what an errno means for the user, appended to the OS's own words
ERRNO_HINTS = {errno.ENOSPC: ' (disk full)', errno.EROFS: ' (read-only file system)',
               errno.EACCES: ' (permission denied)', errno.EDQUOT: ' (disk quota exceeded)',
               errno.ENAMETOOLONG: ' (path too long)', errno.ELOOP: ' (symbolic link loop)'}
_memory_hint = 'smaller batches'


def os_error_message(err, what=None):
  """'<what or the file>: <reason> (<hint>)' for an `OSError`."""
  what = what or ('%s' % err.filename if err.filename else 'operating system error')
  return '%s: %s%s' % (what, err.strerror or err, ERRNO_HINTS.get(err.errno, ''))


def system_failure(err):
  """The one-line message for an OS, memory or TensorFlow resource failure, else None."""
  if isinstance(err, MemoryError):
    return 'out of memory; try %s' % _memory_hint
  if isinstance(err, OSError):
    return os_error_message(err)
  tf = sys.modules.get('tensorflow')
  if tf is None or not isinstance(err, tf.errors.OpError):
    return None
  first = (str(err.message).strip().splitlines() or [''])[0]
  if 'space left' in first.lower() or 'quota' in first.lower():
    return 'cannot write: %s (disk full)' % first
  if isinstance(err, tf.errors.ResourceExhaustedError):
    return 'out of memory (%s); try %s' % (first[:200], _memory_hint)
  if isinstance(err, (tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError)) \
      and ('read-only' in first.lower() or 'permission' in first.lower()):
    return 'cannot write: %s' % first
  return None


def warn(message):
  """Print `warning: message` (one line) on stderr, above any progress bar."""
  line = 'warning: %s' % ' '.join(str(message).split())
  tqdm = getattr(sys.modules.get('tqdm'), 'tqdm', None)
  # on a terminal above the bar; elsewhere plainly (tqdm.write would draw a bar not due yet)
  if tqdm is not None and getattr(tqdm, '_instances', None) and sys.stderr.isatty():
    tqdm.write(line, file=sys.stderr)
  else:
    print(line, file=sys.stderr, flush=True)


def fail(message):
  """Print `error: message` (one line) and exit with status 2."""
  message = ' '.join(str(message).split())   # absl and argparse messages can span lines
  close_progress_bars()
  print('error: %s' % message, file=sys.stderr, flush=True)
  sys.exit(EXIT_USAGE)


def close_progress_bars():
  """End the line of any progress bar a failing loop left open, so that the
  `error:` line starts a line of its own."""
  module = sys.modules.get('tqdm')
  bars = getattr(getattr(module, 'tqdm', None), '_instances', ())
  for bar in list(bars):
    bar.close()


class Terminated(KeyboardInterrupt):
  """SIGTERM, handled as Ctrl-C outside the training loops."""


def _raise_terminated(_signum, _frame):
  raise Terminated()


def interrupted(exc=None):
  """One `interrupted` line and exit 130.  `os._exit`: the interpreter's
  teardown with TensorFlow's threads still running could crash (`finally`
  blocks, which remove temp files, have run as the interrupt unwound)."""
  close_progress_bars()
  name = ' (SIGTERM)' if isinstance(exc, Terminated) else ''
  sys.stdout.flush()
  print('interrupted%s' % name, file=sys.stderr, flush=True)
  os._exit(EXIT_INTERRUPTED)


def run_cli(main, argv=None, memory_hint=None):
  """Run `main(argv)`: a `UserError`, or an OS / memory failure, becomes one
  stderr line and exit code 2; Ctrl-C or SIGTERM one line and exit code 130.
  memory_hint: what to make smaller when memory runs out ('a smaller --metabatch')."""
  global _memory_hint
  _memory_hint = memory_hint or _memory_hint
  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    return main(argv)
  except UserError as err:
    fail(err)
  except KeyboardInterrupt as exc:
    interrupted(exc)
  except Exception as err:   # what the OS or the machine refused
    message = system_failure(err)
    if message is None:
      raise
    fail(message)


def check_utf8(values):
  """`UserError` for the first (name, value) whose string cannot be encoded as UTF-8
  (a path holding a byte of another encoding: it could not be written to logs,
  config.json or TensorBoard)."""
  for name, value in values:
    for item in value if isinstance(value, (list, tuple)) else [value]:
      if isinstance(item, str):
        try:
          item.encode('utf-8')
        except UnicodeEncodeError:
          raise UserError('%s %r is not valid UTF-8; rename it or use another path'
                          % (name, os.fsencode(item)))


def parse_absl_flags(argv):
  """absl `flags_parser`: parse errors and bounds as one `error:` line (exit 2);
  --help / --helpshort / --helpfull / --helpxml exit 0 (absl exits 1)."""
  from absl import flags
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as err:
    fail('%s (see --help)' % err)
  except SystemExit as exc:   # only absl's help flags exit while flags parse
    sys.exit(0 if exc.code == 1 else exc.code)
  try:
    check_utf8([('--' + name, flags.FLAGS[name].value) for name in flags.FLAGS]
               + [('argument', arg) for arg in rest[1:]])
  except UserError as err:
    fail(err)
  return rest


def absl_main(main, memory_hint=None):
  """`absl.app.run(main)` with the behaviour of `run_cli` and `parse_absl_flags`."""
  from absl import app
  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    app.run(lambda argv: run_cli(main, argv, memory_hint), flags_parser=parse_absl_flags)
  except KeyboardInterrupt as exc:   # during flag parsing or absl's start-up
    interrupted(exc)


class ArgumentParser(argparse.ArgumentParser):
  """argparse with the same contract: a bad argument is one `error:` line, exit 2."""

  def error(self, message):
    fail('%s (see %s --help)' % (message, self.prog))

  def parse_known_args(self, args=None, namespace=None):
    known, rest = super().parse_known_args(args, namespace)
    try:
      check_utf8([('--' + k, v) for k, v in vars(known).items()] + [('argument', a) for a in rest])
    except UserError as err:
      fail(err)
    return known, rest
