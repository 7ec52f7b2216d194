"""Each setting declared once (common/settings.py): from one `Setting` follow the
flag (both spellings), its range check, the config.json key and which runs must
repeat it; the three trainers record the keys they recorded before the
declarations (so earlier runs resume and meta-test), and a real main.py run
records and checks exactly its declared settings."""
import json

import pytest
from absl import flags

from common import settings as S
from common.presets import parse
from training import gmvae_settings, taml_settings, tdr_settings
from tests.taml_cli import SMALL, cifar_like, error_lines, run_main

NEW = S.Setting('warmup-steps', 'integer', 10, 'Steps before the first update.', at_least=0,
                checked=(S.TRAIN,), key='warmup_steps')


def test_one_declaration_gives_flag_range_and_config():
  values = flags.FlagValues()
  S.define([NEW], flag_values=values, module_name='x')
  assert values['warmup-steps'].default == 10
  assert values['warmup-steps'].help == 'Steps before the first update.'
  assert parse([NEW], ['--warmup_steps', '3']) == {'warmup-steps': 3}   # either spelling
  with pytest.raises(flags.IllegalFlagValueError, match='must be >= 0'):
    parse([NEW], ['--warmup-steps=-1'])
  assert S.config([NEW], {'warmup-steps': 7}.get, S.TRAIN) == {'warmup_steps': 7}
  assert S.config([NEW], {'warmup-steps': 7}.get, S.TEST) == {}
  assert S.names([NEW], S.TRAIN) == ('warmup-steps',)


def keys(settings, run):
  return set(S.config(settings, lambda name: None, run))


def test_config_json_keys_are_those_of_earlier_runs():
  """The keys each trainer wrote and compared before the declarations existed."""
  assert keys(taml_settings.ALL, S.TRAIN) == {
      'id_dataset', 'ood_dataset', 'way', 'max_shot', 'query', 'n_steps', 'inner_lr',
      'metabatch', 'meta_lr', 'alpha_on', 'omega_on', 'gamma_on', 'z_on', 'seed', 'val_freq',
      'n_val_tasks', 'balance_freq', 'episode_mode', 'bn_counts_padding', 'bn_grad',
      'jit_compile', 'mixed_precision', 'method'}
  assert keys(taml_settings.ALL, S.TEST) == {
      'id_dataset', 'way', 'max_shot', 'inner_lr', 'alpha_on', 'omega_on', 'gamma_on', 'z_on',
      'bn_counts_padding', 'method'}
  # 'method' came later (--method): a config.json without it meant the on/off flags
  assert taml_settings.LEGACY_VALUES['method'] is None
  assert keys(tdr_settings.ALL, S.TRAIN) == {   # tdr_main.py adds model, num-training-samples
      'dataset', 'num-layers', 'version', 'num-class', 'train-batch-size',
      'validation-batch-size', 'momentum', 'weight-decay', 'learning-rate',
      'use-distortion-for-training', 'class-weight-freq', 'no-reweight', 'seed',
      'batch-norm-decay', 'batch-norm-epsilon', 'mixed-precision', 'jit', 'train-shuffle',
      'target-order', 'target-distortion'}
  # gmvae_main.py adds GMVAEConfig's feature_size and conv_dtype
  gmvae = {'dataset', 'component_size', 'latent_size', 'hidden_size',
           'unsupervised_em_iters', 'semisupervised_em_iters', 'fix_pi', 'train_mc_sample_size',
           'test_mc_sample_size', 'batch_size', 'sample_size', 'seed', 'lr', 'weight_decay',
           'query', 'freq_iters', 'shot', 'eval_episodes'}
  assert keys(gmvae_settings.ALL, S.TRAIN) == gmvae
  assert keys(gmvae_settings.ALL, S.TEST) == gmvae - {'eval_episodes', 'test_mc_sample_size',
                                                      'query', 'seed'}
  assert keys(gmvae_settings.ALL, gmvae_settings.SIMCLR) == {
      'dataset', 'hidden_size', 'batch_size', 'seed', 'lr', 'train_epochs'}


def test_taml_config_fields_follow_the_declarations():
  """Every declared model field is a TamlConfig field with the flag's default."""
  import dataclasses
  from models.taml.config import TamlConfig
  fields = {f.name: f.default for f in dataclasses.fields(TamlConfig)}
  declared = [s for s in taml_settings.SETTINGS if s.model_field]
  assert len(declared) == 14
  for s in declared:
    assert fields[s.attribute] == s.default, s.name


def test_every_flag_is_declared_once():
  for settings in (taml_settings.ALL, tdr_settings.ALL, gmvae_settings.ALL):
    names = [n for s in settings for n in (s.name,) + s.aliases]
    assert len(names) == len(set(names))
    assert len({s.config_key for s in settings if s.checked}) == len(
        [s for s in settings if s.checked])


def test_main_records_and_checks_its_declared_settings(tmp_path):
  data = cifar_like(str(tmp_path / 'data'))
  run = tmp_path / 'run'
  args = ['--mode', 'meta_train', '--data_dir', data, '--savedir', run, '--n_train_iters', 2,
          '--save_freq', 2, '--val_freq', 2, *SMALL]
  run_main(*args)
  recorded = json.loads((run / 'config.json').read_text())
  assert set(recorded) - {'run_id'} == keys(taml_settings.ALL, S.TRAIN)
  assert recorded['query'] == 2 and recorded['jit_compile'] is False
  # a resume with another value of a resume-checked setting is refused, naming it
  proc = run_main(*args, '--query', 3, '--n_train_iters', 3, check=False)   # the last wins
  [line] = error_lines(proc)
  assert 'other settings' in line and 'query: 2 -> 3' in line
  # XLA under either name is the recorded jit_compile
  proc = run_main(*args, '--jit_compile', check=False)
  [line] = error_lines(proc)
  assert 'jit_compile: False -> True' in line
  # an unchecked setting (the log frequency) may differ: the resume runs to 3 iterations
  run_main(*args, '--log_freq', 1, '--n_train_iters', 3)
  assert 'val: iter 3' in (run / 'train.log').read_text()


def test_runtime_flags_are_one_declaration_in_the_three_entry_points():
  """Same names (each entry point's dash style), defaults, help and aliases; both
  spellings, and the old --jit_compile / --jit, work everywhere."""
  seen = [{s.name.replace('-', '_'): (s.default, s.help.replace('-', '_'),
                                     tuple(a.replace('-', '_') for a in s.aliases))
           for s in trainer.RUNTIME}
          for trainer in (taml_settings, tdr_settings, gmvae_settings)]
  assert seen[0] == seen[1] == seen[2]
  assert set(seen[0]) == {'gpu_id', 'strategy', 'num_devices', 'cpu_devices',
                          'connect_timeout', 'mixed_precision', 'jit'}
  assert seen[0]['strategy'][0] == 'default' and seen[0]['gpu_id'][0] is None
  for settings, jit in ((taml_settings.ALL, 'jit'), (tdr_settings.ALL, 'jit'),
                        (gmvae_settings.ALL, 'jit')):
    for spelling in ('--jit', '--jit_compile', '--jit-compile'):
      assert parse(settings, [spelling])[jit] is True
  assert parse(taml_settings.ALL, ['--max-shot', '3', '--cpu-devices', '2'])['max_shot'] == 3
  assert parse(tdr_settings.ALL, ['--num_layers', '32', '--gpu_id', '1'])['gpu-id'] == 1
  with pytest.raises(flags.IllegalFlagValueError, match='must be >= 0'):
    parse(gmvae_settings.ALL, ['--gpu_id', '-1'])

