r"""Bayesian TAML / MAML / Meta-SGD (Learning to Balance, ICLR 2020) on TF 2.

  python main.py --mode meta_train --savedir runs/cifar/taml --id_dataset cifar \
      --ood_dataset svhn --alpha_on --omega_on --gamma_on --z_on
  python main.py --mode meta_test  --savedir runs/cifar/taml ... --n_steps 10 --n_mc_samples 10

Flags and defaults are those of the original l2b main.py, plus --data_dir,
--seed and the loop frequencies the original hard-codes.
"""
import os
import sys

from absl import flags
from absl import logging

from common.dash_flags import check_ranges
from common.lifecycle import define_flags as define_lifecycle_flags
from common.errors import absl_main, require
from common.tf_env import (configure_tensorflow_env, freeze_startup_objects,
                           quiet_tensorflow_import, skip_graph_rewrites_on_cpu)
from models.taml.methods import METHODS

configure_tensorflow_env(onednn=None)   # TF default kernels: see common/tf_env.py

FLAGS = flags.FLAGS
# --- the original's flags, same names and defaults ---
flags.DEFINE_enum('mode', 'meta_train', ['meta_train', 'meta_test'], 'What to run.')
flags.DEFINE_integer('gpu_id', 0, 'GPU to use (ignored without GPUs).')
flags.DEFINE_string('savedir', None, 'Run directory: logs, checkpoints, TensorBoard.')
flags.DEFINE_integer('save_freq', 10000, 'Checkpoint every this many iterations.')
flags.DEFINE_integer('n_train_iters', 50000, 'Meta-training iterations.')
flags.DEFINE_integer('n_test_episodes', 1000, 'Meta-test tasks per dataset.')
flags.DEFINE_string('id_dataset', 'cifar', 'In-distribution dataset(s), comma separated.')
flags.DEFINE_string('ood_dataset', 'svhn', 'Out-of-distribution dataset(s), comma separated.')
flags.DEFINE_integer('way', 5, 'Classes per task.')
flags.DEFINE_integer('max_shot', 50, 'Largest shot per class (smallest is 1).')
flags.DEFINE_integer('query', 15, 'Query images per class.')
flags.DEFINE_integer('n_steps', 5, 'Inner gradient steps.')
flags.DEFINE_float('inner_lr', 0.5, 'Inner step size when --alpha_on is off.')
flags.DEFINE_integer('metabatch', 4, 'Tasks per meta-iteration.')
flags.DEFINE_float('meta_lr', 1e-3, 'Outer (Adam) learning rate.')
flags.DEFINE_bool('alpha_on', False, 'Meta-SGD: learn a step size per parameter.')
flags.DEFINE_bool('omega_on', False, 'Balancing variable omega (class imbalance).')
flags.DEFINE_bool('gamma_on', False, 'Balancing variable gamma (task imbalance).')
flags.DEFINE_bool('z_on', False, 'Balancing variable z (out-of-distribution).')
flags.DEFINE_integer('n_mc_samples', 0, 'MC samples at meta-test (0: posterior mean).')
# argparse let the original's runfiles abbreviate it; absl needs the alias.
flags.DEFINE_alias('n_test_episode', 'n_test_episodes')
# --- additions ---
flags.DEFINE_enum('method', None, list(METHODS),
                  'Algorithm of the family (models/taml/methods): %s.  Sets --alpha_on, '
                  '--omega_on, --gamma_on, --z_on to its own; unset: the method those '
                  'flags spell.' % '; '.join(m.summary for m in METHODS.values()))
flags.DEFINE_string('data_dir', 'data', 'Folder holding <dataset>/{train,valid,test}.npy.')
flags.DEFINE_integer('seed', 0, 'Seed of the initialisation, episodes and posterior draws.')
flags.DEFINE_integer('val_freq', 10000, 'Validate (and keep the best model) every this many iterations.')
flags.DEFINE_integer('n_val_tasks', 3000, 'Validation tasks per dataset.')
flags.DEFINE_integer('log_freq', 100, 'Log training averages every this many iterations.')
flags.DEFINE_integer('balance_freq', 1000, 'Print the omega / gamma tables every this many iterations.')
flags.DEFINE_integer('hist_freq', 1000, 'TensorBoard weight histograms every this many iterations '
                     '(and at every validation, so short runs have them too).')
flags.DEFINE_enum('episode_mode', '1', ['1', '2', '3'],
                  '1: class and task imbalance, 2: class only, 3: task only.')
flags.DEFINE_bool('bn_counts_padding', True,
                  'Support batch norm counts the zero-padding rows, as the original.')
flags.DEFINE_enum('bn_grad', 'fused', ['fused', 'exact'],
                  "Batch norm's second derivative in the meta-gradient: 'fused' = the "
                  "original graph's (fused kernel in tf.map_fn: the batch-norm backward held "
                  "constant; the papers' numbers), 'exact' = the true second derivative.")
flags.DEFINE_bool('jit_compile', False, 'XLA-compile the meta-train step.')
# --- run lifecycle (common/run_dir.py, common/checkpoints.py) ---
define_lifecycle_flags(dashed=False, keep=3, periodic='every --save_freq iterations',
                       checked='Resume (or meta-test)')
# --- scale-out (common/distribute.py) ---
flags.DEFINE_enum('strategy', 'default', ['default', 'mirrored', 'multi_worker'],
                  'default: one device; mirrored: the tasks of a metabatch split over all '
                  'visible GPUs (or --cpu_devices); multi_worker: over the workers of TF_CONFIG.')
flags.DEFINE_integer('num_devices', 0, 'mirrored: use this many devices (0: all visible).')
flags.DEFINE_integer('cpu_devices', 0, 'Split the CPU into this many logical devices '
                     '(CPU runs of --strategy mirrored; 0: leave it whole).')
flags.DEFINE_integer('connect_timeout', 120, 'multi_worker: seconds to wait for the other '
                     'workers (and for any collective) before failing.')
flags.DEFINE_bool('mixed_precision', False, 'Run the inference network in bfloat16 (GPU runs); '
                  'the learner and its inner loop stay float32.')
check_ranges(at_least=dict(way=2, max_shot=2, query=1, metabatch=1, n_steps=1, n_mc_samples=0,
                           n_train_iters=1, save_freq=1, val_freq=1, log_freq=1, balance_freq=1,
                           hist_freq=1, n_test_episodes=1, n_val_tasks=1, gpu_id=0, seed=0,
                           num_devices=0, cpu_devices=0, connect_timeout=1),
             above=dict(inner_lr=0, meta_lr=0))


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
  quiet_tensorflow_import()   # numeric ranges: check_ranges above (flag-parse errors)
  logging.set_verbosity(logging.WARNING)   # no per-checkpoint INFO lines
  if FLAGS.cpu_devices:
    from common.distribute import split_cpu
    split_cpu(FLAGS.cpu_devices)
  if FLAGS.strategy == 'default':   # mirrored / multi_worker use every visible GPU
    select_gpu(FLAGS.gpu_id)
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
                         legacy=training.LEGACY_VALUES, evaluation=not train)
  adopt_saved_flags(run_dir.saved_config(), training.TRAIN_FLAGS)
  apply_method()
  compared = training.TRAIN_FLAGS if train else training.MODEL_FLAGS
  run_dir.check_config({k: FLAGS[k].value for k in compared}, FLAGS.override_config,
                       write=train, log=lambda line: print(line, file=sys.stderr))
  settings = Settings()
  if train:
    training.meta_train(settings, run_dir)
  else:
    training.meta_test(settings, run_dir)


def adopt_saved_flags(saved, names):
  """Flags of `names` left unset on the command line take the run's recorded
  values, so `main.py --mode meta_test --savedir RUN` tests the trained geometry."""
  for name in names:
    if saved and name in saved and not FLAGS[name].present:
      FLAGS[name].value = saved[name]


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


def select_gpu(gpu_id):
  """Restrict TensorFlow to GPU `gpu_id` (the original set CUDA_VISIBLE_DEVICES)."""
  import tensorflow as tf
  gpus = tf.config.list_physical_devices('GPU')
  if gpus:
    require(gpu_id < len(gpus), '--gpu_id %d but only %d GPU(s) visible' % (gpu_id, len(gpus)))
    tf.config.set_visible_devices(gpus[gpu_id], 'GPU')
    tf.config.experimental.set_memory_growth(gpus[gpu_id], True)


if __name__ == '__main__':
  absl_main(main, memory_hint='a smaller --metabatch (or --max_shot, --query, --n_mc_samples)')
