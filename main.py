r"""Bayesian TAML / MAML / Meta-SGD (Learning to Balance, ICLR 2020) on TF 2.

  python main.py --mode meta_train --savedir runs/cifar/taml --id_dataset cifar \
      --ood_dataset svhn --alpha_on --omega_on --gamma_on --z_on
  python main.py --mode meta_test  --savedir runs/cifar/taml ... --n_steps 10 --n_mc_samples 10

Flags and defaults are those of the original l2b main.py, plus --data_dir,
--seed and the loop frequencies the original hard-codes (each declared once in
training/taml_settings.py).  The papers' settings are presets in configs/taml/:

  python main.py --mode meta_train --savedir runs/cifar/taml \
      --flagfile=configs/taml/cifar_taml.flags --flagfile=configs/taml/l2b_train_cifar.flags
"""
import os
import sys

from absl import flags
from absl import logging

from common import runtime_flags
from common.dash_flags import normalise_argv
from common.errors import absl_main, require
from common.settings import TEST, TRAIN, config, define as define_settings
from common.tf_env import (configure_tensorflow_env, freeze_startup_objects,
                           quiet_tensorflow_import, skip_graph_rewrites_on_cpu)
from models.taml.methods import METHODS
from training import taml_settings

configure_tensorflow_env(onednn=None)   # TF default kernels: see common/tf_env.py

FLAGS = flags.FLAGS
# every flag and its range from one declaration each (training/taml_settings.py)
define_settings(taml_settings.SETTINGS)
runtime_flags.define(taml_settings.RUNTIME, dashed=False, keep=3,
                     periodic='every --save_freq iterations', checked='Resume (or meta-test)')


class Settings:
  """The parsed flags as plain attributes (lists split, names checked)."""

  def __init__(self):
    for name in flag_names():
      setattr(self, name, FLAGS[name].value)
    split = lambda s: [x.strip() for x in s.split(',') if x.strip()]
    self.id_dataset, self.ood_dataset = split(self.id_dataset), split(self.ood_dataset)
    require(self.id_dataset, '--id_dataset names no dataset (%r)' % FLAGS.id_dataset)
    self.episode_mode = int(self.episode_mode)


def flag_names():
  """Names of the flags defined in this file."""
  return [fl.name for fl in FLAGS.get_flags_for_module(sys.modules[__name__])]


def main(argv):
  require(len(argv) == 1, 'unexpected arguments: %s' % ' '.join(argv[1:]))
  require(FLAGS.savedir, '--savedir is required (the run directory)')
  runtime_flags.select_gpu(FLAGS.gpu_id, one_device=FLAGS.strategy == 'default')
  quiet_tensorflow_import()   # numeric ranges: the declarations' (flag-parse errors)
  logging.set_verbosity(logging.WARNING)   # no per-checkpoint INFO lines
  if FLAGS.cpu_devices:
    from common.distribute import split_cpu
    split_cpu(FLAGS.cpu_devices)
  skip_graph_rewrites_on_cpu()
  from common.distribute import chief_process
  from common.run_dir import RunDirectory
  from training import taml as training
  freeze_startup_objects()
  train = FLAGS.mode == 'meta_train'
  require(train or os.path.isdir(FLAGS.savedir),
          'no such --savedir %s: meta_train first' % FLAGS.savedir)
  # meta_test: a shared lock (evaluations side by side, never during training)
  run_dir = RunDirectory(FLAGS.savedir, '--savedir', chief=chief_process(FLAGS.strategy),
                         legacy=taml_settings.LEGACY_VALUES, evaluation=not train)
  adopt_saved_flags(run_dir.saved_config(), taml_settings.ALL)
  apply_method()
  compared = config(taml_settings.ALL, lambda name: FLAGS[name].value, TRAIN if train else TEST)
  run_dir.check_config(compared, FLAGS.override_config, write=train,
                       log=lambda line: print(line, file=sys.stderr))
  run = training.TAMLRun(Settings(), run_dir)
  if train:
    run.train()
  else:
    run.test()


def adopt_saved_flags(saved, settings):
  """Resume-checked flags left unset on the command line take the run's recorded
  values, so `main.py --mode meta_test --savedir RUN` tests the trained geometry."""
  for s in settings:
    if saved and TRAIN in s.checked and s.config_key in saved and not FLAGS[s.name].present:
      FLAGS[s.name].value = saved[s.config_key]


def apply_method():
  """--method NAME sets the four on/off flags to the method's (config.json records
  both); one of them given on the command line must agree."""
  if not FLAGS.method:
    return
  for name, value in METHODS[FLAGS.method].flags().items():
    require(not FLAGS[name].present or FLAGS[name].value == value,
            '--method %s means --%s%s: drop --%s%s' % (
                FLAGS.method, '' if value else 'no', name, '' if FLAGS[name].value else 'no',
                name))
    FLAGS[name].value = value


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)   # --data-dir as --data_dir, as the other entry points
  absl_main(main, memory_hint='a smaller --metabatch (or --max_shot, --query, --n_mc_samples)')
