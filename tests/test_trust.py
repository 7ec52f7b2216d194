"""Nothing wrong is ever kept (issue 22): checkpoints verified whole and owned by
their trainer and run, no best model made of diverged weights, meta_test locked
and refusing non-finite weights, nothing recorded for a run that never started,
and every OS / resource failure, signal or bad environment as one line.

Real files, real processes, real signals; the runs are tiny (seconds each)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from common import checkpoints
from common.checkpoints import CheckpointStore, read_folder
from common.errors import UserError
from common.run_dir import RunDirectory
from tests.conftest import REPO
from tests.shared_runs import copy_run
from tests.taml_cli import cifar_like
from tests.test_cli_contract import one_error, user_env
from tests.test_gmvae_cli import TINY as GMVAE_TINY, write_omniglot
from tests.test_run_lifecycle import error_line, mount_tmpfs, run, taml_args, tdr_args

BAD_BYTE = b'/tmp/run-\xff'


# --------------------------------------------- checkpoints verified whole ----

class _Run:
  """What a CheckpointStore reads of its RunDirectory."""

  def __init__(self, run_id):
    self.run_id, self.config = run_id, {'lr': 1}


def _store(directory, trainer='taml', run_id='r1', value=1.):
  var = tf.Variable(np.full(3, value, np.float32))
  store = CheckpointStore(str(directory), tf.train.Checkpoint(v=var), {'v': var}, keep=5,
                          name='model', trainer=trainer, run=_Run(run_id))
  return store, var


def _saved(tmp_path):
  """Checkpoints 1 and 2 of trainer taml, run r1 (v = step)."""
  store, var = _store(tmp_path / 'ckpt')
  for step in (1, 2):
    var.assign(np.full(3, step, np.float32))
    store.save(step, {'iteration': step, 'samplers': {'id/x': step}})
  return store, var


def _restore(tmp_path, capfd, **kw):
  store, var = _store(tmp_path / 'ckpt', value=0., **kw)
  step, state = store.restore_latest()
  return step, state, float(var.numpy()[0]), capfd.readouterr().err


def test_manifest_covers_state_and_every_file(tmp_path, capfd):
  _saved(tmp_path)
  folder = tmp_path / 'ckpt' / 'model-2'
  manifest = json.loads((folder / 'manifest.json').read_text())
  assert set(manifest['files']) == set(os.listdir(folder)) - {'manifest.json'}
  record = json.loads((folder / 'state.json').read_text())
  assert record['written_by']['trainer'] == 'taml' and record['written_by']['step'] == 2
  assert record['written_by']['run_id'] == 'r1' and 'intra_op' in record['written_by']['threads']
  # a sampler position edited inside the newest checkpoint (still a valid value)
  record['state']['samplers']['id/x'] = 7
  (folder / 'state.json').write_text(json.dumps(record))
  step, state, value, err = _restore(tmp_path, capfd)
  assert (step, value, state['samplers']['id/x']) == (1, 1., 1)
  [line] = [l for l in err.splitlines() if l.startswith('warning:')]
  assert 'model-2 is incomplete or corrupt; using an older one' in line


@pytest.mark.parametrize('change, reason', [
    ('trainer', 'was written by gmvae, not by taml'),
    ('run', 'belongs to another run'),
    ('step', 'records step 2, not the 3 of its name'),
])
def test_foreign_or_inconsistent_newest_falls_back(tmp_path, capfd, change, reason):
  _saved(tmp_path)
  if change == 'step':   # the folder renamed: its state says another iteration
    os.rename(tmp_path / 'ckpt' / 'model-2', tmp_path / 'ckpt' / 'model-3')
  else:
    other, var = _store(tmp_path / 'ckpt', trainer='gmvae' if change == 'trainer' else 'taml',
                        run_id='r2' if change == 'run' else 'r1', value=9.)
    other.save(3, {'epoch': 0})
  step, state, value, err = _restore(tmp_path, capfd)
  assert step == (1 if change == 'step' else 2) and value == step
  assert 'samplers' in state
  warnings = [l for l in err.splitlines() if l.startswith('warning:')]
  assert len(warnings) == 1 and reason in warnings[0] and 'model-3' in warnings[0]


def test_no_genuine_checkpoint_is_refused(tmp_path, capfd):
  _saved(tmp_path)
  with pytest.raises(UserError, match='no usable checkpoint .*model-2 was written by taml'):
    _store(tmp_path / 'ckpt', trainer='gmvae')[0].restore_latest()


def test_old_format_is_restored_with_a_warning(tmp_path, capfd):
  _saved(tmp_path)
  folder = tmp_path / 'ckpt' / 'model-2'   # rewritten as before this change
  record = json.loads((folder / 'state.json').read_text())
  files = json.loads((folder / 'manifest.json').read_text())['files']
  files.pop('state.json')
  os.remove(folder / 'manifest.json')
  (folder / 'state.json').write_text(json.dumps({'state': record['state'], 'files': files}))
  step, state, value, err = _restore(tmp_path, capfd)
  assert (step, value) == (2, 2.)
  assert 'written before checkpoints recorded their trainer' in err


def test_thread_settings_change_is_one_warning(tmp_path):
  _saved(tmp_path)
  code = ('import sys; sys.path.insert(0, %r); from tests.test_trust import _store; '
          'import pathlib; print(_store(pathlib.Path(%r))[0].restore_latest()[0])'
          % (str(REPO), str(tmp_path / 'ckpt')))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', TF_NUM_INTRAOP_THREADS='1',
             TF_NUM_INTEROP_THREADS='1')
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == '2'
  [line] = [l for l in proc.stderr.splitlines() if l.startswith('warning:')]
  assert 'no longer bit-reproducible' in line and '1 / 1' in line


def test_best_made_of_diverged_weights_is_withdrawn(tmp_path):
  store, var = _saved(tmp_path)
  best = str(tmp_path / 'best')
  store.publish(best, 2, tf.train.Checkpoint(v=var), {'iteration': 2})
  assert os.path.isdir(best)
  store.set_aside(2, 'gave-non-finite-loss')   # the weights of step 2 gave a NaN
  assert not os.path.lexists(best)
  assert [f for f in os.listdir(tmp_path) if f.startswith('best-2.gave-non-finite-loss')]


def test_evaluation_refuses_non_finite_weights(tmp_path):
  var = tf.Variable(np.array([1., np.inf, 0.], np.float32))
  ckpt = tf.train.Checkpoint(v=var)
  checkpoints.write_folder(str(tmp_path / 'best-1'), ckpt, {'iteration': 1},
                           {'trainer': 'taml', 'step': 1})
  with pytest.raises(UserError, match='holds non-finite weights'):
    read_folder(str(tmp_path / 'best-1'), ckpt, trainer='taml', variables={'v': var})
  with pytest.raises(UserError, match='was written by taml, not by gmvae'):
    read_folder(str(tmp_path / 'best-1'), ckpt, trainer='gmvae')


# ------------------------------------------------------- run directory ----

def test_evaluation_lock_is_shared_and_exclusive_against_training(tmp_path):
  path = str(tmp_path / 'run')
  trainer = RunDirectory(path, '--savedir')
  with pytest.raises(UserError, match='in use by training process %d' % os.getpid()):
    RunDirectory(path, '--savedir', evaluation=True)
  trainer.release()
  first = RunDirectory(path, '--savedir', evaluation=True)
  second = RunDirectory(path, '--savedir', evaluation=True)   # evaluations side by side
  with pytest.raises(UserError, match='is being evaluated'):
    RunDirectory(path, '--savedir')
  first.release(), second.release()
  assert open(os.path.join(path, '.lock')).read() == str(os.getpid())   # the trainer's pid


def test_config_is_written_when_training_starts(tmp_path):
  path = str(tmp_path / 'run')
  run_dir = RunDirectory(path, '--savedir')
  run_dir.check_config({'lr': 1})
  assert not os.path.exists(os.path.join(path, 'config.json'))   # nothing ran yet
  run_dir.release()
  run_dir = RunDirectory(path, '--savedir')
  run_dir.check_config({'lr': 2})   # the failed start left nothing that refuses this
  run_dir.commit_config()
  saved = json.loads(open(os.path.join(path, 'config.json')).read())
  assert saved['lr'] == 2 and len(saved['run_id']) == 32 and run_dir.run_id == saved['run_id']


# ----------------------------------------------------------- entry points ----

@pytest.fixture(scope='module')
def taml_data(tmp_path_factory):
  return cifar_like(str(tmp_path_factory.mktemp('trust') / 'data'))


@pytest.fixture(scope='module')
def taml_one_iteration(taml_data, tmp_path_factory):
  """A TAML run of 1 iteration, validated (so with a best model); tests copy it."""
  savedir = tmp_path_factory.mktemp('trust_run') / 'run'
  run('main.py', *taml_args(taml_data, savedir, 1, '--val_freq', 1), check=0)
  return savedir


def test_taml_failed_first_start_records_nothing(taml_data, tmp_path):
  savedir = tmp_path / 'run'
  line = error_line(run('main.py', *taml_args(tmp_path / 'nodata', savedir, 2)))
  assert 'nodata' in line
  assert not (savedir / 'config.json').exists()
  line = error_line(run('main.py', *taml_args(taml_data, savedir, 2, '--id_dataset', ',')))
  assert '--id_dataset names no dataset' in line
  assert not (savedir / 'config.json').exists()


def test_taml_diverged_run_leaves_no_best_and_meta_test_is_locked(taml_data, taml_one_iteration,
                                                                  tmp_path):
  savedir = copy_run(taml_one_iteration, tmp_path / 'run')
  assert os.path.isdir(savedir / 'best')
  # resumed with an absurd step: validation of the exploded weights is NaN
  proc = run('main.py', *taml_args(taml_data, savedir, 4, '--val_freq', 1, '--meta_lr', 1e30,
                                   '--override_config'))
  assert 'non-finite' in error_line(proc)
  assert 'not taken as a best model' in proc.stderr
  best = os.path.realpath(savedir / 'best')
  reader = tf.train.load_checkpoint(best)
  assert all(np.abs(reader.get_tensor(k)).max() < 1e3 for k in reader.get_variable_to_shape_map()
             if k.startswith('model/by_name') and reader.get_tensor(k).dtype.kind == 'f')
  # meta_test while a trainer holds the run: refused in one line
  held = RunDirectory(str(savedir), '--savedir')
  try:
    line = error_line(run('main.py', '--mode', 'meta_test', '--savedir', savedir,
                          '--data_dir', taml_data, '--n_test_episodes', 2))
    assert 'in use by training process %d' % os.getpid() in line
  finally:
    held.release()
  assert not [f for f in os.listdir(savedir) if f.startswith('test_')]


def test_taml_meta_test_on_a_read_only_run_is_one_line(taml_data, taml_one_iteration, tmp_path):
  mount = mount_tmpfs(tmp_path / 'small', 64 << 20)
  try:
    savedir = copy_run(taml_one_iteration, mount / 'run')
    subprocess.run(['mount', '-o', 'remount,ro', str(mount)], check=True)
    line = error_line(run('main.py', '--mode', 'meta_test', '--savedir', savedir,
                          '--data_dir', taml_data, '--n_test_episodes', 2))
    assert 'not writable' in line
  finally:
    subprocess.run(['umount', '-l', str(mount)])


def test_sigterm_in_meta_test_is_one_line_and_130(taml_data, taml_one_iteration, tmp_path):
  savedir = copy_run(taml_one_iteration, tmp_path / 'run')
  env = user_env(CUDA_VISIBLE_DEVICES='')   # TensorFlow's start-up lines kept off stderr
  proc = subprocess.Popen([sys.executable, str(REPO / 'main.py'), '--mode', 'meta_test',
                           '--savedir', str(savedir), '--data_dir', taml_data,
                           '--n_test_episodes', '100000'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
  deadline = time.time() + 300
  while not any(f.startswith('test_') for f in os.listdir(savedir)):   # testing began
    assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
    time.sleep(0.1)
  time.sleep(1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err[-3000:]
  assert 'Traceback' not in err
  assert [l for l in err.splitlines() if l.strip()] == ['interrupted (SIGTERM)']


def test_gmvae_diverged_run_leaves_no_best(tmp_path):
  data = write_omniglot(tmp_path / 'data')
  save = tmp_path / 'run'
  args = ['--data-dir', data, '--save-dir', save, *GMVAE_TINY, '--freq-iters', 1,
          '--train-iters', 4, '--lr', 1e30]
  proc = run('gmvae_main.py', *args)
  assert 'non-finite' in error_line(proc)
  for shot in (1, 5):   # published from the exploded weights of step 1, then withdrawn
    assert not os.path.lexists(save / ('%dshot_best' % shot))
    assert [f for f in os.listdir(save) if f.startswith('%dshot_best-0.gave-non-finite' % shot)]


# ------------------------------------------------- one line for the OS ----

@pytest.mark.parametrize('script, flag', [('main.py', '--savedir'), ('tdr_main.py', '--job-dir'),
                                          ('gmvae_main.py', '--save-dir'),
                                          ('makeImbalanceDataset.py', '--data-dir'),
                                          ('data/mnist/get_data.py', '--out')])
def test_non_utf8_path_is_one_line(script, flag):
  proc = subprocess.run([sys.executable, str(REPO / script), flag.encode() + b'=' + BAD_BYTE],
                        cwd=REPO, capture_output=True, env=user_env(), timeout=120)
  proc.stderr = proc.stderr.decode(errors='replace')
  one_error(proc, flag, 'not valid UTF-8')


@pytest.mark.parametrize('value', ['-1', 'two'])
def test_bad_thread_variable_is_one_line(value):
  proc = subprocess.run([sys.executable, str(REPO / 'main.py'), '--savedir', '/tmp/x'],
                        cwd=REPO, capture_output=True, text=True, timeout=120,
                        env=user_env(TF_NUM_INTRAOP_THREADS=value))
  one_error(proc, 'TF_NUM_INTRAOP_THREADS=%s' % value)


def test_get_data_out_errors_are_one_line(tmp_path):
  a_file = tmp_path / 'file'
  a_file.write_text('x')
  loop = tmp_path / 'loop'
  os.symlink(loop, loop)
  for out, needle in ((a_file, 'is a file'), (loop, 'link loop'),
                      (tmp_path / ('x' * 300), 'too long')):
    proc = subprocess.run([sys.executable, str(REPO / 'data/mnist/get_data.py'), '--out',
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=user_env())
    one_error(proc, needle)


def test_get_data_full_disk_is_one_line_without_temp_files(tmp_path):
  src = REPO.parent / 'shared' / 'datasets' / 'mnist'
  if not src.is_dir():
    pytest.skip('no ../shared/datasets/mnist')
  mount = mount_tmpfs(tmp_path / 'small', 1 << 20)   # far less than test.npy
  try:
    proc = subprocess.run([sys.executable, str(REPO / 'data/mnist/get_data.py'), '--out',
                           str(mount / 'mnist'), '--source', str(src)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=user_env())
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    [line] = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
    assert 'disk full' in line
    assert os.listdir(mount / 'mnist') == []
  finally:
    subprocess.run(['umount', '-l', str(mount)])


SYSTEM_FAILURE = '''
import sys; sys.path.insert(0, %r)
from common.errors import run_cli
def main(argv):
  {body}
run_cli(main, memory_hint='a smaller --metabatch')
'''


@pytest.mark.parametrize('body, needle', [
    ("open('/proc/nowhere/x', 'w')", '/proc/nowhere/x: No such file or directory'),
    ("raise MemoryError()", 'out of memory; try a smaller --metabatch'),
    ("from common.tf_env import quiet_tensorflow_import; tf = quiet_tensorflow_import(); "
     "raise tf.errors.ResourceExhaustedError(None, None, 'OOM when allocating tensor')",
     'out of memory (OOM when allocating tensor); try a smaller'),
])
def test_os_and_memory_failures_are_one_line(body, needle):
  code = SYSTEM_FAILURE.replace('{body}', body) % str(REPO)
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        timeout=120, env=user_env())
  one_error(proc, needle)


def test_bool_flag_followed_by_false():
  from absl import flags
  from common.dash_flags import normalise_argv
  values = flags.FlagValues()
  flags.DEFINE_bool('use-distortion-for-training', True, '', flag_values=values)
  argv = normalise_argv(['x', '--use-distortion-for-training', 'False', '--other'], values)
  assert argv == ['x', '--use-distortion-for-training=false', '--other']
  values(argv[:2])
  assert values['use-distortion-for-training'].value is False


def test_tdr_metrics_keep_the_evaluations_before_a_resume(toy_data, tmp_path):
  data = toy_data / 'data'
  args = lambda job: tdr_args(data, job, 15, 5, '--eval')
  run('tdr_main.py', *args(tmp_path / 'straight'), check=0)
  killed = run('tdr_main.py', *args(tmp_path / 'killed'),
               env={'CHECKPOINT_KILL_AT': 'renamed:2'})   # right after model-10 is committed
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  run('tdr_main.py', *args(tmp_path / 'killed'), check=0)
  history = lambda job: json.loads((job / 'metrics.json').read_text())['history']
  assert [h['step'] for h in history(tmp_path / 'killed')] == [5, 10, 15]
  assert history(tmp_path / 'killed') == history(tmp_path / 'straight')
