"""gmvae_main.py through the command line on tiny synthetic data: bad input gives one
`error:` line on stderr and exit code 2; runs resume after a kill; SimCLR writes features."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common.results import read_records
from tests.conftest import REPO
from tests.shared_runs import copy_run
from tests.tensorboard_events import read_split, tb_splits

TINY = ['--way', '5', '--batch-size', '2', '--sample-size', '10', '--train-mc-sample-size', '2',
        '--test-mc-sample-size', '2', '--unsupervised-em-iters', '2',
        '--semisupervised-em-iters', '2', '--eval-episodes', '4', '--freq-iters', '2',
        '--noprogress']


def cli(*args, timeout=300):
  env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable, str(REPO / 'gmvae_main.py')] + list(args),
                        capture_output=True, text=True, timeout=timeout, env=env)


def assert_user_error(proc, *needles):
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, proc.stderr[-3000:]
  for needle in needles:
    assert needle in errors[0], errors[0]
  return errors[0]


def write_omniglot(folder, classes=(12, 6, 6), shape=(20, 28, 28, 1), seed=0):
  rng = np.random.RandomState(seed)
  os.makedirs(folder, exist_ok=True)
  for split, k in zip(('train', 'val', 'test'), classes):
    np.save(os.path.join(folder, split + '.npy'), rng.rand(k, *shape).astype(np.float32))
  return str(folder)


def test_missing_arrays(tmp_path):
  proc = cli('--data-dir', str(tmp_path / 'nowhere'), '--save-dir', str(tmp_path / 's'), *TINY)
  assert_user_error(proc, 'nowhere', 'get_data.py')
  os.makedirs(tmp_path / 'empty')
  proc = cli('--data_dir', str(tmp_path / 'empty'), '--save_dir', str(tmp_path / 's'), *TINY)
  assert_user_error(proc, 'train.npy')


def test_wrong_shape(tmp_path):
  folder = write_omniglot(tmp_path / 'd')
  np.save(os.path.join(folder, 'val.npy'), np.zeros((6, 20, 32, 32, 1), np.float32))
  assert_user_error(cli('--data-dir', folder, '--save-dir', str(tmp_path / 's'), *TINY),
                    'val.npy', 'shape')


@pytest.mark.parametrize('extra, needle', [
    (['--way', '7', '--sample-size', '10'], 'larger than the 6 classes'),
    (['--query', '16'], 'images per class'),
    (['--sample-size', '2'], 'fewer than the --way 5'),
], ids=['way', 'shot+query', 'sample-size'])
def test_bad_geometry(omniglot_dir, tmp_path, extra, needle):
  assert_user_error(cli('--data-dir', omniglot_dir, '--save-dir', str(tmp_path), *TINY, *extra),
                    needle)


def _latest(save_dir):
  """The newest checkpoint folder `<save_dir>/ckpt/ckpt-<step>`."""
  folder = os.path.join(save_dir, 'ckpt')
  steps = [int(f.split('-')[1]) for f in os.listdir(folder) if f.split('-')[-1].isdigit()]
  return os.path.join(folder, 'ckpt-%d' % max(steps))


def _latest_values(save_dir):
  reader = tf.train.load_checkpoint(_latest(save_dir))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith('model/params/')}


def test_nonfinite_stop_and_config_check(omniglot_dir, gmvae_tiny_run, tmp_path):
  """(Kills and exact resumes: tests/test_run_lifecycle.py.)"""
  trained, stdout = gmvae_tiny_run   # TINY, 4 iterations
  assert 'Final Test Accuracy' in stdout
  straight = str(copy_run(trained, tmp_path / 'a'))
  # a diverging continuation stops with one line and keeps the last good checkpoint
  before = _latest_values(straight)
  proc = cli('--save-dir', straight, '--data-dir', omniglot_dir, *TINY, '--train-iters', '8',
             '--lr', '1e30', '--override-config')
  line = assert_user_error(proc, 'non-finite loss', 'last good checkpoint')
  assert _latest(straight) in line
  after = _latest_values(straight)
  assert all(np.array_equal(before[k], after[k]) for k in before)
  # another configuration in the same save dir is refused
  proc = cli('--save-dir', straight, '--data-dir', omniglot_dir, *TINY, '--latent-size', '8')
  assert_user_error(proc, 'other settings', 'latent_size: 64 -> 8')


def test_mimgnet_features(tmp_path):
  rng = np.random.RandomState(0)
  folder = tmp_path / 'feat'
  os.makedirs(folder)
  np.save(folder / 'train_features.npy', rng.rand(50, 16).astype(np.float32))
  for split in ('val', 'test'):
    np.save(folder / ('%s_features.npy' % split), rng.rand(5, 70, 16).astype(np.float32))
  args = ['--dataset', 'mimgnet', '--data-dir', str(folder), '--save-dir', str(tmp_path / 's'),
          '--batch-size', '2', '--train-mc-sample-size', '2', '--test-mc-sample-size', '2',
          '--train-iters', '2', '--freq-iters', '2', '--eval-episodes', '2', '--noprogress']
  proc = cli(*args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '%|' not in proc.stderr, proc.stderr[-3000:]   # --noprogress: no bar, eval included
  for shot in (1, 5, 20, 50):
    assert '%dshot Final Test Accuracy' % shot in proc.stdout
  os.remove(folder / 'val_features.npy')
  assert_user_error(cli(*args), 'val_features.npy')


def write_imagenet_folder(root, per_class):
  """A miniImageNet-layout folder: images/*.jpg (random pixels) and train/val/test
  csv files of 2 / 1 / 1 classes with `per_class` images each."""
  from PIL import Image
  os.makedirs(root / 'images')
  rng = np.random.RandomState(0)
  for split, classes in (('train', 'ab'), ('val', 'c'), ('test', 'd')):
    rows = ['filename,label']
    for c in classes:
      for i in range(per_class):
        name = 'n%s%04d.jpg' % (c, i)
        Image.fromarray(rng.randint(0, 256, (40, 50, 3)).astype(np.uint8)).save(
            root / 'images' / name)
        rows.append('%s,n%s' % (name, c))
    (root / ('%s.csv' % split)).write_text('\n'.join(rows) + '\n')
  return root


def test_simclr_writes_features(tmp_path):
  root = write_imagenet_folder(tmp_path / 'imgnet', per_class=3)
  out = tmp_path / 'features'
  args = ['--dataset', 'simclr', '--data-dir', str(root), '--save-dir', str(tmp_path / 's'),
          '--feature-save-dir', str(out), '--batch-size', '4', '--train-epochs', '1',
          '--noprogress']
  proc = cli(*args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  for split, n in (('train', 6), ('val', 3), ('test', 3)):
    assert np.load(out / ('%s_features.npy' % split)).shape == (n, 256)
  os.remove(root / 'val.csv')
  assert_user_error(cli(*args[:5], str(tmp_path / 's2'), *args[6:]), 'val.csv')


def test_results_tensorboard_and_test_only(omniglot_dir, gmvae_tiny_run, tmp_path):
  """Every evaluation is a results.jsonl record; tb/{train,val,test}; --test-only
  re-tests with other evaluation flags and, with the same ones, repeats the final test."""
  trained, stdout = gmvae_tiny_run   # TINY, 4 iterations
  run = copy_run(trained, tmp_path / 'run')
  records = read_records(str(run / 'results.jsonl'))
  assert [(r['kind'], r['shots'], r['checkpoint_step']) for r in records] == [
      ('val', 1, 2), ('val', 5, 2), ('val', 1, 4), ('val', 5, 4),
      ('test', 1, records[4]['checkpoint_step']), ('test', 5, records[5]['checkpoint_step'])]
  final = records[4:]
  for rec in final:
    assert (rec['system'], rec['dataset'], rec['metric'], rec['n'], rec['mc_samples']) == (
        'gmvae', 'omniglot', 'acc', 4, 2)
    assert rec['checkpoint'] == '%dshot_best' % rec['shots'] and rec['checkpoint_step'] in (2, 4)
    assert '%dshot Final Test Accuracy: %.4f Confidence Interval: %.4f' % (
        rec['shots'], rec['mean'], rec['ci95']) in stdout
  first_log = run / 'test_shots1-5_ep4_mc2_query15_seed0.log'
  assert first_log.read_text().count('Final Test Accuracy') == 2
  assert tb_splits(run) == ['test', 'train', 'val']
  train_tb, val_tb, test_tb = (read_split(run, s) for s in ('train', 'val', 'test'))
  assert {'rec', 'kld', 'loss'} <= set(train_tb['scalars'])
  assert [s for s, _ in train_tb['scalars']['loss']] == [0, 1, 2, 3]
  assert {'1shot/acc', '1shot/ci95', '5shot/acc'} <= set(val_tb['scalars'])
  [(_, rec_image)] = val_tb['images']['reconstruction'][-1:]
  assert [int(v) for v in rec_image[:2]] == [20 * 28, 2 * 28]   # width, height (5 x 4 images)
  assert {'1shot/acc', '5shot/acc'} <= set(test_tb['scalars'])
  # --test-only: the model flags from config.json, other evaluation flags
  config = (run / 'config.json').read_text()
  proc = cli('--test-only', '--data-dir', omniglot_dir, '--save-dir', str(run),
             '--eval-episodes', '6', '--test-shots', '1,3', '--noprogress')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (run / 'config.json').read_text() == config
  again = read_records(str(run / 'results.jsonl'))[6:]
  assert [(r['kind'], r['shots'], r['n'], r['checkpoint']) for r in again] == [
      ('test', 1, 6, '1shot_best'), ('test', 3, 6, '1shot_best')]
  assert (run / 'test_shots1-3_ep6_mc2_query15_seed0.log').exists()
  assert first_log.read_text().count('Final Test Accuracy') == 2
  # the same evaluation flags repeat the end-of-training test exactly
  proc = cli('--test-only', '--data-dir', omniglot_dir, '--save-dir', str(run), '--noprogress')
  assert proc.returncode == 0, proc.stderr[-3000:]
  repeat = read_records(str(run / 'results.jsonl'))[8:]
  assert [(r['mean'], r['ci95']) for r in repeat] == [(r['mean'], r['ci95']) for r in final]
  # a model-defining flag must match; there must be a trained run
  assert_user_error(cli('--test-only', '--data-dir', omniglot_dir, '--save-dir', str(run),
                        '--latent-size', '8'), 'other settings', 'latent_size: 64 -> 8')
  assert_user_error(cli('--test-only', '--data-dir', omniglot_dir, '--save-dir',
                        str(tmp_path / 'none')), 'train first')
