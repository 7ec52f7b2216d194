"""Progress bars of the long loops: totals and units, and sparse lines when stderr
is a file (a log of a week-long run, not a megabyte of carriage returns)."""
import sys

from tqdm import tqdm

INTERACTIVE_INTERVAL_S = 1.0
LOG_FILE_INTERVAL_S = 60.0


def progress(iterable=None, **options):
  """`tqdm(iterable, **options)` on stderr; pass `total`/`unit`/`desc` as tqdm does."""
  interactive = sys.stderr.isatty()
  options.setdefault('mininterval',
                     INTERACTIVE_INTERVAL_S if interactive else LOG_FILE_INTERVAL_S)
  return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **options)
