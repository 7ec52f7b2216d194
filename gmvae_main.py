r"""Meta-GMVAE (Lee et al., ICLR 2021) in TensorFlow 2: Omniglot, miniImageNet
features, and the SimCLR feature extractor.

  python gmvae_main.py --data-dir data/omniglot/gmvae --save-dir runs/o5 --way 5 --sample-size 200
  python gmvae_main.py --dataset simclr --data-dir data/imgnet --save-dir runs/simclr \
      --feature-save-dir data/mimgnet/gmvae
  python gmvae_main.py --dataset mimgnet --data-dir data/mimgnet/gmvae --save-dir runs/m5
  python gmvae_main.py --test-only --data-dir data/omniglot/gmvae --save-dir runs/o5
      --eval-episodes 5000 --test-mc-sample-size 64 --test-shots 1,5,10

Flags keep the originals' dashed names (`--data-dir`; `--data_dir` works too).
Flags left unset take the defaults of the original script of --dataset.
"""
import argparse
import os
import sys

from absl import flags

from common.tf_env import configure_tensorflow_env, quiet_tensorflow_import

configure_tensorflow_env(onednn=True)   # before TensorFlow is imported

from common import runtime_flags
from common.dash_flags import normalise_argv
from common.errors import UserError, absl_main, require
from common.settings import TEST, TRAIN, config, default_for, define as define_settings
from training import gmvae_settings
from training.gmvae_settings import SIMCLR

FLAGS = flags.FLAGS
# every flag and its range from one declaration each (training/gmvae_settings.py)
define_settings(gmvae_settings.SETTINGS)
runtime_flags.define(gmvae_settings.RUNTIME, dashed=True, keep=2,
                     periodic='at the end of each --freq-iters period')


def options():
  """All flags as one namespace (underscored names), dataset defaults filled in
  (--test-only: the run's config.json values first)."""
  saved = saved_run_config(FLAGS['save-dir'].value) if FLAGS['test-only'].value else {}
  dataset = saved.get('dataset', FLAGS.dataset) if not FLAGS['dataset'].present else FLAGS.dataset
  opts = argparse.Namespace(dataset=dataset)
  for s in gmvae_settings.ALL:
    setattr(opts, s.attribute, FLAGS[s.name].value)
  for s in gmvae_settings.PER_DATASET:
    if getattr(opts, s.attribute) is None:
      setattr(opts, s.attribute, saved.get(s.config_key, default_for(s, dataset)))
  for name in ('save-minutes', 'keep-checkpoints', 'override-config'):
    setattr(opts, name.replace('-', '_'), FLAGS[name].value)
  opts.dataset = dataset
  if saved and not FLAGS['fix-pi'].present:
    opts.fix_pi = saved.get('fix_pi', opts.fix_pi)
  if saved and not FLAGS['mixed-precision'].present:
    opts.mixed_precision = saved.get('conv_dtype') == 'bfloat16'
  opts.test_shots = [int_list_item(s, '--test-shots') for s in FLAGS['test-shots'].value or []]
  require(opts.data_dir, '--data-dir is required')
  require(opts.save_dir, '--save-dir is required')   # numeric ranges: the declarations'
  return opts


def int_list_item(text, flag):
  require(text.strip().isdigit() and int(text) >= 1,
          '%s takes positive integers, got %r' % (flag, text))
  return int(text)


def saved_run_config(save_dir):
  """config.json of the trained run --test-only re-tests (its directory is not created,
  locked or written, as main.py's meta_test)."""
  from common.run_dir import RunDirectory
  require(save_dir, '--save-dir is required')
  require(os.path.isdir(save_dir), 'no such --save-dir %s: train first (without --test-only)'
          % save_dir)
  saved = RunDirectory(save_dir, '--save-dir', chief=False).saved_config()
  require(saved, 'no config.json in --save-dir %s: train first (without --test-only)' % save_dir)
  require(saved.get('dataset') != 'simclr', '--test-only re-tests Meta-GMVAE runs; %s is a '
          'SimCLR run' % save_dir)
  return saved


def load_gmvae_data(opts):
  """Splits, validated shots and test plan; every data/geometry check, before TensorFlow."""
  from data.gmvae import episodes
  if opts.dataset == 'omniglot':
    from data.gmvae import omniglot
    splits = omniglot.load(opts.data_dir)
    val_shots, test_shots = [1, 5], [1, 5]
  else:
    from data.gmvae import mimgnet
    splits = mimgnet.load(opts.data_dir)
    val_shots, test_shots = [opts.shot], [1, 5, 20, 50]
  plan = test_plan(val_shots, opts.test_shots or test_shots)
  for split, shots in (('val', val_shots), ('test', [s for _, s in plan])):
    for shot in shots:
      episodes.check_geometry('%s/%s' % (opts.dataset, split), splits[split], opts.way, shot,
                              opts.query)
  # the original draws the EM's initial means with np.random.choice(S * mc, K,
  # replace=False): it needs S * mc >= K and nothing more
  points = opts.sample_size * opts.train_mc_sample_size
  require(points >= opts.way, '--sample-size %d x --train-mc-sample-size %d = %d latent '
          'samples, fewer than the --way %d components the EM prior starts from'
          % (opts.sample_size, opts.train_mc_sample_size, points, opts.way))
  return splits, val_shots, plan


def test_plan(val_shots, test_shots):
  """(best-checkpoint shot, test shot) pairs: the largest validated shot <= the test
  shot, else the smallest (the originals' omniglot (1, 1), (5, 5); mimgnet (shot, s))."""
  return [(max([v for v in val_shots if v <= s] or [min(val_shots)]), s) for s in test_shots]


def run_gmvae(opts):
  splits, val_shots, plan = load_gmvae_data(opts)
  quiet_tensorflow_import()
  from models.gmvae.gmvae import GMVAEConfig
  from training.gmvae import GMVAERun
  cfg = GMVAEConfig(
      dataset=opts.dataset, component_size=opts.way, latent_size=opts.latent_size,
      hidden_size=opts.hidden_size,
      feature_size=0 if opts.dataset == 'omniglot' else splits['train'].shape[-1],
      unsupervised_em_iters=opts.unsupervised_em_iters,
      semisupervised_em_iters=opts.semisupervised_em_iters, fix_pi=opts.fix_pi,
      train_mc_sample_size=opts.train_mc_sample_size,
      test_mc_sample_size=opts.test_mc_sample_size,
      conv_dtype='bfloat16' if opts.mixed_precision else 'float32')
  # validation draws from the training noise generator: its flags count too
  value = lambda name: getattr(opts, name.replace('-', '_'))
  derived = dict(feature_size=cfg.feature_size, conv_dtype=cfg.conv_dtype)
  recorded = dict(config(gmvae_settings.ALL, value, TRAIN), **derived)
  if opts.test_only:   # the evaluation flags may differ; the model's must not
    model = dict(config(gmvae_settings.ALL, value, TEST), **derived)
    run_dir = open_run_dir(opts, model, evaluation=True)
    GMVAERun(cfg, splits, opts, run_dir, val_shots, plan, log=log).test()
    return
  run_dir = open_run_dir(opts, recorded)
  run = GMVAERun(cfg, splits, opts, run_dir, val_shots, plan, log=log)
  run.train()
  run.test()


def run_simclr(opts):
  from data.gmvae import mimgnet
  require(opts.feature_save_dir, '--feature-save-dir is required with --dataset simclr')
  for split in mimgnet.SPLITS:
    mimgnet.read_csv(opts.data_dir, split)
  quiet_tensorflow_import()
  from training.gmvae import SimCLRRun
  value = lambda name: getattr(opts, name.replace('-', '_'))
  run_dir = open_run_dir(opts, config(gmvae_settings.ALL, value, SIMCLR))
  run = SimCLRRun(opts.data_dir, opts, run_dir, log=log)
  run.train()
  run.save_features(opts.feature_save_dir)


def log(line):
  print(line, flush=True)


def open_run_dir(opts, config, evaluation=False):
  """The locked --save-dir, its config.json checked against `config`
  (evaluation=True: --test-only, an existing run locked shared, config.json not written)."""
  from common.distribute import chief_process
  from common.run_dir import RunDirectory
  chief = chief_process(opts.strategy)
  run_dir = RunDirectory(opts.save_dir, '--save-dir', chief=chief, evaluation=evaluation)
  run_dir.check_config(config, opts.override_config, write=chief, log=log)
  return run_dir


def main(argv):
  if len(argv) > 1:
    raise UserError('unexpected arguments: %s' % ' '.join(argv[1:]))
  opts = options()
  runtime_flags.select_gpu(opts.gpu_id, one_device=opts.strategy == 'default')
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  if opts.dataset == 'simclr':
    require(not opts.test_only, '--test-only re-tests Meta-GMVAE runs, not SimCLR')
    run_simclr(opts)
  else:
    run_gmvae(opts)


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main, memory_hint='a smaller --batch-size (or --sample-size, '
            '--train-mc-sample-size, --test-mc-sample-size)')
