"""TDR data: imbalance / long-tail sampling, sources, tfrecords, flag spellings."""
import io
import pickle
import tarfile

import numpy as np
import pytest

from common.errors import UserError
from data.tdr import imbalance, sources, tfrecords
from common.dash_flags import normalise_argv


def toy_labels(per_class=100, classes=5, seed=0):
  rng = np.random.RandomState(seed)
  y = np.repeat(np.arange(classes), per_class)
  return rng.permutation(y), rng.permutation(np.repeat(np.arange(classes), per_class // 2))


def test_imbalance_counts_and_relabel():
  y_tr, y_te = toy_labels()
  s = imbalance.make_imbalance(y_tr, y_te, [2], [3, 4], train_size=120, validation_size=9,
                               test_size=30, ratio=0.8, seed=1)
  major, minor = imbalance.imbalance_sizes(120, 0.8, 1, 2)
  assert (major, minor) == (int(120 / 2.2), int(int(120 / 2.2) * 0.2))
  src, idx, lab = s['train']
  assert src == 'train' and np.bincount(lab).tolist() == [minor, major, major]
  # minority first, then majority, relabelled by position
  np.testing.assert_array_equal(y_tr[idx][lab == 0], 2)
  np.testing.assert_array_equal(y_tr[idx][lab == 2], 4)
  assert np.bincount(s['validation'][2]).tolist() == [3, 3, 3]
  assert s['test'][0] == 'test' and np.bincount(s['test'][2]).tolist() == [10, 10, 10]
  assert not set(idx) & set(s['validation'][1])  # target set disjoint from train
  again = imbalance.make_imbalance(y_tr, y_te, [2], [3, 4], 120, 9, 30, 0.8, seed=1)
  np.testing.assert_array_equal(again['train'][1], idx)  # seeded


@pytest.mark.parametrize('kwargs, message', [
    (dict(minority_labels=[7]), 'absent'),
    (dict(minority_labels=[3]), 'overlap'),
    (dict(train_size=10 ** 6), 'asked'),
    (dict(test_size=10 ** 4), 'asked'),
    (dict(ratio=1.0), 'ratio'),
    (dict(ratio=0.0), 'ratio'),
])
def test_imbalance_bad_input(kwargs, message):
  y_tr, y_te = toy_labels()
  args = dict(minority_labels=[2], majority_labels=[3], train_size=50,
              validation_size=4, test_size=10, ratio=0.5)
  args.update(kwargs)
  with pytest.raises(UserError, match=message):
    imbalance.make_imbalance(y_tr, y_te, **args)


def test_long_tail_counts_disjoint():
  y_tr, y_te = toy_labels(per_class=100, classes=5)
  s = imbalance.make_long_tail(y_tr, y_te, 5, n0=100, imf=10, validation_size=10, seed=0)
  want = imbalance.long_tail_sizes(100, 10, 5)
  assert want[0] == 100 and want[-1] == 10
  got = np.bincount(s['train'][2]).tolist()
  assert got == [min(n, 100 - 2) for n in want]   # class 0 leaves room for validation
  assert np.bincount(s['validation'][2]).tolist() == [2] * 5
  assert not set(s['train'][1]) & set(s['validation'][1])
  assert len(s['test'][1]) == len(y_te)
  with pytest.raises(UserError, match='imf'):
    imbalance.make_long_tail(y_tr, y_te, 5, 100, 0.5, 10)
  with pytest.raises(UserError, match='asks for'):
    imbalance.make_long_tail(y_tr, y_te, 5, 1000, 10, 10)


def fake_cifar10(path, n_per_batch=4):
  """A tiny archive with the real cifar-10-python layout (CHW rows)."""
  rng = np.random.RandomState(0)
  images = {}
  with tarfile.open(path, 'w:gz') as tar:
    for name in ['data_batch_%d' % i for i in range(1, 6)] + ['test_batch']:
      hwc = rng.randint(0, 256, (n_per_batch, 32, 32, 3)).astype(np.uint8)
      images[name] = hwc
      blob = pickle.dumps({b'data': hwc.transpose(0, 3, 1, 2).reshape(n_per_batch, -1),
                           b'labels': list(range(n_per_batch))})
      info = tarfile.TarInfo('cifar-10-batches-py/' + name)
      info.size = len(blob)
      tar.addfile(info, io.BytesIO(blob))
  return images


def test_cifar_source_is_hwc(tmp_path):
  images = fake_cifar10(str(tmp_path / 'c.tar.gz'))
  (x_tr, y_tr), (x_te, y_te) = sources.load('cifar10', str(tmp_path / 'c.tar.gz'))
  assert x_tr.shape == (20, 32, 32, 3) and y_tr.tolist()[:4] == [0, 1, 2, 3]
  np.testing.assert_array_equal(x_tr[:4], images['data_batch_1'])
  np.testing.assert_array_equal(x_te, images['test_batch'])
  with pytest.raises(UserError, match='not found'):
    sources.load('cifar10', str(tmp_path / 'nope.tar.gz'))


def test_tfrecords_roundtrip_hwc_and_streams(tmp_path):
  rng = np.random.RandomState(0)
  x = rng.randint(0, 256, (12, 32, 32, 3)).astype(np.uint8)
  y = np.arange(12) % 3
  path = str(tmp_path / 'validation.tfrecords')
  tfrecords.write(path, x, y)
  info = tfrecords.scan(path, (32, 32, 3))
  assert info == {'count': 12, 'class_counts': [4, 4, 4]}
  xs, ys = next(iter(tfrecords.eval_dataset(path, 12, (32, 32, 3))))
  np.testing.assert_array_equal(xs.numpy(), x.astype(np.float32))  # HWC kept
  np.testing.assert_array_equal(ys.numpy(), y)
  batch = next(iter(tfrecords.balanced_dataset(path, 6, (32, 32, 3), 3, seed=1)))
  assert np.bincount(batch[1].numpy()).tolist() == [2, 2, 2]
  stream = tfrecords.train_dataset(path, 5, (32, 32, 3), seed=2)
  assert stream.element_spec[0].shape == (5, 32, 32, 3)   # static: the step's FLOPs, one trace
  xt, yt = next(iter(stream))
  rows = [int(np.flatnonzero((x == img).all(axis=(1, 2, 3)))[0]) for img in xt.numpy()]
  np.testing.assert_array_equal(yt.numpy(), y[rows])   # parsed per batch, image and label paired
  assert len(set(rows)) == 5
  xa, _ = next(iter(tfrecords.train_dataset(path, 4, (32, 32, 3), distort=True)))
  assert xa.shape == (4, 32, 32, 3)
  xb, _ = next(iter(tfrecords.train_dataset(path, 4, (32, 32, 3), distort=True)))
  np.testing.assert_array_equal(xa.numpy(), xb.numpy())  # seeded augmentation
  with pytest.raises(UserError, match='28x28x1'):
    tfrecords.scan(path, (28, 28, 1))


def test_corrupt_and_truncated_records(tmp_path):
  x = np.zeros((20, 28, 28, 1), np.uint8)
  path = str(tmp_path / 'train.tfrecords')
  tfrecords.write(path, x, np.zeros(20, np.int64))
  raw = open(path, 'rb').read()
  open(path, 'wb').write(raw[:len(raw) - 100])
  with pytest.raises(UserError, match='corrupt or truncated'):
    tfrecords.scan(path, (28, 28, 1))
  flipped = bytearray(raw)
  flipped[len(raw) // 2] ^= 0xff
  open(path, 'wb').write(bytes(flipped))
  with pytest.raises(UserError, match='corrupt or truncated'):
    tfrecords.scan(path, (28, 28, 1))
  with pytest.raises(UserError, match='not found'):
    tfrecords.scan(str(tmp_path / 'missing.tfrecords'), (28, 28, 1))


def test_dashed_and_underscored_flags():
  from absl import flags
  fv = flags.FlagValues()
  flags.DEFINE_string('data-dir', None, '', flag_values=fv)
  flags.DEFINE_list('minority-labels', ['2'], '', flag_values=fv)
  flags.DEFINE_bool('use-distortion-for-training', True, '', flag_values=fv)
  argv = normalise_argv(['p', '--data_dir=/x', '--minority-labels', '2', '4',
                         '--nouse_distortion_for_training'], fv)
  assert argv == ['p', '--data-dir=/x', '--minority-labels=2,4',
                  '--nouse-distortion-for-training']
  fv(argv)
  assert fv['data-dir'].value == '/x' and fv['minority-labels'].value == ['2', '4']
  assert fv['use-distortion-for-training'].value is False
