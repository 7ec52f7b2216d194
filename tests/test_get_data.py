"""get_data scripts on the real data in ../shared, their errors, and data/download.py.

Every script runs as a subprocess through its command line, as a user runs it,
with L2B_OFFLINE=1 so no test ever touches the network.
"""
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from common.errors import UserError
from tests.conftest import REPO, dataset_path

SCRIPTS = ['cifar', 'svhn', 'mimgnet', 'cub', 'aircraft', 'quickdraw',
           'vgg_flower', 'traffic', 'fashion-mnist', 'mnist', 'omniglot']
# Digit counts of the MNIST test file (PROVENANCE.md).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def run_script(name, *args, cwd=None, offline=True, shared=''):
  """shared: $SHARED_DATASETS (default '': no lookup of ../shared/datasets)."""
  env = dict(os.environ, L2B_OFFLINE='1' if offline else '0', SHARED_DATASETS=shared)
  script = REPO / 'data' / name / 'get_data.py'
  return subprocess.run([sys.executable, str(script), *map(str, args)],
                        cwd=cwd or REPO, env=env, capture_output=True,
                        text=True, timeout=300)


def ok(proc):
  assert proc.returncode == 0, proc.stdout + proc.stderr
  return proc


def error_line(proc):
  """The single error line of a failed run (warnings aside), no traceback."""
  assert proc.returncode == 2, proc.stdout + proc.stderr
  assert 'Traceback' not in proc.stderr, proc.stderr
  lines = [l for l in proc.stderr.splitlines()
           if l.strip() and not l.startswith('warning:')]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  return lines[0]


def load(path):
  return np.load(path, allow_pickle=True)


# ---------------------------------------------------------------- MNIST ----

def test_mnist_real_files(tmp_path):
  src = dataset_path('mnist')
  out = tmp_path / 'mnist'
  # From inside the script folder, like the original README says.
  ok(run_script('mnist', '--out', out, '--source', src,
                cwd=REPO / 'data' / 'mnist'))
  test = load(out / 'test.npy')
  assert test.dtype == object and len(test) == 10
  assert [len(c) for c in test] == MNIST_TEST_COUNTS
  for c in test:
    assert c.dtype == np.float32 and c.shape[1:] == (32, 32, 3)
    assert c.min() >= 0.0 and c.max() <= 1.0
    assert np.array_equal(c[..., 0], c[..., 2])  # grey replicated to RGB
  # PROVENANCE: mean test pixel 33.79/255; bicubic resizing keeps the mean.
  mean = np.concatenate([c.ravel() for c in test]).mean()
  assert abs(mean - 33.79 / 255) < 2e-3
  assert not list(out.glob('*.gz'))  # --source is used in place, not copied


def test_second_run_skips_and_does_not_rewrite(tmp_path):
  src = dataset_path('mnist')
  out = tmp_path / 'mnist'
  ok(run_script('mnist', '--out', out, '--source', src))
  before = os.stat(out / 'test.npy').st_mtime_ns
  proc = ok(run_script('mnist', '--out', out))  # no source needed any more
  assert 'skipping' in proc.stdout
  assert os.stat(out / 'test.npy').st_mtime_ns == before


def test_fashion_mnist_converts_like_mnist(tmp_path):
  """Same conversion code path: MNIST files through the Fashion-MNIST script."""
  src = dataset_path('mnist')
  ok(run_script('mnist', '--out', tmp_path / 'm', '--source', src))
  proc = ok(run_script('fashion-mnist', '--out', tmp_path / 'f', '--source',
                       src, '--no-verify'))
  assert 'warning:' in proc.stderr  # the checksums were not checked
  a, b = load(tmp_path / 'm' / 'test.npy'), load(tmp_path / 'f' / 'test.npy')
  assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------- Omniglot ----

def omniglot_sources():
  return [dataset_path('omniglot', 'images_background.npz'),
          dataset_path('omniglot', 'images_evaluation.npz')]


def test_omniglot_taml_layout(tmp_path):
  proc = ok(run_script('omniglot', '--out', tmp_path, '--source',
                       *omniglot_sources()))
  counts = {'train': 864, 'valid': 100, 'test': 659}
  for split, n in counts.items():
    x = load(tmp_path / (split + '.npy'))
    assert x.shape == (n, 20, 32, 32, 3) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.array_equal(x[..., 0], x[..., 1])
  # Ink = 1: the mean equals the ink fraction of the 105x105 originals
  # (PROVENANCE: 8.4% for the evaluation alphabets; antialiasing keeps it).
  test = load(tmp_path / 'test.npy')
  assert abs(test.mean() - 0.08428) < 5e-4
  assert test[:, :, [0, -1]].mean() < 0.01  # borders are background
  assert 'train.npy' in proc.stdout


def test_omniglot_taml_split_is_seeded(tmp_path):
  args = ['--source', *omniglot_sources(), '--n_valid', '50']
  ok(run_script('omniglot', '--out', tmp_path / 'a', *args))
  ok(run_script('omniglot', '--out', tmp_path / 'b', *args, '--seed', '2'))
  a = load(tmp_path / 'a' / 'valid.npy')
  b = load(tmp_path / 'b' / 'valid.npy')
  assert a.shape == b.shape == (50, 20, 32, 32, 3)
  assert not np.array_equal(a, b)
  assert load(tmp_path / 'a' / 'train.npy').shape[0] == 914


def test_omniglot_gmvae_layout(tmp_path):
  ok(run_script('omniglot', '--layout', 'gmvae', '--out', tmp_path,
                '--source', dataset_path('omniglot')))
  shapes = {'train': 4800, 'val': 400, 'test': 1292}
  total_ink = 0.0
  for split, n in shapes.items():
    x = load(tmp_path / (split + '.npy'))
    assert x.shape == (n, 20, 28, 28, 1) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}  # nearest resize keeps 1-bit
    # Classes 4c..4c+3 are one character turned by 0, 90, 180, 270 degrees.
    for k in range(4):
      assert np.array_equal(x[k::4], np.rot90(x[0::4], k, axes=(2, 3)))
    total_ink += x.sum()
  # Ink = 1; about 8% of the pixels are ink, as in the 105x105 originals.
  assert 0.075 < total_ink / ((4800 + 400 + 1292) * 20 * 784) < 0.085
  assert not (tmp_path / 'valid.npy').exists()


def test_omniglot_reads_original_zip_pixel_exact():
  """The zip reader on real original PNGs gives the npz arrays, ink = True."""
  import zipfile
  from data.omniglot.get_data import read_subset
  small = dataset_path('omniglot', 'original_subsets',
                       'images_background_small1.zip')
  ink = read_subset(str(small))
  ids = sorted({int(n.rsplit('/', 1)[-1][:4])
                for n in zipfile.ZipFile(small).namelist()
                if n.endswith('.png')})
  npz = np.load(dataset_path('omniglot', 'images_background.npz'))['images']
  assert ink.shape == (len(ids), 20, 105, 105) and ink.dtype == bool
  assert np.array_equal(ink, ~npz[np.array(ids) - 1])


def test_omniglot_zip_source_through_cli(tmp_path):
  """A zip and an npz mixed on the command line (detected by extension)."""
  small = dataset_path('omniglot', 'original_subsets',
                       'images_background_small1.zip')
  fake = tmp_path / 'images_background.zip'
  shutil.copy(small, fake)  # a real-format zip, fewer characters than 964
  proc = ok(run_script('omniglot', '--out', tmp_path / 'o', '--no-verify',
                       '--n_valid', '10', '--source', fake,
                       dataset_path('omniglot', 'images_evaluation.npz')))
  assert 'warning:' in proc.stderr
  assert load(tmp_path / 'o' / 'valid.npy').shape == (10, 20, 32, 32, 3)
  assert load(tmp_path / 'o' / 'test.npy').shape == (659, 20, 32, 32, 3)


# --------------------------------------------------------------- errors ----

@pytest.mark.parametrize('name', SCRIPTS)
def test_offline_missing_archive_is_one_clear_line(tmp_path, name):
  extra = ['--archives', tmp_path] if name == 'omniglot' else []
  proc = run_script(name, '--out', tmp_path, *extra)
  line = error_line(proc)
  assert 'not found and could not be downloaded' in line
  assert 'L2B_OFFLINE' in line and '--source' in line
  assert str(tmp_path) in line  # where to put it
  assert not list(tmp_path.glob('*.npy')) and not list(tmp_path.glob('*.part'))


def test_wrong_checksum_is_one_clear_line(tmp_path):
  src = dataset_path('mnist')
  for f in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
    shutil.copy(src / f, tmp_path / f)
  with open(tmp_path / 't10k-labels-idx1-ubyte.gz', 'ab') as f:
    f.write(b'x')
  line = error_line(run_script('mnist', '--out', tmp_path / 'o', '--source',
                               tmp_path))
  assert 't10k-labels-idx1-ubyte.gz has md5' in line
  assert 'expected ec29112dd5afa0611ce80d1b7f02629c' in line


def test_truncated_archive_is_one_clear_line(tmp_path):
  src = dataset_path('mnist')
  shutil.copy(src / 't10k-labels-idx1-ubyte.gz', tmp_path)
  data = (src / 't10k-images-idx3-ubyte.gz').read_bytes()
  (tmp_path / 't10k-images-idx3-ubyte.gz').write_bytes(data[:len(data) // 2])
  # With verification the checksum catches it ...
  line = error_line(run_script('mnist', '--out', tmp_path / 'o', '--source',
                               tmp_path))
  assert 'truncated' in line
  # ... and without it the reader does.
  line = error_line(run_script('mnist', '--out', tmp_path / 'o', '--source',
                               tmp_path, '--no-verify'))
  assert 'cannot read' in line and 'truncated or corrupt' in line
  assert not (tmp_path / 'o' / 'test.npy').exists()


def test_missing_source_file_is_one_clear_line(tmp_path):
  line = error_line(run_script('cifar', '--out', tmp_path, '--source',
                               tmp_path / 'nope.tar.gz'))
  assert 'nope.tar.gz: no such file' in line


# ------------------------------------------------------ data/download.py ----

@pytest.fixture
def http_dir(tmp_path):
  """A loopback HTTP server over tmp_path/www; yields (folder, base URL)."""
  www = tmp_path / 'www'
  www.mkdir()
  class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
      pass
  handler = functools.partial(Quiet, directory=str(www))
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield www, 'http://127.0.0.1:%d/' % server.server_address[1]
  server.shutdown()
  server.server_close()


def test_fetch_archive_downloads_verifies_and_skips(tmp_path, http_dir,
                                                    monkeypatch, capsys):
  from data import download
  monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
  www, url = http_dir
  payload = os.urandom(3 << 20)
  (www / 'a.bin').write_bytes(payload)
  md5 = __import__('hashlib').md5(payload).hexdigest()
  dest = tmp_path / 'dest'
  path = download.fetch_archive('a.bin', url + 'a.bin', str(dest), md5=md5)
  assert open(path, 'rb').read() == payload
  assert sorted(os.listdir(dest)) == ['a.bin']  # no .part left behind
  mtime = os.stat(path).st_mtime_ns
  download.fetch_archive('a.bin', url + 'nowhere', str(dest), md5=md5)
  assert os.stat(path).st_mtime_ns == mtime
  assert 'not downloading it again' in capsys.readouterr().out


def test_fetch_archive_bad_download_leaves_nothing(tmp_path, http_dir,
                                                   monkeypatch):
  from data import download
  monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
  www, url = http_dir
  (www / 'a.bin').write_bytes(b'not the archive')
  dest = tmp_path / 'dest'
  with pytest.raises(UserError, match='has md5 .* expected 0+'):
    download.fetch_archive('a.bin', url + 'a.bin', str(dest), md5='0' * 32)
  assert os.listdir(dest) == []
  with pytest.raises(UserError, match=r'^b.bin not found and could not be '
                     r'downloaded \(.*\); download it from .*b.bin and pass '
                     r'--source PATH or put it in .*dest/$'):
    download.fetch_archive('b.bin', url + 'b.bin', str(dest))  # HTTP 404
  assert os.listdir(dest) == []


def test_fetch_archive_unreachable_host(tmp_path, monkeypatch):
  from data import download
  monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
  import socket
  with socket.socket() as s:  # a free loopback port nobody listens on
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  with pytest.raises(UserError, match='x.tar.gz not found and could not be '
                     'downloaded'):
    download.fetch_archive('x.tar.gz', 'http://127.0.0.1:%d/x' % port,
                           str(tmp_path))


def test_save_split_dense_and_ragged(tmp_path):
  from data import download
  dense = [np.full((3, 4, 4, 3), i, np.uint8) for i in range(2)]
  download.save_split(str(tmp_path / 'd.npy'), dense)
  d = np.load(tmp_path / 'd.npy')  # dense arrays need no pickle
  assert d.shape == (2, 3, 4, 4, 3) and d.dtype == np.float32
  ragged = [np.zeros((n, 4, 4, 3)) for n in (2, 5)]
  download.save_split(str(tmp_path / 'r.npy'), ragged)
  r = np.load(tmp_path / 'r.npy', allow_pickle=True)
  assert r.dtype == object and [c.shape[0] for c in r] == [2, 5]
  assert all(c.dtype == np.float32 for c in r)
  assert sorted(os.listdir(tmp_path)) == ['d.npy', 'r.npy']  # no temp files
