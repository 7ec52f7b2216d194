"""TDR switches that restore the original's input pipeline, evaluation, record
order and log (README, "Differences from the originals")."""
import json
import re

import numpy as np
import pytest

from data.tdr import sources, tfrecords
from tests.test_tdr_cli import run

SHAPE = (32, 32, 3)


@pytest.fixture
def indexed(tmp_path):
  """60 records whose label is their position in the file (image = that value)."""
  n = 60
  x = (np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones(SHAPE, np.uint8))
  path = str(tmp_path / 'train.tfrecords')
  tfrecords.write(path, x, np.arange(n))
  return path


def labels(ds, batches):
  it = iter(ds)
  return np.concatenate([next(it)[1].numpy() for _ in range(batches)])


def test_original_shuffle_is_a_small_window_over_the_repeated_file(indexed):
  batch = 4
  got = labels(tfrecords.train_dataset(indexed, batch, SHAPE, seed=3,
                                       shuffle='original'), 40)    # 160 records
  # output p comes from a buffer of 3 x batch records: file position <= p + 11,
  # which for p < 48 is still the first pass, where the label is the position
  p = np.arange(48)
  assert (got[:48] <= p + 3 * batch - 1).all()
  assert not np.array_equal(got[:60], np.arange(60))               # shuffled
  # the epoch shuffle sees the whole file: the first batch is spread over it
  epoch = labels(tfrecords.train_dataset(indexed, batch, SHAPE, seed=3), 15)
  assert sorted(epoch) == list(range(60)) and epoch[:12].max() > 3 * batch + 12


@pytest.mark.parametrize('distort', [False, True])
def test_original_streams_resume_exactly(indexed, distort):
  """Skipping batches continues the very stream (a pure function of the seed)."""
  make = lambda skip: tfrecords.train_dataset(indexed, 4, SHAPE, distort, seed=5,
                                              skip_batches=skip, shuffle='original')
  full, resumed = iter(make(0)), iter(make(7))
  for _ in range(7):
    next(full)
  for _ in range(5):
    a, b = next(full), next(resumed)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


def test_target_stream_original_order_and_augmentation(indexed):
  make = lambda: tfrecords.target_dataset(indexed, 10, SHAPE, 60, seed=1, order='original')
  np.testing.assert_array_equal(labels(make(), 6), labels(make(), 6))
  x, y = next(iter(make()))
  # not augmented: every pixel is the record's own value
  np.testing.assert_array_equal(x.numpy(), y.numpy()[:, None, None, None] * np.ones(SHAPE))
  aug = tfrecords.target_dataset(indexed, 10, SHAPE, 60, seed=1, order='original',
                                 distort=True)
  xa, ya = next(iter(aug))
  np.testing.assert_array_equal(ya.numpy(), y.numpy())       # same records ...
  assert (xa.numpy() == 0).any() and (xa.numpy() != 0).any()  # ... padded and cropped
  bal = tfrecords.target_dataset(indexed, 6, SHAPE, 3, seed=1, distort=True)
  xb, _ = next(iter(bal))
  assert xb.shape == (6,) + SHAPE


def test_eval_examples_like_the_original(indexed):
  import tensorflow as tf
  tf.random.set_seed(0)   # the shuffle's global seed, whatever ran before in this process
  full = list(tfrecords.eval_dataset(indexed, 50, SHAPE))
  assert sum(len(b[1]) for b in full) == 60
  sample = list(tfrecords.eval_dataset(indexed, 50, SHAPE, examples=2000, seed=2))
  got = np.concatenate([b[1].numpy() for b in sample])
  assert len(sample) == 40 and len(got) == 2000            # 2000 // 50 batches
  # the small file, repeated: each record ~33 times (the 150-record buffer can hold one
  # back over a few passes of the 60)
  assert np.bincount(got, minlength=60).min() >= 20
  other = np.concatenate([b[1].numpy() for b in tfrecords.eval_dataset(
      indexed, 50, SHAPE, examples=2000, seed=3)])
  assert not np.array_equal(got, other)
  with pytest.raises(ValueError):
    tfrecords.eval_dataset(indexed, 50, SHAPE, examples=20)


def test_keras_source_reads_keras_datasets(monkeypatch):
  import keras
  x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
  monkeypatch.setattr(keras.datasets.mnist, 'load_data',
                      lambda: ((x, np.array([5, 0])), (x[:1], np.array([7]))))
  (xt, yt), (xe, ye) = sources.load('mnist', 'keras')
  assert xt.shape == (2, 28, 28, 1) and yt.tolist() == [5, 0] and ye.tolist() == [7]

  def offline():
    raise OSError('no network')
  monkeypatch.setattr(keras.datasets.mnist, 'load_data', offline)
  with pytest.raises(sources.UserError, match='--source keras'):
    sources.load('mnist', 'keras')


def test_original_pipeline_flags_and_streaming_accuracy(toy_data, tmp_path):
  proc = run('tdr_main.py', '--data-dir', toy_data / 'data', '--dataset', 'mnist',
             '--job-dir', tmp_path / 'job', '--train-steps', 20, '--eval-freq', 20,
             '--log-freq', 10, '--num-gpus', 0, '--noprogress', '--train-batch-size', 8,
             '--validation-batch-size', 2, '--train-shuffle', 'original',
             '--target-order', 'original', '--drop-logged-batches', '--eval-examples', 16,
             '--eval-batch-size', 8)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # the drops follow --log-freq, so a resume must repeat it
  assert json.loads((tmp_path / 'job' / 'config.json').read_text())['logged-draws'] == 10
  logged = [l for l in proc.stdout.splitlines() if l.startswith('step 10:')
            or l.startswith('step 20:')]
  assert len(logged) == 2
  for line in logged:
    assert 'streaming_accuracy' in line and 'streaming_target_accuracy' in line
  values = lambda line, key: float(re.search(r'(?:: |, )%s ([-+.\de]+)' % key, line).group(1))
  # the running mean of the two logged per-batch accuracies
  assert values(logged[1], 'streaming_accuracy') == pytest.approx(
      (values(logged[0], 'accuracy') + values(logged[1], 'accuracy')) / 2, abs=1e-3)
