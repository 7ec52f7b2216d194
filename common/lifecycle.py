"""What every training loop does between its steps, written once.

  with StopSignals() as signals:
    timer = SaveTimer(save_minutes)
    for step in ...:
      ... one step; check_finite_loss(loss, step, store) ...
      if step % save_freq == 0 or timer.due() or signals.stop:
        store.save(step, state); timer.reset()
      if signals.stop:
        signals.exit_after_save(step, store)

SIGINT / SIGTERM ask the loop to stop after the current step with a checkpoint
and exit status 130; a second signal exits at once (the last committed
checkpoint stays intact: checkpoints are written atomically).
"""
import math
import os
import signal
import sys
import time

from common.errors import UserError

EXIT_INTERRUPTED = 130


class StopSignals:
  """Turns SIGINT / SIGTERM into `self.stop`, read by the loop between steps."""

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.stop = None   # the signal's name once one arrived
    self._previous = {}

  def __enter__(self):
    for sig in self.SIGNALS:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum, _frame):
    name = signal.Signals(signum).name
    if self.stop:
      sys.stderr.write('\ninterrupted (%s again): stopped without saving; the last '
                       'checkpoint is intact\n' % name)
      sys.stderr.flush()
      os._exit(EXIT_INTERRUPTED)
    self.stop = name
    sys.stderr.write('\n%s: saving a checkpoint after this step (send it again to stop at '
                     'once)\n' % name)
    sys.stderr.flush()

  def exit_after_save(self, step, where):
    """One line, exit status 130: call after the stop checkpoint was committed."""
    sys.stderr.write('interrupted (%s) at step %d; checkpoint saved in %s, run the same '
                     'command to resume\n' % (self.stop, step, where))
    sys.stderr.flush()
    sys.exit(EXIT_INTERRUPTED)


class SaveTimer:
  """`due()` once `minutes` have passed since the last `reset()` (0: never)."""

  def __init__(self, minutes, clock=time.monotonic):
    self.seconds = minutes * 60.
    self.clock = clock
    self.reset()

  def reset(self):
    self.last = self.clock()

  def due(self):
    return self.seconds > 0 and self.clock() - self.last >= self.seconds


def random_state_json(rng):
  """A `np.random.RandomState`'s state as JSON-able lists (saved with a checkpoint)."""
  kind, keys, pos, has_gauss, cached = rng.get_state()
  return [kind, keys.tolist(), pos, has_gauss, cached]


def set_random_state(rng, state):
  """The inverse of `random_state_json`."""
  import numpy as np
  kind, keys, pos, has_gauss, cached = state
  rng.set_state((kind, np.array(keys, np.uint32), pos, has_gauss, cached))


def define_flags(dashed, keep, periodic, checked='Resume', module_name=None):
  """The lifecycle flags of an entry point: --save_minutes, --keep_checkpoints,
  --override_config (dashed spellings for the TDR and Meta-GMVAE entry points).
  `periodic` says when the trainer checkpoints anyway, `checked` what compares
  its flags with config.json (for --help); module_name: the entry point owning
  them (default: the caller)."""
  from absl import flags
  from common.dash_flags import calling_module
  module = module_name or calling_module()   # the flags belong to the entry point
  name = lambda n: n.replace('_', '-') if dashed else n
  flags.DEFINE_float(name('save_minutes'), 10, 'Also checkpoint when this many minutes passed '
                     'since the last checkpoint (0: only %s).' % periodic, lower_bound=0,
                     module_name=module)
  flags.DEFINE_integer(name('keep_checkpoints'), keep, 'Numbered checkpoints kept.',
                       lower_bound=1, module_name=module)
  flags.DEFINE_bool(name('override_config'), False, '%s although flags differ from the '
                    'run\'s config.json (a resumed run records the new values).' % checked,
                    module_name=module)


def check_finite_loss(value, step, store, what='loss', suspect_from=None):
  """Stop the run (`UserError`, nothing saved) on a non-finite `value` at `step`.

  The checkpoint of step - 1 (or any from `suspect_from` on) holds the weights
  that gave this loss: it is set aside (renamed, kept) so that a resume starts
  from the newest checkpoint whose weights gave a finite loss, which the line names.
  """
  if math.isfinite(value):
    return
  store.set_aside(step - 1 if suspect_from is None else suspect_from,
                  'gave-non-finite-loss')
  raise UserError('non-finite %s %r at step %d; stopped without saving. The last good '
                  'checkpoint is %s (resume from it with a smaller learning rate and '
                  '--override_config)' % (what, value, step, store.latest() or 'none: no '
                  'checkpoint was written before'))
