"""main.py end to end on small arrays: train, resume, test, and bad input."""
import os

import pytest
import tensorflow as tf

from common.results import read_records
from tests.tensorboard_events import read_split, tb_splits
from tests.taml_cli import SMALL, cifar_like, error_lines, run_main, write_dataset


def train(tmp_path, data, savedir, iters, *extra):
  return run_main('--mode', 'meta_train', '--data_dir', data, '--savedir', savedir,
                  '--n_train_iters', iters, '--save_freq', 2, '--val_freq', 2, *SMALL, *extra)


def variables(path, prefix='model/by_name/'):
  """Checkpointed tensors under `prefix` (the meta-learned variables by default)."""
  reader = tf.train.load_checkpoint(path)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith(prefix)}


def test_train_then_test_prints_results(tmp_path):
  data = cifar_like(str(tmp_path / 'data'))
  savedir = tmp_path / 'run'
  flags = ['--alpha_on', '--omega_on', '--gamma_on', '--z_on']
  train(tmp_path, data, savedir, 4, *flags, '--balance_freq', 2)
  log = (savedir / 'train.log').read_text()
  assert 'train: cent' in log and 'val: iter 4' in log and 'ood_acc' in log
  assert '*** Gamma for task imbalance ***' in log and '*** Omega for class imbalance ***' in log
  assert (savedir / 'best' / 'weights.index').exists()
  proc = run_main('--mode', 'meta_test', '--data_dir', data, '--savedir', savedir,
                  '--n_steps', 2, '--n_mc_samples', 2, *SMALL[:4], *SMALL[6:], *flags)
  lines = [l for l in proc.stdout.splitlines() if ' acc: ' in l]
  assert [l.split(' acc:')[0] for l in lines] == ['id /cifar', 'ood/svhn']
  printed = {}
  for line in lines:
    mean, ci = line.split('acc: ')[1].split(' +- ')
    assert 0 <= float(mean) <= 100 and float(ci) >= 0
    printed[line.split(' acc:')[0].replace(' ', '')] = float(mean), float(ci)
  log_name = 'test_step2_mc2_ep4_seed0.log'   # SMALL: --n_test_episodes 4
  assert (savedir / log_name).read_text().count(' acc: ') == 2
  # the records: validation at iterations 2 and 4 (id and ood), then the meta-test
  records = read_records(str(savedir / 'results.jsonl'))
  assert [(r['kind'], r['role'], r['dataset'], r['checkpoint_step']) for r in records] == [
      ('val', 'id', 'cifar', 2), ('val', 'ood', 'svhn', 2), ('val', 'id', 'cifar', 4),
      ('val', 'ood', 'svhn', 4), ('test', 'id', 'cifar', 4), ('test', 'ood', 'svhn', 4)]
  test = records[-2:]
  for rec in test:
    assert rec['system'] == 'taml' and rec['model'] == 'taml' and rec['metric'] == 'acc'
    assert (rec['n'], rec['mc_samples'], rec['inner_steps'], rec['seed']) == (4, 2, 2, 0)
    assert rec['commit'] is None or len(rec['commit']) == 40
    mean, ci = printed['%s/%s' % (rec['role'], rec['dataset'])]
    assert abs(100 * rec['mean'] - mean) < 0.006 and abs(100 * rec['ci95'] - ci) < 0.006
  # TensorBoard: tb/{train,val,test}
  assert tb_splits(savedir) == ['test', 'train', 'val']
  train_tb, val_tb, test_tb = (read_split(savedir, s) for s in ('train', 'val', 'test'))
  assert {'cent', 'kl', 'id_acc', 'balancing/omega/max', 'balancing/gamma/conv1',
          'balancing/gamma/dense', 'balancing/z/kernel_mean',
          'balancing/z/sigma'} <= set(train_tb['scalars'])
  assert [s for s, _ in train_tb['scalars']['cent']] == [2, 4]
  assert {'balancing/omega', 'balancing/gamma', 'balancing/z',
          'theta/conv1_w'} <= set(train_tb['histograms'])
  # --hist_freq 1000 never fires in 4 iterations: histograms at each validation
  assert [s for s, _ in train_tb['histograms']['theta/conv1_w']] == [2, 4]
  assert {'id/cifar/acc', 'id/cifar/ci95', 'id/cifar/cent', 'ood/svhn/acc',
          'score'} <= set(val_tb['scalars'])
  [(step, value)] = test_tb['scalars']['ood/svhn/acc']
  assert step == 4 and abs(float(value) - test[1]['mean']) < 1e-6
  # another setting gets its own log; an interrupted re-run leaves the complete one
  before = (savedir / log_name).read_text()
  run_main('--mode', 'meta_test', '--data_dir', data, '--savedir', savedir, '--n_steps', 2,
           '--n_mc_samples', 2, *SMALL[:4], *SMALL[6:-1], 8, *flags)
  assert (savedir / 'test_step2_mc2_ep8_seed0.log').exists()
  assert (savedir / log_name).read_text() == before
  assert [r['n'] for r in read_records(str(savedir / 'results.jsonl'))[-2:]] == [8, 8]


def _bad(tmp_path, setup, *args, mode='meta_train'):
  data = str(tmp_path / 'data')
  os.makedirs(data, exist_ok=True)
  setup(data)
  proc = run_main('--mode', mode, '--data_dir', data, '--savedir', tmp_path / 'run',
                  '--n_train_iters', 2, *SMALL, *args, check=False)
  assert proc.returncode != 0
  [line] = error_lines(proc)
  return line


def _truncate(data):
  cifar_like(data)
  path = os.path.join(data, 'cifar', 'train.npy')
  size = os.path.getsize(path)
  with open(path, 'r+b') as fh:
    fh.truncate(size // 2)


BAD_INPUTS = {
    'missing data dir': (lambda d: None, (), 'cifar/train.npy not found'),
    'missing split file': (lambda d: write_dataset(d, 'cifar', ['train', 'test']),
                           (), 'cifar/valid.npy not found'),
    'truncated npy': (_truncate, (), 'truncated or corrupt'),
    'wrong shape': (lambda d: (cifar_like(d), write_dataset(d, 'svhn', ['valid', 'test'], side=28)),
                    (), 'expected [N, 32, 32, 3]'),
    'unknown dataset': (cifar_like, ('--id_dataset', 'cifarr'), "unknown dataset 'cifarr'"),
    'way > classes': (cifar_like, ('--way', 9), '--way 9 is larger than the 8 classes'),
    'query > class': (cifar_like, ('--query', 10), '--query 10 leaves no support image'),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_bad_input_is_one_clear_line(tmp_path, case):
  setup, args, expected = BAD_INPUTS[case]
  assert expected in _bad(tmp_path, setup, *args)


def test_meta_test_without_checkpoint(tmp_path):
  line = _bad(tmp_path, cifar_like, mode='meta_test')
  assert 'meta_train first' in line or 'no validated checkpoint' in line


def test_meta_test_with_checkpoint_of_another_configuration(tmp_path):
  data = cifar_like(str(tmp_path / 'data'))
  train(tmp_path, data, tmp_path / 'run', 2)
  proc = run_main('--mode', 'meta_test', '--data_dir', data, '--savedir', tmp_path / 'run',
                  *SMALL, '--alpha_on', check=False)
  assert proc.returncode != 0
  [line] = error_lines(proc)
  assert 'other settings' in line and 'alpha_on: False -> True' in line


def test_multi_dataset_train_and_test(tmp_path):
  """l2b's multi-dataset setting: several id sets, omega read from s_c, per-set validation."""
  data = str(tmp_path / 'data')
  for k, name in enumerate(('aircraft', 'quickdraw', 'vgg_flower')):
    write_dataset(data, name, ['train', 'valid', 'test'], n_classes=6, seed=k)
  for k, name in enumerate(('traffic', 'fashion-mnist')):
    write_dataset(data, name, ['test'], n_classes=6, seed=10 + k)
  datasets = ['--id_dataset', 'aircraft, quickdraw, vgg_flower',
              '--ood_dataset', 'traffic, fashion-mnist', '--way', 4]
  flags = ['--alpha_on', '--omega_on', '--gamma_on', '--z_on']
  train(tmp_path, data, tmp_path / 'run', 3, *datasets, *flags)
  log = (tmp_path / 'run' / 'train.log').read_text()
  for name in ('aircraft', 'quickdraw', 'vgg_flower'):
    assert '%s: iter 2' % name in log
  assert 'val: iter 3' in log and 'ood_acc' not in log
  assert variables(str(tmp_path / 'run' / 'best'))[
      'model/by_name/encoder.Smu_omega.Skernel/.ATTRIBUTES/VARIABLE_VALUE'].shape == (256, 1)
  proc = run_main('--mode', 'meta_test', '--data_dir', data, '--savedir', tmp_path / 'run',
                  *SMALL, *datasets, *flags)
  names = [l.split(' acc:')[0] for l in proc.stdout.splitlines() if ' acc: ' in l]
  assert names == ['id /aircraft', 'id /quickdraw', 'id /vgg_flower', 'ood/traffic',
                   'ood/fashion-mnist']
