"""results.jsonl records and complete log files (common/results.py), on real files and
real processes: a kill leaves whole lines, a killed re-test keeps the earlier log."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from common.errors import UserError
from common.results import (CompleteFile, append_record, code_commit, newest_evaluation,
                            read_records, record)
from tests.conftest import REPO


def test_record_fields():
  rec = record('taml', 'test', 'cifar', 'acc', 0.5, 0.01, 100, shots=None, mc_samples=10,
               inner_steps=10, seed=3, checkpoint_step=7, role='id')
  for key in ('system', 'kind', 'dataset', 'metric', 'mean', 'ci95', 'n', 'shots',
              'mc_samples', 'inner_steps', 'seed', 'checkpoint_step', 'commit', 'time'):
    assert key in rec
  assert rec['role'] == 'id' and rec['time'].endswith('+00:00')
  json.dumps(rec)


def test_append_and_read_back(tmp_path):
  path = str(tmp_path / 'results.jsonl')
  assert read_records(path) == []
  for i in range(3):
    append_record(path, record('tdr', 'test', 'mnist', 'accuracy', i / 10, None, 10,
                               checkpoint_step=i))
  assert [r['checkpoint_step'] for r in read_records(path)] == [0, 1, 2]
  assert open(path).read().count('\n') == 3


def test_torn_last_line_is_skipped_damaged_middle_line_is_an_error(tmp_path):
  path = str(tmp_path / 'results.jsonl')
  append_record(path, record('tdr', 'test', 'mnist', 'accuracy', 0.5, None, 10))
  with open(path, 'a') as fh:
    fh.write('{"system": "tdr", "mea')   # a write that a kill cut short
  assert len(read_records(path)) == 1
  with open(path, 'a') as fh:
    fh.write('\n')
  append_record(path, record('tdr', 'test', 'mnist', 'accuracy', 0.6, None, 10))
  with pytest.raises(UserError, match='line 2 is not a JSON record'):
    read_records(path)


def test_killed_writer_leaves_whole_lines(tmp_path):
  path = str(tmp_path / 'results.jsonl')
  code = ('import sys; sys.path.insert(0, %r)\n'
          'from common.results import append_record, record\n'
          'i = 0\n'
          'while True:\n'
          '  append_record(%r, record("tdr", "test", "x" * 5000, "accuracy", 0.5, None, i))\n'
          '  i += 1\n' % (str(REPO), path))
  child = subprocess.Popen([sys.executable, '-c', code])
  deadline = time.time() + 60
  while time.time() < deadline and (not os.path.exists(path) or os.path.getsize(path) < 200000):
    time.sleep(0.05)
  child.send_signal(signal.SIGKILL)
  child.wait()
  records = read_records(path)
  assert len(records) > 10
  assert [r['n'] for r in records] == list(range(len(records)))


def test_commit_is_none_without_git():
  code = 'import sys; sys.path.insert(0, %r); from common.results import code_commit; ' \
         'print(code_commit())' % str(REPO)
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        env=dict(os.environ, PATH='/nonexistent'))
  assert proc.returncode == 0 and proc.stdout.strip() == 'None', proc.stderr
  git = subprocess.run(['git', '-C', str(REPO), 'rev-parse', 'HEAD'], capture_output=True,
                       text=True)
  if git.returncode == 0:
    assert code_commit() == git.stdout.strip()


def test_complete_file_keeps_the_earlier_result(tmp_path):
  path = str(tmp_path / 'test.log')
  with CompleteFile(path) as fh:
    fh.write('first complete\n')
  with pytest.raises(KeyboardInterrupt):
    with CompleteFile(path) as fh:
      fh.write('half of a re-run\n')
      raise KeyboardInterrupt
  assert open(path).read() == 'first complete\n'
  assert os.listdir(tmp_path) == ['test.log']
  # a killed process (no clean-up at all) leaves the earlier file too
  code = ('import os, signal, sys; sys.path.insert(0, %r)\n'
          'from common.results import CompleteFile\n'
          'with CompleteFile(%r) as fh:\n'
          '  fh.write("half\\n"); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n'
          % (str(REPO), path))
  assert subprocess.run([sys.executable, '-c', code]).returncode == -signal.SIGKILL
  assert open(path).read() == 'first complete\n'
  assert len(os.listdir(tmp_path)) == 2   # its temp file, removed by the next writer
  with CompleteFile(path) as fh:
    fh.write('second complete\n')
  assert os.listdir(tmp_path) == ['test.log'] and open(path).read() == 'second complete\n'


def test_newest_evaluation_since():
  recs = [dict(kind='val', checkpoint_step=2, time='2026-01-01T00:00:00+00:00'),
          dict(kind='test', checkpoint_step=4, time='2026-01-01T00:00:01+00:00'),
          dict(kind='test', checkpoint_step=4, time='2026-01-01T00:00:02+00:00'),
          dict(kind='test', checkpoint_step=8, time='2026-01-02T00:00:00+00:00'),
          dict(kind='test', checkpoint_step=8, time='2026-01-02T00:00:01+00:00')]
  assert newest_evaluation(recs, kind='test') == recs[3:]
  assert newest_evaluation(recs, since='2026-01-03T00:00:00') == []
  assert newest_evaluation(recs[:3], since='2026-01-01T00:00:01', kind='test') == recs[1:3]
