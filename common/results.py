"""Evaluation results that persist: `<run>/results.jsonl` and complete log files.

Every evaluation of the three trainers (TAML validation / meta-test, Meta-GMVAE
validation / test, TDR evaluation) appends one JSON object per metric to
`<run>/results.jsonl`:

  append_record(run_dir.join(RESULTS_FILE),
                record('taml', 'test', 'cifar', 'acc', mean, ci95, n, seed=0, ...))

A record is one `write` of a whole line on a file opened with O_APPEND, then
fsync'd, so a kill leaves whole lines (at worst a torn last line, which
`read_records` skips).  `mean` and `ci95` (half-width of the 95 % interval) are
fractions in [0, 1] for accuracies and recalls.

Human-readable logs of a setting go through `CompleteFile`: written beside the
final name and renamed into place when complete, so an interrupted re-run never
destroys an earlier complete result.

  python -m common.results RUN_DIR [--since ISO_TIME] [--kind test] [--metrics a,b]

prints the newest matching evaluation of a run (what the runfiles print at the end).
"""
import datetime
import functools
import json
import os
import subprocess
import sys

import numpy as np

from common.errors import UserError, run_cli
from common.run_dir import fsync_dir, os_errors

RESULTS_FILE = 'results.jsonl'
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def code_commit():
  """The git commit of this checkout, or None (no git, not a checkout, any failure)."""
  try:
    out = subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True,
                         text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return None
  commit = out.stdout.strip()
  return commit if out.returncode == 0 and len(commit) == 40 else None


def utc_now():
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds')


def mean_ci95(values):
  """(mean, 1.96 std / sqrt(n)) of per-task / per-episode values, as the originals report."""
  values = np.asarray(values, np.float64).ravel()
  return float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values)))


def proportion_ci95(successes, n):
  """(p, 1.96 sqrt(p (1 - p) / n)): a rate over n independent examples (normal approximation)."""
  if not n:
    return None, None
  p = successes / n
  return float(p), float(1.96 * np.sqrt(p * (1. - p) / n))


def record(system, kind, dataset, metric, mean, ci95, n, shots=None, mc_samples=None,
           inner_steps=None, seed=None, checkpoint_step=None, **setting):
  """One result: the fields every system has, then what else identifies the setting."""
  out = dict(system=system, kind=kind, dataset=dataset, metric=metric,
             mean=None if mean is None else float(mean),
             ci95=None if ci95 is None else float(ci95), n=None if n is None else int(n),
             shots=shots, mc_samples=mc_samples, inner_steps=inner_steps, seed=seed,
             checkpoint_step=checkpoint_step)
  out.update(setting)
  out.update(commit=code_commit(), time=utc_now())
  return out


def append_record(path, rec):
  """Append `rec` as one whole line (O_APPEND, one write, fsync); OS failures are one
  `error:` line (`UserError`)."""
  line = (json.dumps(rec, sort_keys=False, default=_plain) + '\n').encode()
  with os_errors('cannot write %s' % path):
    new = not os.path.exists(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      written = os.write(fd, line)
      if written != len(line):   # a full disk mid-line: the reader skips the torn tail
        raise OSError(28, 'short write (%d of %d bytes)' % (written, len(line)))
      os.fsync(fd)
    finally:
      os.close(fd)
    if new:
      fsync_dir(os.path.dirname(os.path.abspath(path)))


def _plain(value):
  """numpy scalars and arrays as JSON numbers and lists."""
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  raise TypeError('%r is not JSON serialisable' % (value,))


def read_records(path):
  """The records of `path` (none if it does not exist).  A torn last line (a kill
  or a full disk during its write) is skipped; a damaged line before it is a
  `UserError` naming the line."""
  if not os.path.exists(path):
    return []
  with os_errors('cannot read %s' % path):
    with open(path, 'rb') as fh:
      lines = fh.read().split(b'\n')
  out = []
  for number, raw in enumerate(lines, 1):
    if not raw.strip():
      continue
    try:
      out.append(json.loads(raw))
    except ValueError:
      if number == len(lines):   # no newline after it: the write did not complete
        continue
      raise UserError('%s line %d is not a JSON record; remove the line' % (path, number))
  return out


class CompleteFile:
  """A text file that appears under its name only once complete.

    with CompleteFile(run_dir.join('test_....log')) as fh:
      fh.write(line + '\\n')

  Written to `<path>.tmp-<pid>`; on a normal exit fsync'd and renamed over
  `path`; on an exception (a signal, an error) removed, so a file already at
  `path` stays as it was.
  """

  def __init__(self, path):
    self.path = path
    self.tmp = '%s.tmp-%d' % (path, os.getpid())
    self._fh = None

  def __enter__(self):
    with os_errors('cannot write %s' % self.path):
      self._remove_leftovers()
      self._fh = open(self.tmp, 'w')
    return self._fh

  def _remove_leftovers(self):
    """Temp files of this path whose process is gone (killed before its rename)."""
    folder, name = os.path.split(os.path.abspath(self.path))
    for fname in os.listdir(folder):
      pid = fname[len(name) + 5:] if fname.startswith(name + '.tmp-') else ''
      if pid.isdigit() and not _alive(int(pid)):
        os.remove(os.path.join(folder, fname))

  def __exit__(self, kind, _value, _tb):
    fh, self._fh = self._fh, None
    try:
      if kind is None:
        with os_errors('cannot write %s' % self.path):
          fh.flush()
          os.fsync(fh.fileno())
          fh.close()
          os.replace(self.tmp, self.path)
          fsync_dir(os.path.dirname(os.path.abspath(self.path)))
    finally:
      fh.close()
      if os.path.exists(self.tmp):
        os.remove(self.tmp)
    return False


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:   # another user's process
    return True
  return True


def newest_evaluation(records, since=None, kind=None):
  """The records of the newest evaluation (highest checkpoint_step, then latest
  time) among those of `kind` written at or after `since` (ISO time)."""
  since = _parse_time(since) if since else None
  chosen = [r for r in records if (kind is None or r.get('kind') == kind)
            and (since is None or _parse_time(r['time']) >= since)]
  if not chosen:
    return []
  last = chosen[-1]
  key = lambda r: (r.get('checkpoint_step'), r.get('kind'))
  # the lines of one evaluation are consecutive: the last ones with the last one's step
  out = []
  for rec in reversed(chosen):
    if key(rec) != key(last):
      break
    out.append(rec)
  return out[::-1]


def _parse_time(text):
  value = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  if value.tzinfo is None:
    value = value.replace(tzinfo=datetime.timezone.utc)
  return value


def summary_line(label, records, metrics=None):
  """`label  metric mean +- ci95 ...` of one evaluation's records."""
  chosen = [r for r in records if not metrics or r['metric'] in metrics]
  where = lambda r: '/'.join(str(r[k]) for k in ('role', 'dataset') if r.get(k) is not None)
  common = {where(r) for r in chosen}
  common = common.pop() if len(common) == 1 else None   # said once, at the start
  parts = [common] if common else []
  for rec in chosen:
    name = rec['metric'] + ('' if rec.get('class') is None else '/%s' % rec['class'])
    if common is None and where(rec):
      name = '%s %s' % (where(rec), name)
    ci = '' if rec.get('ci95') is None else ' +- %.4f' % rec['ci95']
    parts.append('%s %.4f%s' % (name, rec['mean'], ci))
  return '%-6s %s' % (label, '  '.join(parts))


def main(argv=None):
  from common.errors import ArgumentParser
  parser = ArgumentParser(prog='python -m common.results',
                          description='Print the newest evaluation recorded in a run '
                                      'directory\'s results.jsonl.')
  parser.add_argument('run_dir')
  parser.add_argument('--since', help='only records written at or after this ISO time (UTC)')
  parser.add_argument('--kind', choices=['val', 'test'], help='only this kind of evaluation')
  parser.add_argument('--metrics', help='comma list of metrics to print (default: all)')
  parser.add_argument('--label', help='first column (default: the folder name)')
  args = parser.parse_args(argv)
  path = os.path.join(args.run_dir, RESULTS_FILE)
  if not os.path.exists(path):
    raise UserError('no %s in %s: the run recorded no evaluation' % (RESULTS_FILE, args.run_dir))
  try:
    if args.since:
      _parse_time(args.since)
  except ValueError:
    raise UserError('--since %r is not an ISO time (e.g. 2026-01-31T12:00:00)' % args.since)
  found = newest_evaluation(read_records(path), args.since, args.kind)
  if not found:
    raise UserError('%s has no %sevaluation recorded%s' % (
        path, args.kind + ' ' if args.kind else '',
        ' since %s' % args.since if args.since else ''))
  metrics = args.metrics.split(',') if args.metrics else None
  print(summary_line(args.label or os.path.basename(os.path.normpath(args.run_dir)), found,
                     metrics))


if __name__ == '__main__':
  run_cli(main, sys.argv[1:])
