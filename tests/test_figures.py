"""python -m results.figures on tiny real runs of the three trainers: decodable PNGs,
the TAML balancing views only where the run has them, one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.shared_runs import copy_run
from tests.taml_cli import SMALL, cifar_like

TAML_VIEWS = {'taml_omega_vs_class_shot.png', 'taml_gamma_vs_task_size.png',
              'taml_z_vs_task.png'}


def figures(run_dir, *args):
  """The command as a user runs it; stdout and stderr go to files beside the run."""
  out, err = (os.path.join(str(run_dir) + '.figures.' + s) for s in ('out', 'err'))
  env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
  env.pop('TF_CPP_MIN_LOG_LEVEL', None)
  with open(out, 'w') as fo, open(err, 'w') as fe:
    code = subprocess.run([sys.executable, '-m', 'results.figures', str(run_dir), *map(str, args)],
                          cwd=REPO, stdout=fo, stderr=fe, env=env, timeout=300).returncode
  with open(out) as fo, open(err) as fe:
    return code, fo.read(), fe.read()


def written_pngs(code, stdout, stderr):
  """The files the command printed, each checked to be a decodable PNG of a sensible size."""
  assert code == 0, stderr[-3000:]
  paths = stdout.split()
  assert paths, stderr
  for path in paths:
    assert path.endswith('.png') and os.path.getsize(path) > 0
    with Image.open(path) as image:
      image.verify()
    with Image.open(path) as image:
      assert image.format == 'PNG'
      assert 300 <= image.size[0] <= 3000 and 200 <= image.size[1] <= 3000, image.size
      assert np.asarray(image.convert('L')).std() > 1   # not a blank canvas
  return {os.path.basename(p): p for p in paths}


def one_error_line(code, stdout, stderr):
  assert code == 2, stderr[-3000:]
  assert 'Traceback' not in stderr, stderr[-3000:]
  lines = [l for l in stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), lines
  return lines[0]


@pytest.fixture(scope='module')
def taml_runs(tmp_path_factory):
  """A Bayesian TAML run (omega, gamma, z on) and a MAML run, 2 iterations each, trained
  side by side (most of their time is single-threaded tracing)."""
  root = tmp_path_factory.mktemp('taml')
  data = cifar_like(str(root / 'data'))
  env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
  runs, procs = {}, {}
  for name, flags in (('taml', ['--omega_on', '--gamma_on', '--z_on']), ('maml', [])):
    runs[name] = root / name
    args = ['--mode', 'meta_train', '--data_dir', data, '--savedir', runs[name],
            '--n_train_iters', 2, '--val_freq', 2, '--log_freq', 1, *SMALL[:4], *SMALL[6:],
            *flags]
    with open(root / (name + '.err'), 'w') as err:
      procs[name] = subprocess.Popen([sys.executable, str(REPO / 'main.py'), *map(str, args)],
                                     cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
  for name, proc in procs.items():
    assert proc.wait(timeout=600) == 0, (root / (name + '.err')).read_text()[-3000:]
  return data, runs


def test_taml_balancing_views_and_curves(taml_runs):
  data, runs = taml_runs
  pngs = written_pngs(*figures(runs['taml'], '--data_dir', data, '--n_tasks', 12))
  assert set(pngs) == TAML_VIEWS | {'learning_curves.png', 'taml_balancing_over_training.png'}
  assert all(os.path.dirname(p) == str(runs['taml'] / 'figures') for p in pngs.values())


def test_maml_has_no_balancing_views(taml_runs, tmp_path):
  data, runs = taml_runs
  pngs = written_pngs(*figures(runs['maml'], '--data_dir', data, '--out', tmp_path / 'f'))
  assert set(pngs) == {'learning_curves.png'}
  assert os.listdir(tmp_path / 'f') == ['learning_curves.png']


def test_taml_missing_data_names_the_flag(taml_runs, tmp_path):
  _, runs = taml_runs
  line = one_error_line(*figures(runs['taml'], '--data_dir', tmp_path / 'nowhere'))
  assert 'cifar/test.npy not found' in line and '--data_dir' in line
  assert not os.path.exists(tmp_path / 'nowhere')
  # the curves need no data
  assert set(written_pngs(*figures(runs['taml'], '--data_dir', tmp_path / 'nowhere',
                                   '--curves_only', '--out', tmp_path / 'c'))) == {
                                       'learning_curves.png', 'taml_balancing_over_training.png'}


def test_gmvae_reconstruction_grid(omniglot_dir, gmvae_tiny_run, tmp_path):
  data = omniglot_dir
  run = copy_run(gmvae_tiny_run[0], tmp_path / 'gmvae')   # figures/ is written into the run
  pngs = written_pngs(*figures(run, '--data_dir', data))
  assert set(pngs) == {'gmvae_reconstructions.png', 'learning_curves.png'}
  line = one_error_line(*figures(run, '--data_dir', tmp_path / 'none'))
  assert 'does not exist' in line and '--data_dir' in line


def test_tdr_curves_and_class_weights(toy_data, tmp_path):
  run = tmp_path / 'tdr'
  proc = subprocess.run([sys.executable, str(REPO / 'tdr_main.py'), '--data-dir',
                         str(toy_data / 'data'), '--job-dir', str(run), '--train-steps', '20',
                         '--eval-freq', '10', '--eval', '--log-freq', '10', '--num-gpus', '0',
                         '--train-batch-size', '8', '--validation-batch-size', '2',
                         '--noprogress'], cwd=REPO, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))
  assert proc.returncode == 0, proc.stderr[-3000:]
  pngs = written_pngs(*figures(run))
  assert {'learning_curves.png', 'tdr_eval_history.png', 'tdr_final_class_weights.png',
          'tdr_class_weights_over_steps.png'} <= set(pngs)


def test_results_jsonl_points_and_torn_line(tmp_path):
  """results.jsonl alone is enough to plot; a torn last line is skipped, a bad middle
  line is one error naming it."""
  run = tmp_path / 'run'
  os.makedirs(run / 'checkpoints' / 'model-10')
  records = [dict(kind='val', dataset='mnist', metric='accuracy', mean=0.8, ci95=0.05,
                  checkpoint_step=10),
             dict(kind='test', dataset='mnist', metric='accuracy', mean=0.7, ci95=0.04)]
  text = ''.join(json.dumps(r) + '\n' for r in records)
  (run / 'results.jsonl').write_text(text + '{"kind": "te')
  assert set(written_pngs(*figures(run))) == {'learning_curves.png'}
  (run / 'results.jsonl').write_text('{"kind": \n' + text)
  line = one_error_line(*figures(run))
  assert 'results.jsonl line 1' in line


@pytest.mark.parametrize('case', ['missing', 'unknown', 'nothing'])
def test_errors_are_one_line(tmp_path, case):
  run = tmp_path / 'run'
  if case != 'missing':
    os.makedirs(run)
  if case == 'nothing':
    (run / 'config.json').write_text(json.dumps({'class-weight-freq': 10}))
  line = one_error_line(*figures(run))
  expected = {'missing': 'no such run directory', 'unknown': 'cannot tell which trainer',
              'nothing': 'nothing to plot'}[case]
  assert expected in line
  if case != 'missing':
    assert not os.path.exists(run / 'figures')


def test_series_and_result_points():
  """Both TensorBoard layouts give the same panels; results.jsonl points join the
  panel of their metric, or get their own."""
  from results.figures.curves import result_points
  from results.figures.events import series_and_tag
  assert series_and_tag('tb', 'val/omniglot/id_acc') == ('tb/val', 'omniglot/id_acc')
  assert series_and_tag('tb/val', 'omniglot/id_acc') == ('tb/val', 'omniglot/id_acc')
  assert series_and_tag('.', 'train/loss') == ('train', 'loss')
  assert series_and_tag('eval', 'accuracy') == ('eval', 'accuracy')
  records = [dict(kind='test', dataset='omniglot', metric='id_acc', mean=0.8, ci95=0.01),
             dict(kind='val', metric='recall_minor', mean=0.5, checkpoint_step=7)]
  points = result_points(records, ['omniglot/id_acc', 'cent'], last_step=300)
  assert points == {'omniglot/id_acc': [('test omniglot', 300, 0.8, 0.01)],
                    'recall_minor': [('val', 7, 0.5, 0.0)]}
  # the trainers' records (common/results.py) join the panel of their own tag only
  records = [dict(kind='val', role='ood', dataset='mnist', metric='acc', mean=0.6, ci95=0.02,
                  checkpoint_step=5),
             dict(kind='test', dataset='omniglot', metric='acc', shots=5, mean=0.9, ci95=0.01,
                  checkpoint_step=9),
             dict(kind='test', dataset='mnist', metric='recall', mean=0.4, ci95=0.1,
                  checkpoint_step=3, **{'class': 1})]
  tags = ['id/omniglot/acc', 'ood/mnist/acc', '1shot/acc', '5shot/acc', 'recall/0', 'recall/1']
  assert result_points(records, tags, last_step=10) == {
      'ood/mnist/acc': [('val ood mnist', 5, 0.6, 0.02)],
      '5shot/acc': [('test omniglot 5shot', 9, 0.9, 0.01)],
      'recall/1': [('test mnist class 1', 3, 0.4, 0.1)]}


def test_flags_contract(tmp_path):
  line = one_error_line(*figures(tmp_path, '--bogus'))
  assert 'unrecognized arguments: --bogus' in line and '--help' in line
  assert 'must be at least 1' in one_error_line(*figures(tmp_path, '--n_tasks', 0))
  code, stdout, stderr = figures(tmp_path, '--help')
  assert code == 0 and 'usage:' in stdout and not stderr.strip()
