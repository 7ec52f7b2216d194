"""TAML data prepared as l2b did: CIFAR-FS's JPEG round trip, byte for byte."""
import importlib.util

import numpy as np
from PIL import Image

from data import images
from tests.conftest import REPO, dataset_path


def cifar_script():
  spec = importlib.util.spec_from_file_location('cifar_get_data',
                                                REPO / 'data' / 'cifar' / 'get_data.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def real_rows():
  """CIFAR-format rows (3072 bytes, R, G and B planes) of real-ish 32x32 pictures:
  three real MNIST digits as the colour planes, plus a smooth colour gradient."""
  digits = images.read_idx_gz(str(dataset_path('mnist', 't10k-images-idx3-ubyte.gz')))
  digits = np.pad(digits[:12], ((0, 0), (2, 2), (2, 2)))            # 32x32
  planes = digits.reshape(4, 3, 32, 32)
  ramp = np.linspace(0, 255, 32)
  grad = np.stack([np.add.outer(ramp, ramp) / 2, np.outer(ramp, ramp) / 255,
                   255 - np.add.outer(ramp, 0 * ramp)]).astype(np.uint8)[None]
  return np.concatenate([planes, grad]).reshape(-1, 3072).astype(np.uint8)


def l2b_way(row, tmp_path, i):
  """l2b's data/cifar/get_data.py, step by step: the row as a PIL RGB image,
  saved to a .jpg file with PIL's defaults, opened again and divided by 255."""
  path = tmp_path / ('%d.jpg' % i)
  img = Image.fromarray(row.reshape((32, 32, 3), order='F').swapaxes(0, 1), 'RGB')
  with open(path, 'wb') as f:
    img.save(f, format=Image.registered_extensions()[path.suffix])
  return np.array(Image.open(path)) / 255.0


def test_jpeg_flag_reproduces_l2b_pixels(tmp_path):
  rows = real_rows()
  script = cifar_script()
  pixels = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)   # as load_cifar100
  labels = np.zeros(len(rows), int)
  ours = script.build_split(pixels, labels, ['a'], ['a'], jpeg=True)[0]
  exact = script.build_split(pixels, labels, ['a'], ['a'], jpeg=False)[0]
  theirs = np.stack([l2b_way(r, tmp_path, i) for i, r in enumerate(rows)])
  # same 8-bit values (ours float32, l2b's float64 of the same k / 255)
  np.testing.assert_array_equal(np.round(ours * 255), np.round(theirs * 255))
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)
  changed = np.round(exact * 255) != np.round(theirs * 255)
  assert changed.mean() > 0.3                      # the round trip changes pixels
  assert np.abs(exact - theirs).max() > 10 / 255


def test_rgb_convert_changes_no_rgb_image():
  """aircraft / vgg_flower: l2b called no convert('RGB'); on an RGB image (every
  image its arrays could hold) the port's convert is the identity."""
  rgb = np.random.RandomState(0).randint(0, 256, (37, 53, 3)).astype(np.uint8)
  img = Image.fromarray(rgb)
  assert np.array_equal(images.resize_rgb(img, (32, 32)),
                        np.asarray(img.resize((32, 32), images.RESAMPLE)))
