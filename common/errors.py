"""One clear line and a non-zero exit for every mistake a user can make.

Anything a user can get wrong (a missing file, a wrong shape, an unknown dataset
name, a flag combination that cannot work) raises `UserError`.  Entry points run
through `run_cli`, which turns a `UserError` into a single line on stderr and
exit status 2, instead of a traceback wall.
"""
import sys


class UserError(Exception):
  """A problem the user can fix; the message says what is wrong and what to do."""


def require(condition, message):
  """Raise `UserError(message)` unless `condition` holds."""
  if not condition:
    raise UserError(message)


def run_cli(main, argv=None):
  """Run `main(argv)`; a `UserError` becomes one stderr line and exit code 2."""
  try:
    return main(argv)
  except UserError as err:
    print('error: %s' % err, file=sys.stderr, flush=True)
    sys.exit(2)


def absl_main(main):
  """`absl.app.run` with `UserError` mapped to one line and exit code 2."""
  from absl import app
  app.run(lambda argv: run_cli(main, argv))
