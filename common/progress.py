"""One way to show progress on every long loop: a tqdm bar with a total and a unit.

On a terminal the bar redraws as usual.  When stderr is not a terminal (a log
file, CI, `nohup`, SLURM) a redrawn bar would be one endless line of carriage
returns, so there the bar prints whole lines (count/total, rate, ETA, postfix):
the first after `log_interval()` seconds (30, or `$PROGRESS_INTERVAL`), then at
most one per interval, and a last line when the loop ends.  A loop that ends
sooner prints nothing, so short runs (and one-line errors) stay readable.

tqdm's own machinery cannot guarantee that on a file: its `disable=None` turns
every bar off outside a terminal, its dynamic `miniters` (iterations between
clock checks, learnt from the fast iterations) silences a loop that slows down,
and it prints only when an iteration ends, so a 5-minute step shows nothing for
5 minutes.  `LogBar` checks the clock at every update, and a ticker thread prints
the innermost open bar when its loop is stuck in one long step.
"""
import math
import os
import sys
import threading
import time
import weakref

from tqdm import tqdm

from common.errors import require

NON_TTY_INTERVAL = 30.0      # default seconds between bar lines when stderr is not a terminal
INTERVAL_ENV = 'PROGRESS_INTERVAL'
TICK_SECONDS = 0.25          # how often the ticker looks at the innermost bar


def log_interval():
  """Seconds between bar lines in a log: `$PROGRESS_INTERVAL` or `NON_TTY_INTERVAL`."""
  raw = os.environ.get(INTERVAL_ENV, '').strip()
  if not raw:
    return NON_TTY_INTERVAL
  try:
    value = float(raw)
  except ValueError:
    value = math.nan
  require(math.isfinite(value) and value > 0,
          '%s=%s: seconds between progress lines must be a number > 0' % (INTERVAL_ENV, raw))
  return value


def _is_tty(stream):
  try:
    return stream.isatty()
  except (AttributeError, ValueError):
    return False


def progress(iterable=None, total=None, unit='it', desc=None, disable=False, **kwargs):
  """`tqdm(iterable, total=..., unit=...)` on stderr: dynamic width on a terminal,
  a `LogBar` elsewhere.  `total` defaults to `len(iterable)` when it has one; pass
  it for generators.  Only a true `disable` turns the bar off (tqdm's None would
  hide it in every log).  Extra keyword arguments go to tqdm."""
  stream = kwargs.pop('file', sys.stderr)
  if total is None and iterable is not None and hasattr(iterable, '__len__'):
    try:
      total = len(iterable)
    except TypeError:   # e.g. a tf.data.Dataset of unknown cardinality
      total = None
  if _is_tty(stream):
    kwargs.setdefault('dynamic_ncols', True)
    return tqdm(iterable, total=total, unit=unit, desc=desc, file=stream,
                disable=bool(disable), **kwargs)
  return LogBar(iterable, total=total, unit=unit, desc=desc, file=stream,
                disable=bool(disable), interval=log_interval(), **kwargs)


class LogBar(tqdm):
  """A tqdm bar for a file: one whole line at most every `interval` seconds (the
  first after `interval`), a last line at close when any was printed, rate and
  ETA averaged since the bar started (steady across validation pauses)."""

  def __init__(self, *args, interval=NON_TTY_INTERVAL, **kwargs):
    kwargs.update(mininterval=interval, delay=interval, miniters=1, smoothing=0)
    super().__init__(*args, **kwargs)
    if not self.disable:
      _Ticker.watch(self)

  def __iter__(self):   # tqdm's counts in a local variable, invisible to the ticker
    if self.disable:
      yield from self.iterable
      return
    try:
      for obj in self.iterable:
        yield obj
        self.update(1)
    finally:
      self.close()

  def update(self, n=1):
    if self.disable:
      return
    self.n += n
    self.print_if_due()

  def refresh(self, nolock=False, lock_args=None):
    """set_postfix / set_description / tqdm.write ask for a redraw: rate-limited here."""
    return self.print_if_due()

  def clear(self, nolock=False):
    pass

  def display(self, msg=None, pos=None):
    return False   # tqdm's redraws; lines are written by _print_line only

  def _due(self, now):
    return (now - self.last_print_t >= self.mininterval and now >= self.start_t + self.delay)

  def print_if_due(self):
    """Print a line if the interval has passed (from the loop or the ticker thread)."""
    if self.disable or not self._due(self._time()):
      return False
    with self._lock:
      if self.disable or not self._due(self._time()):   # the other thread printed
        return False
      self._print_line()
    return True

  def _print_line(self):
    try:
      self.fp.write(self.__str__() + '\n')
      self.fp.flush()
    except (OSError, ValueError):   # a closed or full log must not stop the run
      pass
    self.last_print_n, self.last_print_t = self.n, self._time()

  def close(self):
    if self.disable:
      return
    with self._lock:
      if self.last_print_t > self.start_t and self.n != self.last_print_n:
        self._print_line()   # the loop's end, in a log that showed the loop
    _Ticker.forget(self)
    self.leave = False   # tqdm's close would end its redrawn line with a newline
    super().close()


class _Ticker:
  """One daemon thread printing the innermost (newest) open LogBar when due, so a
  loop stuck in one slow step (tracing, a long validation batch) still shows it
  is alive.  Outer bars print only from their own updates."""
  bars = []       # weak references to open LogBars, oldest first
  lock = threading.Lock()
  thread = None

  @classmethod
  def watch(cls, bar):
    with cls.lock:
      cls.bars.append(weakref.ref(bar))
      if cls.thread is None or not cls.thread.is_alive():
        cls.thread = threading.Thread(target=cls._run, name='progress-ticker', daemon=True)
        cls.thread.start()

  @classmethod
  def forget(cls, bar):
    with cls.lock:
      cls.bars = [r for r in cls.bars if r() is not None and r() is not bar]

  @classmethod
  def _run(cls):
    while True:
      time.sleep(TICK_SECONDS)
      with cls.lock:
        while cls.bars and cls.bars[-1]() is None:   # collected without close()
          cls.bars.pop()
        bar = cls.bars[-1]() if cls.bars else None
      if bar is not None:
        bar.print_if_due()
