"""The input contract of every entry point, as a user meets it (real subprocesses):
flag errors and out-of-range numbers are one `error:` line with exit 2, `--help`
exits 0, Ctrl-C exits 130 with one line, TensorFlow's start-up chatter stays off
stderr, arrays of the wrong dtype or range are refused, `--source` typos are named,
first runs create their folders and find ../shared/datasets, and result scripts
leave the committed records alone unless asked.  Bad-flag runs stop before any
TensorFlow work, so most of these take a second."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, dataset_path

ENTRY_POINTS = ['main.py', 'tdr_main.py', 'gmvae_main.py', 'makeImbalanceDataset.py']
DATA_SCRIPTS = sorted(p.parent.name for p in (REPO / 'data').glob('*/get_data.py'))


def user_env(**extra):
  """The environment of a user who set nothing: no TF_CPP_MIN_LOG_LEVEL, offline,
  no shared-datasets lookup unless asked."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env.update(L2B_OFFLINE='1', SHARED_DATASETS='')
  env.update({k: str(v) for k, v in extra.items()})
  return env


def run(script, *args, env=None, timeout=300):
  return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout,
                        env=env or user_env())


def one_error(proc, *needles, code=2):
  """stderr is exactly one `error:` line (nothing else: no TF chatter, no traceback)."""
  assert proc.returncode == code, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr[-3000:]
  for needle in needles:
    assert needle in lines[0], lines[0]
  return lines[0]


# ------------------------------------------------------------ flag parsing ----

@pytest.mark.parametrize('script', ENTRY_POINTS)
def test_unknown_flag_is_one_error_line(script):
  one_error(run(script, '--bogus_flag=1'), 'bogus_flag', '(see --help)')


@pytest.mark.parametrize('script', ENTRY_POINTS + ['results/tdr_mnist.py'])
@pytest.mark.parametrize('flag', ['--help', '--helpfull'])
def test_help_exits_zero(script, flag):
  proc = run(script, flag)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'flags' in proc.stdout.lower() and not proc.stderr.strip(), proc.stderr
  # examples unbroken, as written (Python >= 3.13 strips a docstring's common indentation)
  shown = [l.strip() for l in proc.stdout.splitlines()]
  for line in source_docstring(script).splitlines():
    assert line.strip() in shown, (line, proc.stdout[:3000])


def source_docstring(script):
  """The module docstring as it stands in the file (a `\\` continuation included)."""
  text = (REPO / script).read_text()
  start = text.index('"""') + 3
  return text[start:text.index('"""', start)]


@pytest.mark.parametrize('script, resume_only', [
    ('main.py', False), ('tdr_main.py', True), ('gmvae_main.py', True)])
def test_flag_help_says_what_the_flag_does(script, resume_only):
  help_text = ' '.join(run(script, '--helpshort').stdout.split())
  flag = '--[no]override_config:' if script == 'main.py' else '--[no]override-config:'
  said = help_text.split(flag)[1].split(' --')[0]
  assert ('meta-test' in said) != resume_only, said   # only TAML has a meta-test mode
  if script == 'gmvae_main.py':
    gpu = help_text.split('--gpu-id:')[1].split(' --')[0]
    assert 'Unset: 0' in gpu and '(default:' not in gpu, gpu   # no default 0 that unset is not


@pytest.mark.parametrize('script, args, needle', [
    ('main.py', ['--n_steps', '-1'], '--n_steps=-1: must be >= 1'),
    ('main.py', ['--meta_lr', '-1'], '--meta_lr=-1.0: must be > 0'),
    ('main.py', ['--n_mc_samples', '-2'], 'must be >= 0'),
    ('main.py', ['--inner_lr', '0'], 'must be > 0'),
    ('main.py', ['--save_freq', '0'], 'must be >= 1'),
    ('main.py', ['--way', '1'], 'must be >= 2'),
    ('main.py', ['--n_test_episode', '0'], 'must be >= 1'),   # the original's alias
    ('main.py', ['--way', 'five'], "invalid literal for int()"),
    ('tdr_main.py', ['--learning-rate', '-1'], 'must be > 0'),
    ('tdr_main.py', ['--momentum', '1'], 'must be < 1'),
    ('tdr_main.py', ['--momentum', '-0.1'], 'must be >= 0'),
    ('tdr_main.py', ['--weight_decay', '-1'], 'must be >= 0'),   # underscore spelling too
    ('tdr_main.py', ['--train-steps', '0'], 'must be >= 1'),
    ('tdr_main.py', ['--num-class', '1'], 'must be >= 2'),
    ('gmvae_main.py', ['--lr', '0'], 'must be > 0'),
    ('gmvae_main.py', ['--weight-decay', '-1'], 'must be >= 0'),
    ('gmvae_main.py', ['--way', '1'], 'must be >= 2'),
    ('gmvae_main.py', ['--train-iters', '-1'], 'must be >= 0'),
    ('makeImbalanceDataset.py', ['--ratio', '1'], 'must be < 1'),
    ('makeImbalanceDataset.py', ['--ratio', '0'], 'must be > 0'),
    ('makeImbalanceDataset.py', ['--train-size', '0'], 'must be >= 1'),
    ('makeImbalanceDataset.py', ['--imf', '0.5'], 'must be >= 1'),
])
def test_numeric_flags_are_range_checked(script, args, needle):
  one_error(run(script, *args), needle)


@pytest.mark.parametrize('name', DATA_SCRIPTS)
def test_data_script_contract(tmp_path, name):
  script = 'data/%s/get_data.py' % name
  one_error(run(script, '--out', tmp_path, '--source', tmp_path / 'nope.tar.gz'),
            '--source', 'nope.tar.gz: no such file or folder')
  one_error(run(script, '--bogus'), 'unrecognized arguments: --bogus', '--help')
  proc = run(script, '--help')
  assert proc.returncode == 0 and 'usage:' in proc.stdout and not proc.stderr
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('args, needle', [
    (['--seed', '-1'], 'must be >= 0'), (['--n_valid', '0'], 'must be >= 1'),
    (['--layout', 'x'], 'invalid choice')])
def test_data_script_numbers(args, needle):
  one_error(run('data/omniglot/get_data.py', *args), needle)


def test_make_imbalance_missing_source_named(tmp_path):
  one_error(run('makeImbalanceDataset.py', '--data-dir', tmp_path / 'd', '--source',
                tmp_path / 'nothing'), '--source not found', 'nothing')
  assert not (tmp_path / 'd').exists()


CTRL_C = ('import sys; sys.path.insert(0, %r)\n'
          'from common.errors import {runner}\n'
          'def main(argv):\n  raise KeyboardInterrupt\n'
          '{runner}(main)\n')


@pytest.mark.parametrize('runner', ['run_cli', 'absl_main'])
def test_ctrl_c_outside_training_is_one_line_and_130(runner):
  proc = subprocess.run([sys.executable, '-c', CTRL_C.format(runner=runner) % str(REPO)],
                        capture_output=True, text=True, timeout=60, env=user_env())
  assert proc.returncode == 130, proc.stderr
  assert proc.stderr.strip() == 'interrupted', proc.stderr


# ------------------------------------------------- TensorFlow start-up noise ----

def test_tensorflow_startup_is_quiet_without_tf_cpp_min_log_level(tmp_path):
  """main.py imports TensorFlow, probes devices, then fails on the data: the error
  line must be all of stderr (no CUDA / absl::InitializeLog / cuInit lines)."""
  proc = run('main.py', '--savedir', tmp_path / 'run', '--data_dir', tmp_path / 'nothing',
             '--n_train_iters', 1)
  one_error(proc, 'cifar/train.npy not found')


def test_user_tf_cpp_min_log_level_is_respected():
  """With TF_CPP_MIN_LOG_LEVEL set, stderr is left to TensorFlow (nothing captured)."""
  code = ('import os, sys; sys.path.insert(0, %r)\n'
          'from common import tf_env\n'
          'tf_env.configure_tensorflow_env(None)\n'
          'print(tf_env._USER_LOG_LEVEL, os.environ["TF_CPP_MIN_LOG_LEVEL"])\n' % str(REPO))
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       env=user_env(TF_CPP_MIN_LOG_LEVEL='0')).stdout.split()
  assert out == ['True', '0']
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       env=user_env()).stdout.split()
  assert out == ['False', '3']   # TF 2.21 logs benign ERROR-level lines mid-run (tf_env)


# ------------------------------------------------------- arrays: dtype, range ----

def _write(root, name, split, array):
  os.makedirs(root / name, exist_ok=True)
  np.save(root / name / split, array)


@pytest.mark.parametrize('name, array, needle', [
    ('cifar', np.full((5, 4, 32, 32, 3), 200, np.uint8), 'holds uint8 values'),
    ('cifar', np.full((5, 4, 32, 32, 3), 200, np.float32), 'values in [200, 200], expected [0, 1]'),
    ('cifar', np.full((5, 4, 32, 32, 3), np.nan, np.float32), 'expected [0, 1]'),
    ('vgg_flower', np.full((5, 4, 32, 32, 3), 300, np.float32), 'expected [0, 255]'),
])
def test_taml_loader_refuses_wrong_arrays(tmp_path, name, array, needle):
  from common.errors import UserError
  from data.taml_datasets import load_dataset
  _write(tmp_path, name, 'train.npy', array)
  with pytest.raises(UserError) as err:
    load_dataset(name, str(tmp_path), ['mtr'])
  assert needle in str(err.value) and 'data/%s/get_data.py' % name in str(err.value)


def test_taml_loader_accepts_unit_floats_and_raw_vgg_flower(tmp_path):
  from data.taml_datasets import load_dataset
  _write(tmp_path, 'cifar', 'train.npy', np.ones((5, 4, 32, 32, 3), np.float32))
  _write(tmp_path, 'vgg_flower', 'train.npy', np.full((5, 4, 32, 32, 3), 255, np.float32))
  ragged = np.empty(2, object)
  ragged[0], ragged[1] = np.zeros((3, 32, 32, 3), np.float32), np.ones((4, 32, 32, 3), np.float32)
  _write(tmp_path, 'aircraft', 'train.npy', ragged)
  for name in ('cifar', 'vgg_flower', 'aircraft'):
    assert len(load_dataset(name, str(tmp_path), ['mtr'])['mtr']) in (2, 5)


def test_main_refuses_uint8_arrays_in_one_line(tmp_path):
  for split in ('train', 'valid', 'test'):
    _write(tmp_path, 'cifar', split + '.npy', np.zeros((8, 10, 32, 32, 3), np.uint8))
  for split in ('valid', 'test'):
    _write(tmp_path, 'svhn', split + '.npy', np.zeros((8, 10, 32, 32, 3), np.float32))
  one_error(run('main.py', '--savedir', tmp_path / 'run', '--data_dir', tmp_path,
                '--n_train_iters', 1), 'holds uint8 values', 'get_data.py')


def test_gmvae_loaders_refuse_wrong_arrays(tmp_path):
  from common.errors import UserError
  from data.gmvae import mimgnet, omniglot
  for split in omniglot.SPLITS:
    np.save(tmp_path / (split + '.npy'), np.ones((6, 20, 28, 28, 1), np.uint8))
  with pytest.raises(UserError, match='holds uint8 values.*get_data.py --layout gmvae'):
    omniglot.load(str(tmp_path))
  for split in omniglot.SPLITS:
    np.save(tmp_path / (split + '.npy'), np.full((6, 20, 28, 28, 1), 255, np.float32))
  with pytest.raises(UserError, match=r'values in \[255, 255\], expected finite pixels'):
    omniglot.load(str(tmp_path))
  np.save(mimgnet.features_path(str(tmp_path), 'train'), np.ones((600, 8), np.int64))
  with pytest.raises(UserError, match='holds int64 values, expected float32 features'):
    mimgnet.load_features(str(tmp_path), 'train', None)
  np.save(mimgnet.features_path(str(tmp_path), 'train'), np.full((600, 8), np.inf, np.float32))
  with pytest.raises(UserError, match='non-finite'):
    mimgnet.load_features(str(tmp_path), 'train', None)


# ---------------------------------------------------------------- first run ----

def test_make_imbalance_creates_missing_parents(tmp_path):
  from tests.test_tdr_cli import write_idx
  write_idx(str(tmp_path / 'mnist'))
  data_dir = tmp_path / 'runs' / 'data' / 'mnist_23'
  proc = run('makeImbalanceDataset.py', '--data-dir', data_dir, '--source', tmp_path / 'mnist',
             '--train-size', 60, '--validation-size', 4, '--test-size', 20, '--ratio', 0.5)
  assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr[-3000:]   # sizes exact
  assert (data_dir / 'train.tfrecords').is_file()


def test_check_parent_dir_creates_or_explains(tmp_path):
  from common.errors import UserError
  from data.tdr import check_parent_dir
  assert check_parent_dir(str(tmp_path / 'a' / 'b' / 'job'), '--job-dir') == str(
      tmp_path / 'a' / 'b' / 'job')
  assert (tmp_path / 'a' / 'b').is_dir()
  (tmp_path / 'file').write_text('')
  with pytest.raises(UserError, match='cannot create the parent folder of --job-dir'):
    check_parent_dir(str(tmp_path / 'file' / 'x' / 'job'), '--job-dir')


def test_get_data_finds_shared_datasets(tmp_path):
  """No --source: the archives of $SHARED_DATASETS/<name> (the quickstarts' lookup)."""
  shared = dataset_path('mnist').parent
  proc = run('data/mnist/get_data.py', '--out', tmp_path, env=user_env(SHARED_DATASETS=shared))
  assert proc.returncode == 0, proc.stderr
  assert 'looking for the archives in %s' % (shared / 'mnist') in proc.stdout
  assert (tmp_path / 'test.npy').is_file()
  proc = run('data/mnist/get_data.py', '--out', tmp_path / 'x')   # lookup off, offline
  assert 'not found and could not be downloaded' in one_error(proc)


def test_runfiles_prepare_gmvae_omniglot():
  for way in ('5way', '20way'):
    text = (REPO / 'runfiles' / ('omniglot_gmvae_%s.sh' % way)).read_text()
    assert 'data/omniglot/get_data.py --layout gmvae --out "$DATA_DIR"' in text
    assert text.index('get_data.py') < text.index('gmvae_main.py')


# --------------------------------------------------------------- progress ----

def test_progress_bar_outside_a_terminal(tmp_path):
  from common.progress import NON_TTY_INTERVAL, progress
  with open(tmp_path / 'log', 'w') as log:
    bar = progress(range(7), unit='img', desc='x', file=log)
    assert bar.total == 7 and bar.unit == 'img' and bar.mininterval == NON_TTY_INTERVAL
    list(bar)
    bar.close()
  assert (tmp_path / 'log').read_text() == ''   # a quick loop prints nothing to a file


# ---------------------------------------------------------------- results ----

def _committed_runs():
  runs = REPO / 'results' / 'runs'
  return {p.name: p.stat().st_mtime_ns for p in runs.glob('*.json')}


def test_result_scripts_refuse_record_with_out(tmp_path):
  one_error(run('results/tdr_mnist.py', '--record', '--out', tmp_path / 't.md'), '--record')
  one_error(run('results/taml_omniglot.py', '--record', '--out', tmp_path / 't.md'), '--record')
  one_error(run('results/taml_omniglot.py', '--iters', '1'), 'must be >= 2')


def test_tdr_mnist_writes_where_out_says(tmp_path):
  source = dataset_path('mnist')
  before = _committed_runs()
  out = tmp_path / 'table' / 'tdr.md'
  proc = run('results/tdr_mnist.py', '--source', source, '--work-dir', tmp_path / 'work',
             '--out', out, '--train-steps', 2, '--seeds', 0, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert out.is_file() and len(list((tmp_path / 'table' / 'runs').glob('tdr_mnist_*.json'))) == 6
  assert _committed_runs() == before
