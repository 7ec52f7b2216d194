"""The presets (configs/*/*.flags) and the runfiles that use them: every preset
parses with its trainer's declarations, and each runfile hands its trainer
exactly the flag values it handed it before the presets existed (the commands
below, as the runfiles spelled them), read with `DRY_RUN=1`."""
import os
import shlex
import subprocess

import pytest

from common.presets import CONFIGS, parse, preset_args, preset_values
from tests.conftest import REPO
from training import gmvae_settings, taml_settings, tdr_settings

TRAINERS = {'main.py': taml_settings.ALL, 'tdr_main.py': tdr_settings.ALL,
            'gmvae_main.py': gmvae_settings.ALL}
PRESET_TRAINER = {'taml': taml_settings.ALL, 'tdr': tdr_settings.ALL,
                  'gmvae': gmvae_settings.ALL}
PRESETS = sorted(os.path.relpath(os.path.join(d, f), CONFIGS)
                 for d, _, fs in os.walk(CONFIGS) for f in fs)

# runfiles/l2b.sh before the presets: the case blocks, as flags
L2B_DATA = {
    'cifar': ['--id_dataset', 'cifar', '--ood_dataset', 'svhn', '--metabatch', '4', '--way', '5'],
    'mimgnet': ['--id_dataset', 'mimgnet', '--ood_dataset', 'cub', '--metabatch', '1',
                '--way', '5'],
    'multi': ['--id_dataset', 'aircraft, quickdraw, vgg_flower', '--ood_dataset',
              'traffic, fashion-mnist', '--metabatch', '3', '--way', '10']}
L2B_TRAIN = {'cifar': ('50000', '1e-3', '0.5'), 'mimgnet': ('80000', '1e-4', '0.1'),
             'multi': ('60000', '1e-3', '0.5')}   # iters, meta_lr, MAML's inner_lr
TAML_ON = ['--alpha_on', '--omega_on', '--gamma_on', '--z_on']


def l2b_commands(setting, model):
  iters, meta_lr, maml_lr = L2B_TRAIN[setting]
  method = {'maml': ['--inner_lr', maml_lr], 'msgd': ['--alpha_on'], 'metasgd': ['--alpha_on'],
            'taml': TAML_ON}[model]
  mc = ['--n_mc_samples', '10'] if model == 'taml' else []
  common = ['--savedir', './results/%s/%s' % (setting, model), *L2B_DATA[setting],
            '--max_shot', '50', '--query', '15', *method]
  return [['--mode', 'meta_train', *common, '--n_steps', '5', '--n_train_iters', iters,
           '--meta_lr', meta_lr, '--seed', '3'],
          ['--mode', 'meta_test', *common, '--n_steps', '10', '--n_test_episodes', '1000', *mc,
           '--seed', '3']]


def quickstart_commands():
  flags = ['--savedir', './results/quickstart/taml', '--id_dataset', 'cifar', '--ood_dataset',
           'svhn', '--metabatch', '2', '--way', '5', '--max_shot', '10', '--query', '5', *TAML_ON]
  return [['--mode', 'meta_train', *flags, '--n_steps', '2', '--n_train_iters', '200',
           '--log_freq', '50', '--val_freq', '200', '--n_val_tasks', '100', '--balance_freq',
           '200', '--seed', '3'],
          ['--mode', 'meta_test', *flags, '--n_steps', '4', '--n_test_episodes', '100',
           '--n_mc_samples', '2', '--seed', '3']]


def quickstart_omniglot_commands():
  geometry = ['--id_dataset', 'omniglot', '--ood_dataset', 'mnist', '--metabatch', '4', '--way',
              '5', '--max_shot', '5', '--query', '5', '--n_steps', '2', '--seed', '0']
  out = []
  for method, variables in (('metasgd', ['--alpha_on']), ('taml', TAML_ON)):
    run = './results/quickstart/omniglot_%s_seed0' % method
    out += [['--mode', 'meta_train', '--savedir', run, *geometry, *variables, '--n_train_iters',
             '300', '--log_freq', '50', '--val_freq', '300', '--n_val_tasks', '100',
             '--balance_freq', '300', '--seed', '3'],
            ['--mode', 'meta_test', '--savedir', run, '--n_test_episodes', '200', '--seed', '3']]
  return out


def tdr_commands(name):
  if name == 'mnist_tdr.sh':
    data, job = './runs/data/mnist_23_0995', './runs/mnist_23_0995'
    flags = ['--dataset', 'mnist', '--num-training-samples', '5000', '--eval', '--train-steps',
             '20000', '--eval-freq', '1000', '--log-freq', '100', '--train-shuffle', 'original',
             '--target-order', 'original', '--drop-logged-batches', '--eval-examples', '2000']
  else:
    data, job = './runs/data/cifar10_lt100', './runs/cifar10_lt100'
    flags = ['--dataset', 'cifar10', '--num-class', '10', '--num-layers', '20', '--version',
             'v1', '--train-batch-size', '50', '--train-steps', '50000', '--eval', '--eval-freq',
             '1000', '--log-freq', '100', '--train-shuffle', 'original', '--target-order',
             'original', '--drop-logged-batches', '--target-distortion', '--eval-examples', '2000',
             '--nofused-batch-norm']
  return [['--data-dir', data, '--job-dir', job + '/' + run, *flags, *extra, '--seed', '3']
          for run, extra in (('tdr', []), ('plain', ['--no-reweight']))]


GMVAE_COMMANDS = {
    'omniglot_gmvae_5way.sh': [['--dataset', 'omniglot', '--data-dir', 'data/omniglot/gmvae',
                                '--save-dir', 'runs/omniglot-5way-experiment', '--way', '5',
                                '--sample-size', '200', '--seed', '3']],
    'omniglot_gmvae_20way.sh': [['--dataset', 'omniglot', '--data-dir', 'data/omniglot/gmvae',
                                 '--save-dir', 'runs/omniglot-20way-experiment', '--way', '20',
                                 '--sample-size', '300', '--seed', '3']],
    'mimgnet_gmvae.sh': [['--dataset', 'mimgnet', '--data-dir', 'data/mimgnet/gmvae',
                          '--save-dir', 'runs/mimgnet-5way-experiment', '--seed', '3']],
    'simclr_mimgnet.sh': [['--dataset', 'simclr', '--data-dir', 'data/imgnet', '--save-dir',
                           'runs/simclr-experiment', '--feature-save-dir', 'data/mimgnet/gmvae',
                           '--seed', '3']],
}

RUNFILES = dict(
    {'%s_%s.sh' % (s, m): l2b_commands(s, m)
     for s in L2B_DATA for m in ('maml', 'msgd', 'metasgd', 'taml')},
    **{'quickstart.sh': quickstart_commands(),
       'quickstart_omniglot.sh': quickstart_omniglot_commands(),
       'mnist_tdr.sh': tdr_commands('mnist_tdr.sh'),
       'cifar10_tdr.sh': tdr_commands('cifar10_tdr.sh')}, **GMVAE_COMMANDS)


def dry_run(runfile, *args):
  """The trainer commands `runfile` runs, as (script, argv) pairs."""
  env = {k: v for k, v in os.environ.items() if k not in ('SEED', 'MODE', 'ORIGINAL', 'JOB',
                                                          'DATA', 'DATA_DIR', 'SAVE_DIR')}
  proc = subprocess.run(['bash', str(REPO / 'runfiles' / runfile), *args], cwd=REPO,
                        capture_output=True, text=True, timeout=60,
                        env=dict(env, DRY_RUN='1', SOURCE='', SHARED_DATASETS=''))
  assert proc.returncode == 0, proc.stderr
  out = []
  for line in proc.stdout.splitlines():
    words = shlex.split(line)
    assert words[0] == 'python', line   # DRY_RUN prints every command, runs none
    if words[1] in TRAINERS:
      out.append((words[1], words[2:]))
  return out


@pytest.mark.parametrize('runfile', sorted(RUNFILES))
def test_runfile_hands_the_trainer_what_it_did(runfile):
  ran = dry_run(runfile, '--seed', '3')   # extra flags reach every trainer command
  assert len(ran) == len(RUNFILES[runfile])
  for (script, argv), before in zip(ran, RUNFILES[runfile]):
    assert any(a.startswith('--flagfile=') for a in argv), argv   # through a preset
    settings = TRAINERS[script]
    assert parse(settings, argv) == parse(settings, before), (runfile, argv)


def test_every_runfile_is_covered():
  """A runfile calling a trainer is listed above (or is a helper sourced by one)."""
  helpers = {'l2b.sh', 'run.sh', 'tdr_pair.sh'}
  assert set(os.listdir(REPO / 'runfiles')) - helpers == set(RUNFILES)


@pytest.mark.parametrize('name', PRESETS)
def test_preset_parses_with_its_trainer(name):
  assert name.endswith('.flags')
  settings = PRESET_TRAINER[name.split(os.sep)[0]]
  args = preset_args(name)
  assert args and all(a.startswith('--') for a in args)
  values = preset_values(settings, name)
  defaults = {s.name: s.default for s in settings}
  set_names = {a[2:].split('=')[0] for a in args}
  set_names = {n[2:] if n.startswith('no') and n not in defaults else n for n in set_names}
  assert set_names <= set(defaults), set_names - set(defaults)


def test_method_has_one_name():
  """metasgd in file and CLI names (msgd only in the runfiles kept for its runs)."""
  names = ' '.join(PRESETS)
  assert 'msgd' not in names.replace('metasgd', '') and 'metasgd' in names
  assert os.path.isfile(REPO / 'runfiles' / 'cifar_metasgd.sh')


def test_unknown_preset_flag_is_refused(tmp_path):
  from common.errors import UserError
  from absl import flags
  bad = tmp_path / 'bad.flags'
  bad.write_text('--way=5\n--bogus=1\n')
  with pytest.raises(flags.Error, match='bogus'):
    parse(taml_settings.ALL, ['--flagfile=%s' % bad])
  with pytest.raises(UserError, match='no preset'):
    preset_args('taml/nothing.flags')


def test_benches_and_result_scripts_read_the_presets():
  """What bench/taml_speed.py and results/fidelity_*.py built from their own dicts
  before, now read from configs/."""
  from bench import taml_speed
  from results import fidelity_learning, fidelity_paired
  on = dict(alpha_on=True, omega_on=True, gamma_on=True, z_on=True)
  off = dict(alpha_on=False, omega_on=False, gamma_on=False, z_on=False)
  for geometry, (size, metabatch) in (('cifar', (32, 4)), ('mimgnet', (84, 1))):
    for method, variables in (('maml', off), ('metasgd', dict(off, alpha_on=True)),
                              ('taml', on)):
      assert taml_speed.preset(geometry, method) == dict(
          image_size=size, metabatch=metabatch, way=5, max_shot=50, query=15, n_steps=5,
          **variables)
  assert fidelity_paired.GEOMETRY == dict(way=5, max_shot=5, query=5, n_steps=2, metabatch=4,
                                          inner_lr=0.5, meta_lr=1e-3)
  assert fidelity_paired.MODELS == {'maml': False, 'metasgd': True}
  geometry = ['--id_dataset', 'omniglot', '--ood_dataset', 'mnist', '--metabatch', '4',
              '--way', '5', '--max_shot', '5', '--query', '5', '--n_steps', '2']
  for method, variables in (('maml', []), ('metasgd', ['--alpha_on']), ('taml', TAML_ON)):
    assert parse(taml_settings.ALL, fidelity_learning.taml_flags(method)) == parse(
        taml_settings.ALL, geometry + variables)
