"""Run records: write one atomically, check one. The format is in results/report.py.

  from results.records import write_record
  write_record('results/runs/my_run.json', system='taml', table='l2b Table 1', row='MAML',
               setting='CIFAR-FS id / SVHN ood', metric='id acc', values=[71.2, 70.9],
               seeds=[0, 1], command='python main.py ...', wall_time_s=3600)
"""
import datetime
import json
import numbers
import os
import platform
import subprocess

from common.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED_TEXT = ('system', 'table', 'row', 'setting', 'metric')
OPTIONAL_TEXT = ('hardware', 'commit', 'command', 'date', 'note')
OPTIONAL_NUMBER = ('ci95', 'wall_time_s')


def git_commit():
  """Short hash of the checkout's HEAD, or 'unknown' outside git."""
  out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                       capture_output=True, text=True)
  return out.stdout.strip() or 'unknown'


def cpu_name():
  """The CPU model from /proc/cpuinfo, else what `platform` knows."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def gpu_names():
  """Names of the NVIDIA GPUs nvidia-smi sees ([] without one)."""
  try:
    out = subprocess.run(['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'],
                         capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return []
  return [l.strip() for l in out.stdout.splitlines() if l.strip()] if out.returncode == 0 else []


def hardware():
  """One line: CPU model, core count, GPUs (or 'no GPU')."""
  gpus = ', '.join(gpu_names()) or 'no GPU'
  return '%s, %d CPU cores, %s' % (cpu_name(), os.cpu_count(), gpus)


def check_record(record, name):
  """Raise UserError (naming the file `name`) unless `record` has the documented format."""
  def need(ok, what):
    if not ok:
      raise UserError('%s: %s (format: see results/report.py)' % (name, what))

  need(isinstance(record, dict), 'a run record must be one JSON object')
  for key in REQUIRED_TEXT:
    need(isinstance(record.get(key), str) and record[key], '"%s" must be a non-empty string' % key)
  values = record.get('values')
  need(isinstance(values, list) and values and all(is_number(v) for v in values),
       '"values" must be a non-empty list of numbers')
  seeds = record.get('seeds')
  need(seeds is None or (isinstance(seeds, list) and len(seeds) == len(values)),
       '"seeds" must be a list as long as "values"')
  for key in OPTIONAL_TEXT:
    need(record.get(key) is None or isinstance(record[key], str), '"%s" must be a string' % key)
  for key in OPTIONAL_NUMBER:
    need(record.get(key) is None or is_number(record[key]), '"%s" must be a number' % key)


def is_number(value):
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def write_record(path, **fields):
  """Write `fields` as a run record to `path` (tmp file + os.replace); fills
  commit, hardware and date when not given. Returns the path."""
  if 'commit' not in fields:
    fields['commit'] = git_commit()
  if 'hardware' not in fields:
    fields['hardware'] = hardware()
  if 'date' not in fields:
    fields['date'] = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
  check_record(fields, path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(fields, f, indent=2)
    f.write('\n')
  os.replace(tmp, path)
  return path
