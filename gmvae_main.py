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

from common.dash_flags import check_ranges, normalise_argv
from common.lifecycle import define_flags as define_lifecycle_flags
from common.errors import UserError, absl_main, require

DEFAULTS = {   # the originals' argparse defaults, per script
    'omniglot': {'unsupervised-em-iters': 10, 'semisupervised-em-iters': 10, 'hidden-size': 64,
                 'latent-size': 64, 'train-mc-sample-size': 32, 'test-mc-sample-size': 32,
                 'batch-size': 4, 'sample-size': 300, 'train-iters': 60000, 'freq-iters': 1000,
                 'eval-episodes': 1000, 'way': 20, 'query': 15, 'lr': 1e-3,
                 'weight-decay': 1e-6, 'seed': 0},
    'mimgnet': {'unsupervised-em-iters': 10, 'semisupervised-em-iters': 10, 'hidden-size': 64,
                'latent-size': 32, 'train-mc-sample-size': 256, 'test-mc-sample-size': 256,
                'batch-size': 16, 'sample-size': 5, 'train-iters': 15000, 'freq-iters': 1000,
                'eval-episodes': 1000, 'shot': 1, 'way': 5, 'query': 15, 'lr': 1e-4,
                'weight-decay': 5e-2, 'seed': 15},
    'simclr': {'hidden-size': 64, 'batch-size': 512, 'train-epochs': 400, 'lr': 1e-3,
               'seed': 0},
}
_INT = ('unsupervised-em-iters', 'semisupervised-em-iters', 'hidden-size', 'latent-size',
        'train-mc-sample-size', 'test-mc-sample-size', 'batch-size', 'sample-size',
        'train-iters', 'freq-iters', 'eval-episodes', 'way', 'query', 'shot', 'train-epochs',
        'seed')
_FLOAT = ('lr', 'weight-decay')


def _default_help(name):
  return 'default: ' + ', '.join('%s %s' % (d, v[name]) for d, v in DEFAULTS.items() if name in v)


flags.DEFINE_enum('dataset', 'omniglot', ['omniglot', 'mimgnet', 'simclr'],
                  'omniglot: Meta-GMVAE on images; mimgnet: on SimCLR features; simclr: train '
                  'the feature extractor on miniImageNet images and write *_features.npy.')
flags.DEFINE_string('data-dir', None, 'omniglot: train/val/test.npy; mimgnet: '
                    '*_features.npy; simclr: images/ + train/val/test.csv.')
flags.DEFINE_string('save-dir', None, 'Checkpoints, best checkpoints, TensorBoard, config.')
flags.DEFINE_string('feature-save-dir', None, 'simclr: where *_features.npy are written.')
for _name in _INT:
  flags.DEFINE_integer(_name, None, _default_help(_name))
for _name in _FLOAT:
  flags.DEFINE_float(_name, None, _default_help(_name))
flags.DEFINE_bool('fix-pi', False, 'Keep the mixture weights uniform in the training EM.')
flags.DEFINE_bool('debug', False, 'One iteration and one validation, as the originals.')
flags.DEFINE_integer('gpu-id', None, 'Sets CUDA_VISIBLE_DEVICES, as the originals. Unset: '
                     '0 (the originals\' default), unless CUDA_VISIBLE_DEVICES is already set '
                     'or --strategy is mirrored/multi_worker: then the environment is kept.')
flags.DEFINE_bool('jit', False, 'Compile the steps with XLA (slower on CPU; try on GPU).')
flags.DEFINE_bool('progress', True, 'Progress bars on stderr (training rec/kld, validation '
                  'and test accuracy; in a log file one line every $PROGRESS_INTERVAL seconds, '
                  '30).')
flags.DEFINE_enum('strategy', 'default', ['default', 'mirrored', 'multi_worker'],
                  'Meta-GMVAE training: default: one device; mirrored: the episodes of a batch '
                  'split over all visible GPUs (or --cpu-devices); multi_worker: TF_CONFIG.')
flags.DEFINE_integer('num-devices', 0, 'mirrored: use this many devices (0: all visible).')
flags.DEFINE_integer('cpu-devices', 0, 'Split the CPU into this many logical devices.')
flags.DEFINE_integer('connect-timeout', 120, 'multi_worker: seconds to wait for the workers.')
define_lifecycle_flags(dashed=True, keep=2, periodic='at the end of each --freq-iters period')
flags.DEFINE_bool('mixed-precision', False, 'Omniglot: conv encoder/decoder in bfloat16 (GPU '
                  'runs); the set transformer, EM and losses stay float32.')
flags.DEFINE_bool('test-only', False, 'Re-test a trained --save-dir without training: flags '
                  'left unset take the run\'s config.json values, the model-defining ones '
                  'must match it, the evaluation flags (%s) may differ. Tests the newest '
                  'checkpoint\'s weights, and each test shot with its best checkpoint, as '
                  'the test at the end of training.' % ', '.join(
                      '--' + k.replace('_', '-') for k in ('eval_episodes',
                                                           'test_mc_sample_size', 'query',
                                                           'seed', 'test_shots')))
flags.DEFINE_list('test-shots', None, 'Shots of the final test (default: omniglot 1,5; '
                  'mimgnet 1,5,20,50). Each uses the best checkpoint of the largest validated '
                  'shot <= it (else the smallest validated shot).')
check_ranges(at_least=dict({n: 1 for n in _INT}, **{
    'train-iters': 0, 'seed': 0, 'unsupervised-em-iters': 0, 'semisupervised-em-iters': 0,
    'way': 2, 'weight-decay': 0, 'gpu-id': 0, 'num-devices': 0, 'cpu-devices': 0,
    'connect-timeout': 1}), above={'lr': 0})
FLAGS = flags.FLAGS
# Flags a --test-only run may set to other values than its training run had.
EVAL_KEYS = ('eval_episodes', 'test_mc_sample_size', 'query', 'seed')
# config.json keys that are not spelled as their flag.
CONFIG_NAMES = {'way': 'component_size'}


def options():
  """All flags as one namespace (underscored names), dataset defaults filled in
  (--test-only: the run's config.json values first)."""
  saved = saved_run_config(FLAGS['save-dir'].value) if FLAGS['test-only'].value else {}
  dataset = saved.get('dataset', FLAGS.dataset) if not FLAGS['dataset'].present else FLAGS.dataset
  opts = argparse.Namespace(dataset=dataset)
  for name in _INT + _FLOAT:
    key = name.replace('-', '_')
    value = FLAGS[name].value
    if value is None:
      value = saved.get(CONFIG_NAMES.get(key, key), DEFAULTS[dataset].get(name))
    setattr(opts, key, value)
  for name in ('data-dir', 'save-dir', 'feature-save-dir', 'fix-pi', 'debug', 'gpu-id', 'jit',
               'progress', 'strategy', 'num-devices', 'cpu-devices', 'connect-timeout',
               'mixed-precision', 'save-minutes', 'keep-checkpoints', 'override-config',
               'test-only'):
    setattr(opts, name.replace('-', '_'), FLAGS[name].value)
  if saved and not FLAGS['fix-pi'].present:
    opts.fix_pi = saved.get('fix_pi', opts.fix_pi)
  if saved and not FLAGS['mixed-precision'].present:
    opts.mixed_precision = saved.get('conv_dtype') == 'bfloat16'
  opts.test_shots = [int_list_item(s, '--test-shots') for s in FLAGS['test-shots'].value or []]
  require(opts.data_dir, '--data-dir is required')
  require(opts.save_dir, '--save-dir is required')   # numeric ranges: check_ranges above
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
  config = dict(vars(cfg), batch_size=opts.batch_size, sample_size=opts.sample_size,
                seed=opts.seed, lr=opts.lr, weight_decay=opts.weight_decay, query=opts.query,
                freq_iters=opts.freq_iters, shot=opts.shot, eval_episodes=opts.eval_episodes)
  if opts.test_only:   # the evaluation flags may differ; the model's must not
    cfg_eval = {k: v for k, v in config.items() if k not in EVAL_KEYS}
    run_dir = open_run_dir(opts, cfg_eval, evaluation=True)
    GMVAERun(cfg, splits, opts, run_dir, val_shots, plan, log=log).test_only()
    return
  run_dir = open_run_dir(opts, config)
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
  run_dir = open_run_dir(opts, dict(dataset='simclr', hidden_size=opts.hidden_size,
                                    batch_size=opts.batch_size, seed=opts.seed, lr=opts.lr,
                                    train_epochs=opts.train_epochs))
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


def set_visible_gpu(gpu_id, explicit, strategy, environ=os.environ):
  """The originals' `os.environ['CUDA_VISIBLE_DEVICES'] = str(args.gpu_id)`.

  An explicit --gpu-id always sets it, as the originals.  Left unset (the
  originals then set 0), the port keeps an existing CUDA_VISIBLE_DEVICES and
  leaves the variable alone for the multi-GPU strategies."""
  if explicit or ('CUDA_VISIBLE_DEVICES' not in environ and strategy == 'default'):
    environ['CUDA_VISIBLE_DEVICES'] = str(gpu_id)


def main(argv):
  if len(argv) > 1:
    raise UserError('unexpected arguments: %s' % ' '.join(argv[1:]))
  opts = options()
  explicit = opts.gpu_id is not None
  set_visible_gpu(opts.gpu_id if explicit else 0, explicit, opts.strategy)
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
