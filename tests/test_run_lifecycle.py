"""The run lifecycle of the three trainers (common/run_dir.py, checkpoints.py,
lifecycle.py), exercised through their command lines on tiny real runs.

Crash safety: each trainer is SIGKILLed at several instants, among them
between the parts of a checkpoint write (CHECKPOINT_KILL_AT, see
common/checkpoints.py), restarted each time, and must end on the bit-identical
weights and optimizer state of an uninterrupted run.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.shared_runs import copy_run
from tests.taml_cli import SMALL, cifar_like
from tests.test_gmvae_cli import TINY as GMVAE_TINY, write_omniglot

KILLED = -signal.SIGKILL
# Bit-identical comparisons run TensorFlow with one intra-op and one inter-op
# thread: with the default pools, two uninterrupted TAML runs can already end
# ~1e-6 relative apart (ops of a metabatch's tasks scheduled concurrently; the
# source is not found yet, README "Runs you can trust").
DETERMINISTIC = {'TF_NUM_INTRAOP_THREADS': '1', 'TF_NUM_INTEROP_THREADS': '1'}


def run(script, *args, env=None, check=None):
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='', **DETERMINISTIC,
                  **(env or {}))
  proc = subprocess.run([sys.executable, str(REPO / script), *map(str, args)],
                        capture_output=True, text=True, env=full_env, cwd=REPO, timeout=600)
  if check is not None:
    assert proc.returncode == check, (proc.returncode, proc.stderr[-3000:])
  return proc


def error_line(proc, code=2):
  assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
  assert len(lines) == 1, proc.stderr[-3000:]
  return lines[0]


def checkpoint_values(folder):
  """Every saved tensor of a checkpoint folder but the save counter."""
  reader = tf.train.load_checkpoint(str(folder))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if 'save_counter' not in k and k != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def assert_identical(a, b):
  a, b = checkpoint_values(a), checkpoint_values(b)
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def kill_and_resume(script, args, kill_points):
  """Run `args` once per kill point with CHECKPOINT_KILL_AT set (each run must die
  by SIGKILL), then once to the end."""
  for point in kill_points:
    proc = run(script, *args, env={'CHECKPOINT_KILL_AT': point})
    assert proc.returncode == KILLED, (point, proc.returncode, proc.stderr[-3000:])
  return run(script, *args, check=0)


# --- Bayesian TAML (main.py) ---

def taml_args(data, savedir, iters=6, *extra):
  return ['--mode', 'meta_train', '--data_dir', data, '--savedir', savedir,
          '--n_train_iters', iters, '--save_freq', 1, '--val_freq', 3, '--alpha_on',
          *SMALL, *extra]


@pytest.fixture(scope='module')
def taml_data(tmp_path_factory):
  return cifar_like(str(tmp_path_factory.mktemp('taml') / 'data'))


@pytest.fixture(scope='module')
def taml_straight(taml_data, tmp_path_factory):
  savedir = tmp_path_factory.mktemp('taml_straight') / 'run'
  run('main.py', *taml_args(taml_data, savedir), check=0)
  return savedir


def test_taml_killed_anywhere_resumes_bit_identical(taml_data, taml_straight, tmp_path):
  savedir = tmp_path / 'run'
  proc = kill_and_resume('main.py', taml_args(taml_data, savedir), [
      'weights_written:2', 'renamed:1', 'published_folder:1'])
  assert 'resumed from iteration' in (savedir / 'train.log').read_text()
  assert_identical(taml_straight / 'ckpt' / 'model-6', savedir / 'ckpt' / 'model-6')
  assert_identical(taml_straight / 'best', savedir / 'best')
  assert not [f for f in os.listdir(savedir / 'ckpt') if f.startswith('.tmp')]
  assert 'Traceback' not in proc.stderr


def test_taml_sigint_saves_and_exits_130(taml_data, taml_straight, tmp_path):
  savedir = tmp_path / 'run'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='', **DETERMINISTIC)
  args = [sys.executable, str(REPO / 'main.py'), *map(str, taml_args(taml_data, savedir))]
  proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=REPO)
  deadline = time.time() + 300
  while not (savedir / 'ckpt' / 'model-1').exists():   # a step is running or done
    assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
    time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 130, err[-3000:]
  assert 'Traceback' not in err
  [line] = [l for l in err.splitlines() if l.startswith('interrupted')]
  assert 'checkpoint saved' in line
  run('main.py', *taml_args(taml_data, savedir), check=0)
  assert_identical(taml_straight / 'ckpt' / 'model-6', savedir / 'ckpt' / 'model-6')


def test_taml_corrupt_newest_checkpoint_falls_back(taml_data, taml_straight, tmp_path):
  savedir = tmp_path / 'run'
  run('main.py', *taml_args(taml_data, savedir, 4), check=0)
  data_file = [f for f in os.listdir(savedir / 'ckpt' / 'model-4') if '.data' in f][0]
  with open(savedir / 'ckpt' / 'model-4' / data_file, 'r+b') as fh:
    fh.truncate(100)
  os.makedirs(savedir / 'ckpt' / '.tmp-model-5-123')     # a leftover of a killed write
  proc = run('main.py', *taml_args(taml_data, savedir), check=0)
  assert 'warning: checkpoint' in proc.stderr
  assert 'model-4 is incomplete or corrupt; using an older one' in proc.stderr
  assert 'resumed from iteration 3' in proc.stdout
  assert not (savedir / 'ckpt' / '.tmp-model-5-123').exists()
  assert_identical(taml_straight / 'ckpt' / 'model-6', savedir / 'ckpt' / 'model-6')


def test_taml_non_finite_stops_and_names_a_finite_checkpoint(taml_data, taml_straight,
                                                             tmp_path):
  savedir = copy_run(taml_straight, tmp_path / 'run')   # 6 iterations
  # resumed with an absurd outer step: the weights blow up after the next update
  proc = run('main.py', *taml_args(taml_data, savedir, 12, '--meta_lr', 1e30,
                                   '--override_config'))
  line = error_line(proc)
  assert 'non-finite' in line and 'last good checkpoint is' in line
  good = line.split('last good checkpoint is ')[1].split(' ')[0]
  values = checkpoint_values(good)
  assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == 'f')
  # the checkpoint whose weights gave the non-finite loss is kept aside, never restored
  assert [f for f in os.listdir(savedir / 'ckpt') if 'gave-non-finite-loss' in f]
  assert max(float(np.abs(v).max()) for k, v in values.items()
             if k.startswith('model/by_name') and v.dtype.kind == 'f') < 1e3


def test_taml_config_is_recorded_and_enforced(taml_data, taml_straight, tmp_path):
  savedir = copy_run(taml_straight, tmp_path / 'run')   # config.json is rewritten below
  config = json.loads((savedir / 'config.json').read_text())
  assert config['meta_lr'] == 1e-3 and config['alpha_on'] is True and config['query'] == 2
  assert config['bn_grad'] == 'fused'
  line = error_line(run('main.py', *taml_args(taml_data, savedir, 4, '--meta_lr', 0.01,
                                              '--seed', 3, '--bn_grad', 'exact')))
  assert 'meta_lr: 0.001 -> 0.01' in line and 'seed: 0 -> 3' in line
  assert "bn_grad: 'fused' -> 'exact'" in line
  # meta_test with the run directory alone tests the trained geometry (--bn_grad, which
  # only the outer gradient uses, may differ)
  proc = run('main.py', '--mode', 'meta_test', '--savedir', savedir, '--data_dir', taml_data,
             '--n_test_episodes', 2, '--bn_grad', 'exact', check=0)
  assert ' acc: ' in proc.stdout
  # a config.json from before --bn_grad existed: the run was trained exact
  del config['bn_grad']
  (savedir / 'config.json').write_text(json.dumps(config))
  line = error_line(run('main.py', *taml_args(taml_data, savedir, 4, '--bn_grad', 'fused')))
  assert "bn_grad: 'exact' -> 'fused'" in line
  line = error_line(run('main.py', '--mode', 'meta_test', '--savedir', savedir,
                        '--data_dir', taml_data, '--max_shot', 7))
  assert 'max_shot: 3 -> 7' in line


@pytest.mark.parametrize('content', ['', '{"way": 5', '[1, 2]'])
def test_unreadable_config_is_one_line(taml_data, tmp_path, content):
  (tmp_path / 'run').mkdir()
  (tmp_path / 'run' / 'config.json').write_text(content)
  line = error_line(run('main.py', *taml_args(taml_data, tmp_path / 'run', 2)))
  assert 'config.json' in line and ('unreadable' in line or 'not a JSON object' in line)


def test_taml_second_writer_is_refused(taml_data, tmp_path):
  from common.run_dir import RunDirectory
  held = RunDirectory(str(tmp_path / 'run'), '--savedir')
  try:
    line = error_line(run('main.py', *taml_args(taml_data, tmp_path / 'run', 2)))
    assert 'in use by process %d' % os.getpid() in line
  finally:
    held.release()


def mount_tmpfs(path, size_bytes):
  """A small tmpfs at `path` (root only): a real full disk; skips elsewhere."""
  path.mkdir()
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d' % size_bytes, 'tmpfs', str(path)],
                    capture_output=True).returncode != 0:
    pytest.skip('cannot mount a tmpfs here (needs root)')
  return path


def folder_bytes(path):
  return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def test_taml_disk_full_and_read_only(taml_data, taml_straight, tmp_path):
  # room for one checkpoint and a half: the second write fills the disk
  size = int(1.5 * folder_bytes(taml_straight / 'ckpt' / 'model-6'))
  mount = mount_tmpfs(tmp_path / 'small', size)
  try:
    savedir = mount / 'run'
    line = error_line(run('main.py', *taml_args(taml_data, savedir, 4, '--keep_checkpoints', 5)))
    assert 'cannot write checkpoint' in line and 'disk full' in line
    kept = sorted(os.listdir(savedir / 'ckpt'))
    assert kept == ['model-1']   # intact, and no temp leftover
    checkpoint_values(savedir / 'ckpt' / 'model-1')
    subprocess.run(['mount', '-o', 'remount,ro', str(mount)], check=True)
    line = error_line(run('main.py', *taml_args(taml_data, mount / 'other', 2)))
    assert 'read-only' in line
  finally:
    subprocess.run(['umount', '-l', str(mount)])
  assert 'is a file' in error_line(run('main.py', *taml_args(taml_data, __file__, 2)))


# --- Meta-GMVAE (gmvae_main.py) ---

def test_gmvae_killed_anywhere_resumes_bit_identical(tmp_path):
  data = write_omniglot(tmp_path / 'data')
  args = lambda savedir: ['--data-dir', data, '--save-dir', savedir, *GMVAE_TINY,
                          '--train-iters', 6, '--save-minutes', 1e-6]
  run('gmvae_main.py', *args(tmp_path / 'straight'), check=0)
  proc = kill_and_resume('gmvae_main.py', args(tmp_path / 'killed'), [
      'weights_written:2', 'published_folder:2', 'state_written:1'])
  assert 'resumed from' in proc.stdout
  assert_identical(tmp_path / 'straight' / 'ckpt' / 'ckpt-6',
                   tmp_path / 'killed' / 'ckpt' / 'ckpt-6')
  assert_identical(tmp_path / 'straight' / '1shot_best', tmp_path / 'killed' / '1shot_best')


# --- TDR (tdr_main.py) ---

def tdr_args(data, job, steps, eval_freq, *extra):
  return ['--data-dir', data, '--dataset', 'mnist', '--job-dir', job, '--train-steps', steps,
          '--eval-freq', eval_freq, '--log-freq', 5, '--num-gpus', 0, '--noprogress',
          '--train-batch-size', 8, '--validation-batch-size', 2, *extra]


def test_tdr_killed_anywhere_resumes_bit_identical(toy_data, tmp_path):
  data = toy_data / 'data'   # 40 training images of MNIST-like idx files
  args = lambda job: tdr_args(data, job, 20, 10, '--save-minutes', 1e-6)
  run('tdr_main.py', *args(tmp_path / 'straight'), check=0)
  kill_and_resume('tdr_main.py', args(tmp_path / 'killed'),
                  ['weights_written:2', 'renamed:1', 'state_written:2'])
  assert_identical(tmp_path / 'straight' / 'checkpoints' / 'model-20',
                   tmp_path / 'killed' / 'checkpoints' / 'model-20')
  # a diverging resume stops with one line before saving, the good checkpoints kept
  line = error_line(run('tdr_main.py', *args(tmp_path / 'killed'), '--train-steps', 40,
                        '--learning-rate', 1e6, '--override-config'))
  assert 'non-finite' in line and 'model-20' in line
  checkpoint_values(tmp_path / 'killed' / 'checkpoints' / 'model-20')
