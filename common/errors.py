"""One clear line and a non-zero exit for every mistake a user can make.

Anything a user can get wrong (a missing file, a wrong shape, an unknown dataset
name, a flag combination that cannot work) raises `UserError`.  Entry points run
through `run_cli` (argparse scripts) or `absl_main` (absl flags), which turn a
`UserError`, and a flag that does not parse or is out of range, into a single
`error: ...` line on stderr and exit status 2, instead of a traceback wall.
`--help` (and absl's --helpfull, --helpshort) exits 0; Ctrl-C outside the
training loops (which handle their own signals) prints `interrupted` and exits 130.
"""
import argparse
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
  """A problem the user can fix; the message says what is wrong and what to do."""


def require(condition, message):
  """Raise `UserError(message)` unless `condition` holds."""
  if not condition:
    raise UserError(message)


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


def run_cli(main, argv=None):
  """Run `main(argv)`: a `UserError` becomes one stderr line and exit code 2,
  Ctrl-C one line and exit code 130."""
  try:
    return main(argv)
  except UserError as err:
    fail(err)
  except KeyboardInterrupt:
    print('interrupted', file=sys.stderr, flush=True)
    sys.exit(EXIT_INTERRUPTED)


def parse_absl_flags(argv):
  """absl `flags_parser`: parse errors and bounds as one `error:` line (exit 2);
  --help / --helpshort / --helpfull / --helpxml exit 0 (absl exits 1)."""
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except flags.Error as err:
    fail('%s (see --help)' % err)
  except SystemExit as exc:   # only absl's help flags exit while flags parse
    sys.exit(0 if exc.code == 1 else exc.code)


def absl_main(main):
  """`absl.app.run(main)` with the behaviour of `run_cli` and `parse_absl_flags`."""
  from absl import app
  try:
    app.run(lambda argv: run_cli(main, argv), flags_parser=parse_absl_flags)
  except KeyboardInterrupt:   # during flag parsing or absl's start-up
    print('interrupted', file=sys.stderr, flush=True)
    sys.exit(EXIT_INTERRUPTED)


class ArgumentParser(argparse.ArgumentParser):
  """argparse with the same contract: a bad argument is one `error:` line, exit 2."""

  def error(self, message):
    fail('%s (see %s --help)' % (message, self.prog))
