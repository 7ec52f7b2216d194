"""Runs you can watch in a log: progress bars when stderr is a file.

The bar of `common/progress.py` on a file (a real slow loop, timed), then every
trainer, the TDR generator and a data script run as a user runs them under
nohup / SLURM / CI: subprocesses with stdout and stderr redirected to files,
`PROGRESS_INTERVAL` short, tiny real data.  Each long loop (training,
validation, test) must leave lines with its count/total and rate in the log."""
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.errors import UserError
from tests.conftest import REPO, dataset_path
from tests.taml_cli import SMALL, cifar_like
from tests.test_gmvae_cli import write_imagenet_folder, write_omniglot
from tests.test_tdr_cli import write_idx

# `desc: 40%|####  | 2/5 [00:01<00:01, 1.52iter/s, loss=0.3]` (slow: `2.10s/iter`)
BAR = re.compile(r'^(?P<desc>[^:]+): +\d+%\|[^|]*\| (?P<n>\d+)/(?P<total>\d+) '
                 r'\[[\d:]+<[\d:?]+, +(?:[\d.]+|\?)(?:\w+/s|s/\w+)(?P<postfix>, .*)?\]$')


class TimedLog:
  """A non-terminal stream recording when each write happened."""

  def __init__(self):
    self.writes = []

  def write(self, text):
    self.writes.append((time.monotonic(), text))

  def flush(self):
    pass

  def isatty(self):
    return False

  def lines(self):
    return [(t, line) for t, text in self.writes for line in text.splitlines() if line]


def test_bar_lines_on_a_file_keep_coming_when_iterations_slow_down(monkeypatch):
  from common.progress import progress
  monkeypatch.setenv('PROGRESS_INTERVAL', '0.3')
  log = TimedLog()
  start = time.monotonic()
  bar = progress(total=415, desc='slow', unit='iter', file=log)
  for i in range(415):   # fast, then slow: tqdm's dynamic miniters went silent here
    time.sleep(0.0005 if i < 400 else 0.1)
    bar.set_postfix(loss='%.3f' % (1 / (i + 1)), refresh=False)
    bar.update(1)
  slow_from = time.monotonic() - 1.5
  time.sleep(1.0)         # one stuck step, bar open: the ticker thread prints it
  bar.close()
  lines = log.lines()
  assert all('\r' not in text for _, text in log.writes)
  assert all(BAR.match(line) for _, line in lines), lines
  times = [t for t, _ in lines]
  assert times[0] - start >= 0.3 - 1e-3                    # nothing before the interval
  assert all(b - a >= 0.3 - 1e-3 for a, b in zip(times, times[1:]))   # at most one per 0.3 s
  assert sum(t >= slow_from for t in times) >= 4, lines    # the slow phase and the stall
  assert BAR.match(lines[-1][1])['n'] == '415' and 'loss=' in lines[-1][1]
  assert len(lines) >= (times[-1] - start) / 0.3 - 4       # no long silent gap

  quick = TimedLog()
  for _ in progress(range(5), desc='quick', file=quick, disable=None):   # None: shown
    pass
  assert quick.writes == []                                # a quick loop prints nothing
  off = TimedLog()
  for _ in progress(range(3), desc='off', file=off, disable=True):
    time.sleep(0.2)
  assert off.writes == []
  shown = TimedLog()
  for _ in progress(range(3), desc='shown', file=shown, disable=None):
    time.sleep(0.2)
  ns = [BAR.match(l)['n'] for _, l in shown.lines()]
  assert len(ns) >= 2 and ns[-1] == '3', ns           # ..., and a line at the end


def test_progress_interval_must_be_a_positive_number(monkeypatch):
  from common.progress import log_interval
  for bad in ('x', '0', '-1', 'nan'):
    monkeypatch.setenv('PROGRESS_INTERVAL', bad)
    with pytest.raises(UserError, match='PROGRESS_INTERVAL=%s' % bad):
      log_interval()
  monkeypatch.setenv('PROGRESS_INTERVAL', '2.5')
  assert log_interval() == 2.5


# ---------------------------------------------------- trainers in log files ----
# The runs are independent processes: a module fixture starts them side by side
# (each scenario's steps in order) and each test reads its own logs.

def run_logged(folder, name, script, *args, interval='0.01'):
  """Run an entry point with stdout and stderr redirected to files; return stderr."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='',
             PROGRESS_INTERVAL=interval)
  out, err = folder / (name + '.out'), folder / (name + '.err')
  with open(out, 'w') as o, open(err, 'w') as e:
    code = subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO,
                          stdout=o, stderr=e, env=env, timeout=600).returncode
  assert code == 0, err.read_text()[-3000:]
  return err.read_text()


def taml_runs(folder):
  data = cifar_like(str(folder / 'data'))
  train = run_logged(folder, 'train', 'main.py', '--mode', 'meta_train', '--data_dir', data,
                     '--savedir', folder / 'run', '--n_train_iters', 2, '--save_freq', 2,
                     '--val_freq', 2, *SMALL)
  test = run_logged(folder, 'test', 'main.py', '--mode', 'meta_test', '--data_dir', data,
                    '--savedir', folder / 'run', '--n_steps', 1, *SMALL[:4], *SMALL[6:])
  return train, test


def tdr_runs(folder):
  write_idx(str(folder / 'mnist'))
  make = run_logged(folder, 'make', 'makeImbalanceDataset.py', '--data-dir', folder / 'data',
                    '--source', folder / 'mnist', '--dataset', 'mnist', '--train-size', 40,
                    '--validation-size', 4, '--test-size', 20, '--ratio', 0.8,
                    interval='1e-6')   # writing 40 tiny images takes milliseconds
  train = run_logged(folder, 'train', 'tdr_main.py', '--data-dir', folder / 'data',
                     '--dataset', 'mnist', '--job-dir', folder / 'job', '--train-steps', 6,
                     '--eval-freq', 6, '--log-freq', 2, '--num-gpus', 0,
                     '--train-batch-size', 8, '--validation-batch-size', 2,
                     '--eval-batch-size', 8, '--eval')
  return make, train


def gmvae_runs(folder):
  data = write_omniglot(folder / 'omniglot')
  return run_logged(folder, 'gmvae', 'gmvae_main.py', '--save-dir', folder / 's',
                    '--data-dir', data, '--train-iters', 2, '--way', 5, '--batch-size', 2,
                    '--sample-size', 10, '--train-mc-sample-size', 2,
                    '--test-mc-sample-size', 2, '--unsupervised-em-iters', 2,
                    '--semisupervised-em-iters', 2, '--eval-episodes', 4, '--freq-iters', 2)


def simclr_runs(folder):
  root = write_imagenet_folder(folder / 'imgnet', per_class=4)
  return run_logged(folder, 'simclr', 'gmvae_main.py', '--dataset', 'simclr', '--data-dir',
                    root, '--save-dir', folder / 's', '--feature-save-dir',
                    folder / 'features', '--batch-size', 2, '--train-epochs', 1)


def data_script_runs(folder):
  source = dataset_path('mnist')   # skips the test when ../shared is absent
  return run_logged(folder, 'mnist', 'data/mnist/get_data.py', '--out', folder / 'mnist',
                    '--source', source)


@pytest.fixture(scope='module')
def logs(tmp_path_factory):
  """{scenario: future of its stderr text(s)}, the scenarios run side by side."""
  root = tmp_path_factory.mktemp('logs')
  pool = ThreadPoolExecutor(4)
  futures = {}
  for fn in (taml_runs, tdr_runs, gmvae_runs, simclr_runs, data_script_runs):
    os.makedirs(root / fn.__name__)
    futures[fn.__name__] = pool.submit(fn, root / fn.__name__)
  yield futures
  pool.shutdown(wait=True)


def bars(text):
  """{desc: [(n, total, postfix)]} of the bar lines in `text`."""
  found = {}
  for line in text.splitlines():
    m = BAR.match(line)
    if m:
      found.setdefault(m['desc'].strip(), []).append(
          (int(m['n']), int(m['total']), m['postfix'] or ''))
  return found


def assert_loops(text, **totals):
  """Each desc has lines, the last at its total (the loop's end is in the log);
  returns the bars found."""
  found = bars(text)
  for desc, total in totals.items():
    assert desc in found, (desc, text[-3000:])
    assert found[desc][-1][:2] == (total, total), (desc, found[desc])
  return found


def test_taml_train_validation_and_test_show_in_logs(logs):
  train, test = logs['taml_runs'].result()
  found = assert_loops(train, meta_train=2, **{'val/cifar': 2, 'val/svhn': 2})
  assert any('id_acc=' in p for _, _, p in found['meta_train'])
  assert_loops(test, **{'id/cifar': 2, 'ood/svhn': 2})


def test_tdr_generation_training_and_evaluation_show_in_logs(logs):
  make, train = logs['tdr_runs'].result()
  assert_loops(make, **{'train.tfrecords': 39, 'validation.tfrecords': 4,
                        'test.tfrecords': 20})
  found = assert_loops(train, tdr=6, eval=3)   # 20 test images in batches of 8
  assert any('loss=' in p for _, _, p in found['tdr'])


def test_gmvae_training_validation_and_test_show_in_logs(logs):
  found = assert_loops(logs['gmvae_runs'].result(), gmvae=2,
                       **{'val 1-shot': 4, 'val 5-shot': 4, 'test 1-shot': 4})
  assert any('kld=' in p and 'rec=' in p for _, _, p in found['gmvae'])
  assert any('acc=' in p for _, _, p in found['test 1-shot'])


def test_simclr_training_and_features_show_in_logs(logs):
  found = assert_loops(logs['simclr_runs'].result(), simclr=4,
                       **{'train features': 4, 'val features': 2})
  assert any('loss=' in p for _, _, p in found['simclr'])


def test_data_script_conversion_shows_in_logs(logs):
  found = assert_loops(logs['data_script_runs'].result(), **{'resize to 32x32': 10000})
  assert len(found['resize to 32x32']) >= 2
