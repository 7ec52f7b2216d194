"""One way to show progress on every long loop: a tqdm bar with a total and a unit.

On a terminal the bar redraws as usual.  When stderr is not a terminal (a log
file, CI, `nohup`), tqdm would write a line per redraw; there it prints at most
every `NON_TTY_INTERVAL` seconds, and nothing for a loop that ends sooner, so logs
(and one-line errors) stay readable.
"""
import sys

NON_TTY_INTERVAL = 30.0   # seconds between bar lines when stderr is not a terminal


def _is_tty(stream):
  try:
    return stream.isatty()
  except (AttributeError, ValueError):
    return False


def progress(iterable=None, total=None, unit='it', desc=None, disable=False, **kwargs):
  """`tqdm(iterable, total=..., unit=...)` with dynamic width, on stderr, and a sane
  rate when stderr is not a terminal.  `total` defaults to `len(iterable)` when it
  has one; pass it for generators.  Extra keyword arguments go to tqdm."""
  from tqdm import tqdm
  stream = kwargs.pop('file', sys.stderr)
  if total is None and iterable is not None and hasattr(iterable, '__len__'):
    total = len(iterable)
  if not _is_tty(stream):
    kwargs.setdefault('mininterval', NON_TTY_INTERVAL)
    kwargs.setdefault('delay', kwargs['mininterval'])
    kwargs.setdefault('maxinterval', max(NON_TTY_INTERVAL, kwargs['mininterval']))
    kwargs.setdefault('ncols', 100)
  else:
    kwargs.setdefault('dynamic_ncols', True)
  return tqdm(iterable, total=total, unit=unit, desc=desc, file=stream, disable=disable,
              **kwargs)
