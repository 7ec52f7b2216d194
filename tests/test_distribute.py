"""tf.distribute: a 2-replica step equals the single-device step; multi-worker
training keeps the workers identical; bad cluster input fails clearly.

The CPU is split into 2 logical devices in a fresh process
(`tests/distributed_run.py`), since that must happen before TensorFlow starts.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

TIMEOUT_S = 240


def run_module(*args, env=None, timeout=TIMEOUT_S):
  return subprocess.run([sys.executable, '-m', 'tests.distributed_run'] + list(args),
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def tf_config(ports, index):
  return json.dumps({'cluster': {'worker': ['127.0.0.1:%d' % p for p in ports]},
                     'task': {'type': 'worker', 'index': index}})


def assert_equivalent(report, rtol=1e-4, floor=1e-5):
  """Per tensor: |single - 2 replicas| <= rtol * its scale, with a floor relative to
  the largest update (gradients that are float32 round-off, e.g. conv biases
  feeding batch norm, differ at that level only)."""
  diff, scale = report['max_abs_diff'], report['scale']
  largest = max(v for k, v in scale.items() if k.startswith('update/'))
  bad = {k: (diff[k], scale[k]) for k in diff
         if diff[k] > max(rtol * scale[k], floor * largest)}
  assert not bad, 'single device vs 2 replicas differ: %s' % bad


@pytest.mark.parametrize('trainer', ['taml', 'tdr', 'gmvae'])
def test_two_replicas_equal_one_device(trainer):
  out = run_module('equivalence', trainer)
  assert out.returncode == 0, out.stderr[-3000:]
  assert_equivalent(json.loads(out.stdout.strip().splitlines()[-1]))


def test_multi_worker_keeps_workers_identical(tmp_path):
  ports = free_ports(2)
  procs = []
  for i in range(2):
    env = dict(os.environ, TF_CONFIG=tf_config(ports, i))
    procs.append(subprocess.Popen(
        [sys.executable, '-m', 'tests.distributed_run', 'worker', 'taml',
         str(tmp_path / ('worker%d.npz' % i))], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    outputs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, (stdout, stderr) in zip(procs, outputs):
    assert p.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.strip().splitlines()[-1])['replicas'] == 2
  a, b = (np.load(tmp_path / ('worker%d.npz' % i)) for i in range(2))
  changed = 0
  for key in a.files:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    changed += key.startswith('update/') and bool(np.any(a[key]))
  assert changed > 10, 'the workers did not train'


def test_unreachable_worker_fails_within_the_timeout():
  port, absent = free_ports(2)
  env = dict(os.environ, TF_CONFIG=tf_config([port, absent], 0))
  out = subprocess.run(
      [sys.executable, '-c', 'from common import distribute; from common.errors import run_cli; '
       'run_cli(lambda a: distribute.make_strategy("multi_worker", connect_timeout_s=3))'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1] == (
      'error: TF_CONFIG cluster.worker[1] at 127.0.0.1:%d did not answer within 3 s: start '
      'every worker with the same TF_CONFIG (or raise the connect timeout)' % absent)


@pytest.mark.parametrize('raw, message', [
    (None, 'needs the TF_CONFIG environment variable'),
    ('{"cluster": ', 'TF_CONFIG is not valid JSON'),
    ('[]', 'must be a JSON object with "cluster" and "task"'),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     'expected "host:port"'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     'task.type \'chief\' is not in cluster'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     'task.index 1 out of range'),
])
def test_malformed_tf_config_is_one_clear_error(raw, message):
  from common.distribute import read_tf_config
  from common.errors import UserError
  with pytest.raises(UserError, match='.*' + message.replace('[', r'\[').replace('"', '"')):
    read_tf_config({} if raw is None else {'TF_CONFIG': raw})


def test_taml_cli_checkpoints_move_between_replica_counts(tmp_path):
  """Train 2 iterations on 2 replicas, resume to 4 on one device, meta-test on 2:
  the checkpoint holds one copy of each variable, whatever wrote it."""
  from tests.taml_cli import SMALL, cifar_like, run_main
  from tests.test_taml_cli import variables
  data = cifar_like(str(tmp_path / 'data'))
  savedir = tmp_path / 'run'
  two = ['--strategy', 'mirrored', '--cpu_devices', '2']
  base = ['--mode', 'meta_train', '--data_dir', data, '--savedir', savedir, '--save_freq', 2,
          '--val_freq', 2, *SMALL, '--alpha_on', '--omega_on']
  run_main(*base, '--n_train_iters', 2, *two)
  first = variables(str(savedir / 'ckpt' / 'model-2'))
  proc = run_main(*base, '--n_train_iters', 4)
  assert 'resumed from iteration 2' in proc.stdout
  resumed = variables(str(savedir / 'ckpt' / 'model-4'))
  assert set(first) == set(resumed)
  assert any(np.any(first[k] != resumed[k]) for k in first)
  proc = run_main('--mode', 'meta_test', '--data_dir', data, '--savedir', savedir,
                  *SMALL, '--alpha_on', '--omega_on', *two)
  assert sum(' acc: ' in line for line in proc.stdout.splitlines()) == 2


def test_taml_metabatch_not_divisible_by_replicas(tmp_path):
  from tests.taml_cli import SMALL, cifar_like, error_lines, run_main
  data = cifar_like(str(tmp_path / 'data'))
  flags = [f if f != '2' or SMALL[i - 1] != '--metabatch' else '3' for i, f in enumerate(SMALL)]
  proc = run_main('--mode', 'meta_train', '--data_dir', data, '--savedir', tmp_path / 'run',
                  '--n_train_iters', 2, *flags, '--strategy', 'mirrored', '--cpu_devices', '2',
                  check=False)
  assert proc.returncode == 2
  assert error_lines(proc) == ['error: --metabatch 3 is not divisible by the 2 replicas of the '
                               'strategy; use a multiple of 2']


def test_gmvae_cli_trains_on_two_replicas_and_resumes_on_one(tmp_path):
  from tests.test_gmvae_cli import TINY, cli, write_omniglot
  data = write_omniglot(tmp_path / 'data')
  save = str(tmp_path / 'run')
  args = ['--dataset', 'omniglot', '--data-dir', data, '--save-dir', save, *TINY]
  proc = cli(*args, '--train-iters', '2', '--strategy', 'mirrored', '--cpu-devices', '2')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Final Test Accuracy' in proc.stdout
  proc = cli(*args, '--train-iters', '4')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'resumed from' in proc.stdout and 'at iteration 2' in proc.stdout


def test_gmvae_batch_not_divisible_by_replicas(tmp_path):
  from tests.test_gmvae_cli import TINY, assert_user_error, cli, write_omniglot
  data = write_omniglot(tmp_path / 'data')
  tiny = [a if a != '2' or TINY[i - 1] != '--batch-size' else '3' for i, a in enumerate(TINY)]
  proc = cli('--dataset', 'omniglot', '--data-dir', data, '--save-dir', str(tmp_path / 'run'),
             *tiny, '--train-iters', '2', '--strategy', 'mirrored', '--cpu-devices', '2')
  assert_user_error(proc, '--batch-size 3 is not divisible by the 2 replicas')


def test_tdr_cli_two_replicas_then_one_and_batch_check(toy_data, tmp_path):
  """A 2-replica run's checkpoint resumes on one device; a batch that does not
  split over the replicas is one clear line."""
  from tests.test_tdr_cli import assert_one_error_line, run, train
  job = tmp_path / 'job'
  two = ['--strategy', 'mirrored', '--cpu-devices', '2']
  metrics, _ = train(toy_data / 'data', job, 4, '--train-batch-size', '8',
                     '--validation-batch-size', '4', *two)
  assert metrics['step'] == 4
  metrics, proc = train(toy_data / 'data', job, 6, '--train-batch-size', '8',
                        '--validation-batch-size', '4')
  assert 'resumed from' in proc.stdout and metrics['step'] == 6
  proc = run('tdr_main.py', '--data-dir', toy_data / 'data', '--job-dir', tmp_path / 'job2',
             '--train-steps', '2', '--train-batch-size', '9', *two)
  assert_one_error_line(proc, r'--train-batch-size 9 is not divisible by the 2 replicas')
