"""get_data scripts on tiny archives written in the exact format of the real ones.

CIFAR-100, SVHN, CUB, miniImageNet images, FGVC-Aircraft, VGG Flowers and GTSRB
are not available offline, so each test writes a few images per class in the
real archive layout and runs the script with --no-verify (the checksum of a
fake cannot match).  Pixels encode class and position, so the tests can check
which class went where.
"""
import io
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import scipy.io
from PIL import Image

from tests.conftest import dataset_path
from tests.test_get_data import error_line, load, ok, run_script


def add_bytes(tar, name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def encode(rgb, fmt):
  buf = io.BytesIO()
  Image.fromarray(rgb).save(buf, format=fmt)
  return buf.getvalue()


def solid(color, w=40, h=30):
  return np.broadcast_to(np.array(color, np.uint8), (h, w, 3)).copy()


# ---------------------------------------------------------------- CIFAR ----

def cifar_class_lists():
  from data.cifar.get_data import SPLITS
  return SPLITS


def write_cifar100(path, n_train=2, n_test=1):
  """cifar-100-python.tar.gz with train/test/meta pickles, real keys.

  Image of class k: R = k, G = row, B = 100 + 10 * (index within class) +
  (0 for train, 5 for test), stored channel-major like the real rows.
  """
  names = sorted(sum(cifar_class_lists().values(), []))  # real meta is sorted
  assert len(names) == 100

  def batch(n, offset):
    rows, labels = [], []
    for i in range(n):
      for k in range(100):
        img = np.zeros((32, 32, 3), np.uint8)
        img[..., 0] = k
        img[..., 1] = np.arange(32)[:, None]
        img[..., 2] = 100 + 10 * i + offset
        rows.append(img.transpose(2, 0, 1).reshape(-1))
        labels.append(k)
    return {b'filenames': [b'img_%d.png' % j for j in range(len(rows))],
            b'batch_label': b'fake', b'fine_labels': labels,
            b'coarse_labels': [l // 5 for l in labels],
            b'data': np.stack(rows)}

  meta = {b'fine_label_names': [n.encode() for n in names],
          b'coarse_label_names': [b'c%d' % i for i in range(20)]}
  with tarfile.open(path, 'w:gz') as tar:
    for name, obj in (('train', batch(n_train, 0)), ('test', batch(n_test, 5)),
                      ('meta', meta)):
      add_bytes(tar, 'cifar-100-python/' + name, pickle.dumps(obj, protocol=2))
  return names


def test_cifar_fs_splits(tmp_path):
  archive = tmp_path / 'cifar-100-python.tar.gz'
  names = write_cifar100(archive)
  proc = ok(run_script('cifar', '--out', tmp_path / 'o', '--source', archive,
                       '--no-verify'))
  assert 'warning:' in proc.stderr
  for split, classes in cifar_class_lists().items():
    x = load(tmp_path / 'o' / (split + '.npy'))
    assert x.shape == (len(classes), 3, 32, 32, 3) and x.dtype == np.float32
    assert len(classes) == {'train': 64, 'valid': 16, 'test': 20}[split]
    px = np.rint(x * 255).astype(int)
    # The right class in the right place, rows and channels unscrambled.
    assert np.array_equal(px[:, 0, 0, 0, 0], [names.index(c) for c in classes])
    assert (px[..., 1] == np.arange(32)[:, None]).all()
    # 2 train images first, then the test image.
    assert np.array_equal(px[0, :, 5, 5, 2], [100, 110, 105])


def test_cifar_jpeg_roundtrip_flag(tmp_path):
  archive = tmp_path / 'cifar-100-python.tar.gz'
  write_cifar100(archive, n_train=1, n_test=1)
  ok(run_script('cifar', '--out', tmp_path / 'a', '--source', archive,
                '--no-verify'))
  ok(run_script('cifar', '--out', tmp_path / 'b', '--source', archive,
                '--no-verify', '--jpeg'))
  a, b = load(tmp_path / 'a' / 'test.npy'), load(tmp_path / 'b' / 'test.npy')
  assert not np.array_equal(a, b) and np.abs(a - b).mean() < 0.05


def test_cifar_truncated_archive(tmp_path):
  archive = tmp_path / 'cifar-100-python.tar.gz'
  write_cifar100(archive)
  data = archive.read_bytes()
  archive.write_bytes(data[:len(data) // 3])
  line = error_line(run_script('cifar', '--out', tmp_path / 'o', '--source',
                               archive))
  assert 'has md5' in line and 'eb9058c3a382ffc7106e4002c42a8d85' in line
  line = error_line(run_script('cifar', '--out', tmp_path / 'o', '--source',
                               archive, '--no-verify'))
  assert 'cannot read' in line and 'truncated or corrupt' in line
  assert not (tmp_path / 'o').exists() or not list((tmp_path / 'o').iterdir())


# ----------------------------------------------------------------- SVHN ----

def write_svhn_mat(path, per_label):
  """X [32,32,3,N] uint8, y [N,1] uint8 in 1..10 (10 = digit 0), as SVHN.

  Image: R = label, G = index of the image among its label's images.
  """
  xs, ys = [], []
  for i in range(per_label):
    for label in range(1, 11):
      img = np.zeros((32, 32, 3), np.uint8)
      img[..., 0], img[..., 1] = label, i
      xs.append(img)
      ys.append(label)
  scipy.io.savemat(path, {'X': np.stack(xs, axis=-1),
                          'y': np.array(ys, np.uint8)[:, None]})


@pytest.fixture
def svhn_dir(tmp_path):
  src = tmp_path / 'src'
  src.mkdir()
  write_svhn_mat(src / 'train_32x32.mat', 7)
  write_svhn_mat(src / 'test_32x32.mat', 3)
  return src


def test_svhn_ver1_uses_val_idx(tmp_path, svhn_dir):
  val_idx = np.array([[6, 0, 3]] * 10, np.int64)  # 3 images of every class
  np.save(tmp_path / 'val_idx.npy', val_idx)
  ok(run_script('svhn', '--out', tmp_path / 'o', '--source', svhn_dir,
                '--val_idx', tmp_path / 'val_idx.npy', '--no-verify'))
  valid = load(tmp_path / 'o' / 'valid.npy')
  assert valid.shape == (10, 3, 32, 32, 3) and valid.dtype == np.float32
  px = np.rint(valid * 255).astype(int)
  # Class c is SVHN label c + 1: label 10 (digit 0) is the last class.
  assert np.array_equal(px[:, 0, 0, 0, 0], np.arange(1, 11))
  assert np.array_equal(px[:, :, 0, 0, 1], val_idx)
  test = load(tmp_path / 'o' / 'test.npy')
  assert len(test) == 10 and all(c.shape == (3, 32, 32, 3) for c in test)
  assert round(test[9].max() * 255) == 10
  assert not (tmp_path / 'o' / 'train.npy').exists()


def test_svhn_ver2_random_is_seeded(tmp_path, svhn_dir):
  ok(run_script('svhn', '--ver', '2', '--out', tmp_path / 'o', '--source',
                svhn_dir, '--no-verify'))
  valid = load(tmp_path / 'o' / 'valid.npy')
  # Fewer than 600 per class here, so all 7, in l2b's seeded shuffle order.
  rng = np.random.RandomState(222)
  for c in range(10):
    idx = np.arange(7)
    rng.shuffle(idx)
    assert np.array_equal(np.rint(valid[c, :, 0, 0, 1] * 255), idx)


def test_svhn_real_val_idx_shape():
  val_idx = np.load(dataset_path('svhn', 'val_idx.npy'))
  assert val_idx.shape == (10, 600)


def test_svhn_bad_val_idx_is_one_clear_line(tmp_path, svhn_dir):
  np.save(tmp_path / 'val_idx.npy', np.full((10, 2), 99, np.int64))
  line = error_line(run_script('svhn', '--out', tmp_path / 'o', '--source',
                               svhn_dir, '--val_idx', tmp_path / 'val_idx.npy',
                               '--no-verify'))
  assert 'val_idx.npy does not index' in line


# ---------------------------------------------------------- miniImageNet ----

def test_mimgnet_real_csv_splits():
  from data.mimgnet.get_data import read_split_csv
  for name, n in (('train.csv', 64), ('val.csv', 16), ('test.csv', 20)):
    rows = read_split_csv(str(dataset_path('miniimagenet_splits', name)))
    classes = {c for _, c in rows}
    assert len(classes) == n and len(rows) == 600 * n


def test_mimgnet_build_from_images(tmp_path):
  splits = tmp_path / 'splits'
  splits.mkdir()
  colors, k = {}, 0
  with zipfile.ZipFile(tmp_path / 'images.zip', 'w') as zf:
    for csv_name, n_cls in (('train.csv', 3), ('val.csv', 2), ('test.csv', 2)):
      lines = ['filename,label']
      for c in range(n_cls):
        wnid = 'n%08d' % k
        colors[wnid] = (40 * (k % 6), 255 - 30 * k, 20 * k)
        k += 1
        for i in range(2):
          fname = '%s%08d.jpg' % (wnid, i + 1)
          lines.append('%s,%s' % (fname, wnid))
          zf.writestr('images/' + fname,
                      encode(solid(colors[wnid], 100, 90), 'JPEG'))
      (splits / csv_name).write_text('\n'.join(lines) + '\n')
  ok(run_script('mimgnet', '--out', tmp_path / 'o', '--source',
                tmp_path / 'images.zip', '--splits_dir', splits, '--no-verify'))
  wnids = list(colors)
  for split, first, n in (('train', 0, 3), ('valid', 3, 2), ('test', 5, 2)):
    x = load(tmp_path / 'o' / (split + '.npy'))
    assert x.shape == (n, 2, 84, 84, 3) and x.dtype == np.float32
    want = np.array([colors[w] for w in wnids[first:first + n]]) / 255
    assert np.abs(x.mean(axis=(1, 2, 3)) - want).max() < 0.02


def test_prebuilt_source_is_installed(tmp_path):
  """quickdraw/mimgnet/cub take the authors' .npy files via --source."""
  src = tmp_path / 'src'
  src.mkdir()
  for split in ('train', 'valid', 'test'):
    np.save(src / (split + '.npy'), np.zeros((2, 3, 32, 32, 3), np.float32))
  ok(run_script('quickdraw', '--out', tmp_path / 'o', '--source', src))
  assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == [
      'test.npy', 'train.npy', 'valid.npy']
  assert load(tmp_path / 'o' / 'train.npy').shape == (2, 3, 32, 32, 3)


# ------------------------------------------------------------------ CUB ----

def test_cub_build_from_archive(tmp_path):
  archive = tmp_path / 'CUB_200_2011.tgz'
  with tarfile.open(archive, 'w:gz') as tar:
    add_bytes(tar, 'CUB_200_2011/classes.txt', b'1 001.A\n')
    for cid in range(1, 9):  # class index cid - 1
      for i in range(cid % 3 + 1):
        add_bytes(tar, 'CUB_200_2011/images/%03d.Bird_%d/Bird_%d_%d.jpg'
                  % (cid, cid, cid, i), encode(solid((cid * 30, 0, 0)), 'JPEG'))
  ok(run_script('cub', '--out', tmp_path / 'o', '--source', archive,
                '--no-verify'))
  valid = load(tmp_path / 'o' / 'valid.npy')
  test = load(tmp_path / 'o' / 'test.npy')
  # index % 4 == 1 -> valid (ids 2, 6); == 3 -> test (ids 4, 8)
  assert [len(c) for c in valid] == [3, 1] and [len(c) for c in test] == [2, 3]
  assert valid[0].shape[1:] == (84, 84, 3) and valid[0].dtype == np.float32
  assert abs(valid[1][..., 0].mean() * 255 - 180) < 3
  assert not (tmp_path / 'o' / 'train.npy').exists()


# ------------------------------------------------------- multi-dataset ----

def test_aircraft_crops_and_splits(tmp_path):
  from data.aircraft.get_data import SPLITS
  variants = sum(SPLITS.values(), [])
  archive = tmp_path / 'fgvc-aircraft-2013b.tar.gz'
  boxes, trainval = [], []
  with tarfile.open(archive, 'w:gz') as tar:
    for k, var in enumerate(variants):
      image_id = '%07d' % (1000000 + k)
      img = solid((255, 0, 0), 60, 40)
      img[:, 30:] = (0, 0, 255)  # right half blue: the box keeps only it
      add_bytes(tar, 'fgvc-aircraft-2013b/data/images/%s.jpg' % image_id,
                encode(img, 'JPEG'))
      boxes.append('%s 32 2 58 38' % image_id)
      trainval.append('%s %s' % (image_id, var))
    for name, lines in (('images_box.txt', boxes),
                        ('images_variant_trainval.txt', trainval),
                        ('images_variant_test.txt', [])):
      add_bytes(tar, 'fgvc-aircraft-2013b/data/' + name,
                ('\n'.join(lines) + '\n').encode())
  ok(run_script('aircraft', '--out', tmp_path / 'o', '--source', archive,
                '--no-verify'))
  for split, n in (('train', 70), ('valid', 15), ('test', 15)):
    x = load(tmp_path / 'o' / (split + '.npy'))
    assert x.shape == (n, 1, 32, 32, 3) and x.dtype == np.float32
    assert x[..., 2].mean() > 0.9 and x[..., 0].mean() < 0.1  # cropped


def test_vgg_flower_splits_and_rescale(tmp_path):
  from data.vgg_flower.get_data import SPLITS
  labels = [lab for lab in range(1, 103) for _ in range(1 + lab % 2)]
  src = tmp_path / 'src'
  src.mkdir()
  scipy.io.savemat(src / 'imagelabels.mat',
                   {'labels': np.array(labels, np.uint8)[None]})
  with tarfile.open(src / '102flowers.tgz', 'w:gz') as tar:
    for i, lab in enumerate(labels):
      add_bytes(tar, 'jpg/image_%05d.jpg' % (i + 1),
                encode(solid((lab, 2 * lab, 200)), 'JPEG'))
  ok(run_script('vgg_flower', '--out', tmp_path / 'o', '--source', src,
                '--no-verify'))
  for split, n in (('train', 71), ('valid', 15), ('test', 16)):
    x = load(tmp_path / 'o' / (split + '.npy'))
    assert len(x) == n and x.dtype == object
    ids = [int(c[:3]) for c in SPLITS[split]]
    assert [len(c) for c in x] == [1 + i % 2 for i in ids]
    assert all(0 <= c.min() and c.max() <= 1 for c in x)
    assert abs(x[0][..., 0].mean() * 255 - ids[0]) < 3
  ok(run_script('vgg_flower', '--out', tmp_path / 'raw', '--source', src,
                '--no-verify', '--no_rescale'))
  assert load(tmp_path / 'raw' / 'test.npy')[0].max() > 100


def test_traffic_test_split(tmp_path):
  archive = tmp_path / 'GTSRB_Final_Training_Images.zip'
  with zipfile.ZipFile(archive, 'w') as zf:
    for c, n in ((0, 3), (1, 1), (42, 2)):
      folder = 'GTSRB/Final_Training/Images/%05d/' % c
      zf.writestr(folder + 'GT-%05d.csv' % c, 'Filename;ClassId\n')
      for i in range(n):
        zf.writestr(folder + '00000_%05d.ppm' % i,
                    encode(solid((5 * c, 100, 0), 29, 31), 'PPM'))
  ok(run_script('traffic', '--out', tmp_path / 'o', '--source', archive,
                '--no-verify'))
  test = load(tmp_path / 'o' / 'test.npy')
  assert [len(c) for c in test] == [3, 1, 2]
  assert test[2].shape == (2, 32, 32, 3) and test[2].dtype == np.float32
  assert np.allclose(test[2][..., 0], 210 / 255, atol=1e-6)
  assert not (tmp_path / 'o' / 'valid.npy').exists()
