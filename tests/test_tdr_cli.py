"""TDR through the command line: real MNIST generation and a short run that
learns, resume, and one clear error line (exit 2) for every bad input."""
import gzip
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from common.results import read_records
from tests.conftest import REPO, dataset_path
from tests.tensorboard_events import read_split, tb_splits

# TensorFlow's C++ start-up chatter (CUDA plugin registration etc.) is printed
# before any of our code runs; it is not ours to silence, so it is filtered.
TF_NOISE = re.compile(r'^([IWEF]\d{4} |\d{4}-\d\d-\d\d |WARNING: All log messages|'
                      r'To enable the following)')


def run(script, *args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable, str(REPO / script)] + [str(a) for a in args],
                        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_error_line(proc, pattern):
  lines = [l for l in proc.stderr.splitlines() if l.strip() and not TF_NOISE.match(l)]
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  assert len(lines) == 1 and lines[0].startswith('error: '), lines
  assert re.search(pattern, lines[0]), lines[0]


def write_idx(folder, per_class=60, seed=0):
  """A tiny MNIST in the real idx.gz format (digit d drawn as a bar at row 2d)."""
  rng = np.random.RandomState(seed)
  os.makedirs(folder, exist_ok=True)
  for prefix, n in (('train', per_class), ('t10k', per_class // 2)):
    labels = np.repeat(np.arange(10), n).astype(np.uint8)
    images = rng.randint(0, 40, (len(labels), 28, 28)).astype(np.uint8)
    for i, d in enumerate(labels):
      images[i, 2 * d + 4:2 * d + 7, 4:24] = 255
    with gzip.open(os.path.join(folder, '%s-images-idx3-ubyte.gz' % prefix), 'wb') as f:
      f.write((0x803).to_bytes(4, 'big') + b''.join(
          v.to_bytes(4, 'big') for v in images.shape) + images.tobytes())
    with gzip.open(os.path.join(folder, '%s-labels-idx1-ubyte.gz' % prefix), 'wb') as f:
      f.write((0x801).to_bytes(4, 'big') + len(labels).to_bytes(4, 'big') + labels.tobytes())


def generate(source, data_dir, *extra):
  return run('makeImbalanceDataset.py', '--data-dir', data_dir, '--source', source,
             '--dataset', 'mnist', *extra)


def test_generator_says_how_it_rounded(toy_data):
  # majority int(40 / (1 + 0.2)) = 33, minority int(33 * 0.2) = 6: 39 of 40, as the original
  lines = [l for l in (toy_data / 'make.err').read_text().splitlines()
           if l.strip() and not TF_NOISE.match(l)]
  assert lines == ['warning: writing train 39 of --train-size 40 (33 or 6 per class): per-class '
                   'counts rounded down as the original makeImbalanceDataset.py does (kept, so '
                   'the splits are the original\'s)'], lines
  with open(toy_data / 'data' / 'summary.json') as f:
    assert json.load(f)['counts']['train'] == [6, 33]


def test_rounding_warning_names_every_rounded_split():
  from data.tdr import imbalance
  y_train, y_test = np.repeat(np.arange(10), 600), np.repeat(np.arange(10), 100)
  # 3 classes: int(20 / 3) = 6 validation images each; majority int(499 / 2) = 249, minority 124
  splits = imbalance.make_imbalance(y_train, y_test, [2, 4], [3], 499, 20, 300, 0.5)
  assert imbalance.rounding_warning({'train': 499, 'validation': 20, 'test': 300}, splits) == (
      'warning: writing train 497 of --train-size 499 (249 or 124 per class), validation 18 of '
      '--validation-size 20 (6 per class): per-class counts rounded down as the original '
      'makeImbalanceDataset.py does (kept, so the splits are the original\'s)')
  splits = imbalance.make_imbalance(y_train, y_test, [2], [3], 60, 4, 20, 0.5)
  assert imbalance.rounding_warning({'train': 60, 'validation': 4, 'test': 20}, splits) is None
  splits = imbalance.make_long_tail(y_train, y_test, 10, 50, 10, 25)
  assert 'validation 20 of --validation-size 25 (2 per class)' in imbalance.rounding_warning(
      {'validation': 25}, splits)


@pytest.fixture(scope='module')
def mnist_23(tmp_path_factory):
  """The README's MNIST 2-vs-3 ratio-0.995 dataset from the real archive."""
  source = dataset_path('mnist')
  data_dir = tmp_path_factory.mktemp('mnist') / 'mnist_23_0995'
  proc = generate(source, data_dir, '--train-size', '5000', '--validation-size', '20',
                  '--test-size', '1000', '--ratio', '0.995', '--minority-labels', '2',
                  '--majority-labels', '3')
  assert proc.returncode == 0, proc.stderr[-2000:]
  return data_dir


def test_real_mnist_counts(mnist_23):
  import tensorflow as tf
  with open(mnist_23 / 'summary.json') as f:
    summary = json.load(f)
  # majority int(5000 / (1 + 0.005)) = 4975, minority int(4975 * 0.005) = 24
  assert summary['counts'] == {'train': [24, 4975], 'validation': [10, 10],
                               'test': [500, 500]}
  assert summary['original_labels'] == [2, 3] and summary['ratio'] == 0.995
  for split, n in (('train', 4999), ('validation', 20), ('test', 1000)):
    records = list(tf.data.TFRecordDataset(str(mnist_23 / (split + '.tfrecords'))))
    assert len(records) == n
    ex = tf.train.Example.FromString(records[0].numpy())
    assert len(ex.features.feature['data'].bytes_list.value[0]) == 28 * 28


def train(data_dir, job_dir, steps, *extra):
  proc = run('tdr_main.py', '--data-dir', data_dir, '--dataset', 'mnist', '--job-dir',
             job_dir, '--train-steps', steps, '--eval-freq', steps, '--log-freq', 100,
             '--num-gpus', 0, '--noprogress', *extra)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '%|' not in proc.stderr, proc.stderr[-3000:]   # --noprogress: no bar, eval included
  with open(os.path.join(job_dir, 'metrics.json')) as f:
    return json.load(f), proc


def test_short_real_run_learns(mnist_23, tmp_path):
  # a larger step size than the default so that ~1 minute on 2 cores suffices
  metrics, proc = train(mnist_23, tmp_path / 'job', 700, '--learning-rate', '0.05')
  assert metrics['accuracy'] > 0.6, metrics      # balanced test set: majority rate 0.5
  assert metrics['recall_minor'] > 0, metrics
  assert metrics['class_weights'][0] > 0.5      # the minority class gained weight
  assert 'class weights' in proc.stdout and 'examples_per_sec' in proc.stdout
  assert os.listdir(tmp_path / 'job' / 'tb' / 'train')  # TensorBoard events


@pytest.mark.slow
def test_long_real_run_reweighting_beats_plain(mnist_23, tmp_path):
  tdr, _ = train(mnist_23, tmp_path / 'tdr', 3000)
  plain, _ = train(mnist_23, tmp_path / 'plain', 3000, '--no-reweight')
  assert tdr['accuracy'] > 0.7 and tdr['recall_minor'] > plain['recall_minor']


def test_resume_and_config_check(toy_data, tmp_path):
  data, job = toy_data / 'data', tmp_path / 'job'
  first, _ = train(data, job, 20, '--train-batch-size', 8, '--validation-batch-size', 2)
  assert first['step'] == 20
  second, proc = train(data, job, 30, '--train-batch-size', 8,
                       '--validation-batch-size', 2, '--eval-freq', 10)
  assert 'resumed from' in proc.stdout and 'at step 20' in proc.stdout
  assert second['step'] == 30
  # every evaluation (the final ones at 20 and 30; --eval is off) is in results.jsonl
  records = read_records(str(job / 'results.jsonl'))
  assert sorted({r['checkpoint_step'] for r in records}) == [20, 30]
  final = {(r['metric'], r.get('class')): r for r in records if r['checkpoint_step'] == 30}
  assert abs(final['accuracy', None]['mean'] - second['accuracy']) < 1e-12
  assert final['accuracy', None]['n'] == 20 and final['accuracy', None]['ci95'] >= 0
  assert final['recall', 0]['mean'] == second['recall_minor']
  assert final['recall', 0]['n'] + final['recall', 1]['n'] == 20
  for rec in final.values():
    assert (rec['system'], rec['kind'], rec['dataset'], rec['model']) == (
        'tdr', 'test', 'mnist', 'lenet')
    assert rec['seed'] == 0 and rec['reweight'] is True
  # TensorBoard: train scalars in tb/train, evaluations in tb/test
  assert tb_splits(job) == ['test', 'train']
  train_tb, test_tb = read_split(job, 'train'), read_split(job, 'test')
  assert {'loss', 'accuracy', 'class_weight/0', 'class_weight/1'} <= set(train_tb['scalars'])
  assert [s for s, _ in train_tb['scalars']['class_weight/0']] == [20, 30]
  assert {'accuracy', 'recall/0', 'recall/1', 'recall_minor'} <= set(test_tb['scalars'])
  assert [s for s, _ in test_tb['scalars']['recall/0']] == [20, 30]
  # the runfiles' summary: the newest evaluation since a time
  summary = subprocess.run([sys.executable, '-m', 'common.results', str(job), '--kind',
                            'test', '--metrics', 'accuracy,recall_minor', '--label', 'tdr'],
                           cwd=REPO, capture_output=True, text=True)
  assert summary.returncode == 0, summary.stderr
  assert summary.stdout.split()[:3] == ['tdr', 'mnist', 'accuracy']
  assert float(summary.stdout.split()[3]) == round(second['accuracy'], 4)
  late = subprocess.run([sys.executable, '-m', 'common.results', str(job), '--since',
                         '2999-01-01T00:00:00'], cwd=REPO, capture_output=True, text=True)
  assert late.returncode == 2 and late.stderr.startswith('error: ') and not late.stdout
  proc = run('tdr_main.py', '--data-dir', data, '--job-dir', job, '--model', 'convnet',
             '--num-gpus', 0, '--train-steps', 40)
  assert_one_error_line(proc, "model: 'lenet' -> 'convnet'")


@pytest.mark.parametrize('args, pattern', [
    (['--minority-labels', '12'], r'absent'),
    (['--minority-labels', '2', '4', '--majority-labels', '4'], r'overlap'),
    (['--train-size', '100000'], r'asked'),
    (['--ratio', '1.5'], r'ratio'),
    (['--ratio', '0'], r'ratio'),
])
def test_generator_bad_input(toy_data, tmp_path, args, pattern):
  assert_one_error_line(generate(toy_data / 'mnist', tmp_path / 'd', *args), pattern)


def test_generator_long_tail(toy_data, tmp_path):
  proc = generate(toy_data / 'mnist', tmp_path / 'lt', '--long-tail', '--n0', 50, '--imf', 10,
                  '--validation-size', 20, '--seed', 3)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / 'lt' / 'summary.json') as f:
    summary = json.load(f)
  n = [int(50 * 0.1 ** (i / 9)) for i in range(10)]
  assert summary['counts']['train'] == n and summary['counts']['validation'] == [2] * 10
  assert summary['counts']['test'] == [30] * 10 and summary['seed'] == 3


def test_generator_offline_without_source(tmp_path):
  from data.tdr import sources
  if sources._online():
    pytest.skip('online: the offline message cannot be shown here')
  proc = run('makeImbalanceDataset.py', '--data-dir', tmp_path / 'd', '--dataset', 'cifar10')
  assert_one_error_line(proc, 'offline')


def test_generator_missing_source(tmp_path):
  assert_one_error_line(generate(tmp_path / 'nothing', tmp_path / 'd'), 'not found')


def _copy_data(src, dst):
  os.makedirs(dst)
  for name in ('train', 'validation', 'test'):
    with open(src / (name + '.tfrecords'), 'rb') as f, \
        open(dst / (name + '.tfrecords'), 'wb') as g:
      g.write(f.read())
  return dst


@pytest.mark.parametrize('damage, pattern', [
    ('truncate', 'corrupt or truncated'), ('flip', 'corrupt or truncated')])
def test_trainer_damaged_records(toy_data, tmp_path, damage, pattern):
  data = _copy_data(toy_data / 'data', tmp_path / 'data')
  path = data / 'train.tfrecords'
  raw = bytearray(path.read_bytes())
  if damage == 'truncate':
    raw = raw[:-50]
  else:
    raw[len(raw) // 2] ^= 0xff
  path.write_bytes(bytes(raw))
  proc = run('tdr_main.py', '--data-dir', data, '--job-dir', tmp_path / 'job',
             '--num-gpus', 0, '--train-steps', 5)
  assert_one_error_line(proc, pattern)


@pytest.mark.parametrize('args, pattern', [
    (['--dataset', 'cifar10'], r'784 bytes.*32x32x3|wrong dataset'),
    (['--dataset', 'cifar10', '--num-layers', '21'], r'6n\+2'),
    (['--job-dir', '/dev/null/sub/job'], r'cannot create --job-dir'),
    (['--data-dir', '/nope'], r'not found'),
])
def test_trainer_bad_input(toy_data, tmp_path, args, pattern):
  flags = {'--data-dir': toy_data / 'data', '--job-dir': tmp_path / 'job',
           '--num-gpus': 0, '--train-steps': 5}
  flags.update(zip(args[::2], args[1::2]))
  proc = run('tdr_main.py', *[x for kv in flags.items() for x in kv])
  assert_one_error_line(proc, pattern)
