r"""Train a model with targeted data-driven regularisation (class re-weighting).

  python tdr_main.py --data-dir ./data/mnist_23_0995 --dataset mnist --job-dir ./runs/mnist \
      --num-training-samples 5000 --eval --train-steps 20000 --eval-freq 1000 --log-freq 100

Flags mirror the original main.py (dashed or underscored spellings).  Extras:
--model, --validation-batch-size, --class-weight-freq, --no-reweight (fixed
uniform class weights: the plain baseline), --seed, --jit; the original's input
pipeline: --train-shuffle original --target-order original --target-distortion
--eval-examples 2000 (README, "Differences from the originals").
"""
import json
import os
import sys

from absl import flags

from common.dash_flags import check_ranges, normalise_argv, reject_extra_args
from common.lifecycle import define_flags as define_lifecycle_flags
from common.errors import UserError, absl_main
from common.tf_env import configure_tensorflow_env, quiet_tensorflow_import

configure_tensorflow_env(onednn=None)   # TF's default kernels; C++ start-up logging quiet

flags.DEFINE_string('data-dir', None, 'Folder with train/validation/test.tfrecords.')
flags.DEFINE_string('job-dir', None, 'Folder for checkpoints, TensorBoard logs, metrics.')
flags.DEFINE_integer('num-gpus', 1, 'GPUs to use (0: CPU; >1: MirroredStrategy).')
flags.DEFINE_integer('num-layers', 20, 'ResNet size, 6n+2.')
flags.DEFINE_integer('train-steps', 8000, 'Training steps.')
flags.DEFINE_integer('train-batch-size', 50, 'Training batch size (global).')
flags.DEFINE_integer('eval-batch-size', 50, 'Test batch size.')
flags.DEFINE_float('momentum', 0.9, 'Momentum of the base optimizer.')
flags.DEFINE_float('weight-decay', 2e-3, 'Weight decay (on every trainable weight).')
flags.DEFINE_float('learning-rate', 0.01, 'Initial learning rate (x0.1 at epochs 91, '
                   '136, 182); also the look-ahead step size.')
flags.DEFINE_bool('use-distortion-for-training', True, 'CIFAR train augmentation.')
flags.DEFINE_integer('num-intra-threads', 0, 'Intra-op threads (0: TensorFlow picks).')
flags.DEFINE_string('data-format', None, 'Accepted for compatibility; the port always '
                    'runs channels_last (same math).')
flags.DEFINE_bool('log-device-placement', False, 'Log device placement.')
flags.DEFINE_float('batch-norm-decay', 0.997, 'Batch-norm moving-average momentum.')
flags.DEFINE_float('batch-norm-epsilon', 1e-5, 'Batch-norm epsilon.')
flags.DEFINE_enum('dataset', 'mnist', ['mnist', 'cifar10', 'cifar100'], 'Dataset.')
flags.DEFINE_integer('num-class', 2, 'Number of classes in the dataset.')
flags.DEFINE_enum('version', 'v1', ['v1', 'v2', 'bv1', 'bv2'], 'ResNet version.')
flags.DEFINE_bool('eval', False, 'Evaluate on the test set every --eval-freq steps.')
flags.DEFINE_integer('eval-freq', 1000, 'Steps between checkpoints / evaluations.')
flags.DEFINE_integer('log-freq', 100, 'Steps between training logs.')
flags.DEFINE_integer('num-training-samples', None, 'Training set size (default: '
                     'counted from train.tfrecords); sets the epoch length.')
flags.DEFINE_enum('model', None, ['lenet', 'convnet', 'resnet'], 'Model (default: '
                  'lenet for mnist, resnet otherwise, as the original).')
flags.DEFINE_integer('validation-batch-size', 10, 'Target (validation) batch size.')
flags.DEFINE_integer('class-weight-freq', 10, 'Steps between class-weight updates.')
flags.DEFINE_bool('no-reweight', False, 'Baseline: keep the class weights at 1/C.')
flags.DEFINE_integer('seed', 0, 'Seed of initialisation and data order.')
flags.DEFINE_bool('jit', False, 'XLA-compile the training steps.')
flags.DEFINE_bool('fused-batch-norm', True, 'Base steps run batch norm with TF\'s fused '
                  'kernel (the original\'s values and gradients up to float32 rounding, ~25 % '
                  'faster per ResNet-20 base step); --nofused-batch-norm: the original\'s op-by-op '
                  'formulation there too. The class-weight update always uses the latter.')
flags.DEFINE_enum('train-shuffle', 'epoch', ['epoch', 'original'], 'epoch: a fresh order '
                  'each pass over train.tfrecords (buffer 10000); original: the file repeated '
                  'in order through a shuffle buffer of 3 x batch, as the original input_fn.')
flags.DEFINE_enum('target-order', 'balanced', ['balanced', 'original'], 'Target batches: '
                  'balanced: cycling through the classes; original: validation.tfrecords '
                  'repeated through a 3 x batch shuffle buffer, as the original.')
flags.DEFINE_bool('target-distortion', False, 'Augment the CIFAR target batches like the '
                  'train batches (with --use-distortion-for-training), as the original did.')
flags.DEFINE_integer('eval-examples', 0, '0: evaluate on the whole test set once; N: on '
                     'N // eval-batch-size batches of the shuffled, repeated test set (the '
                     'original: 2000).', lower_bound=0)
flags.DEFINE_bool('progress', True, 'Progress bars on stderr (training, evaluation; in a '
                  'log file one line every $PROGRESS_INTERVAL seconds, 30).')
flags.DEFINE_enum('strategy', None, ['default', 'mirrored', 'multi_worker'],
                  'tf.distribute strategy (default: from --num-gpus: mirrored over that many '
                  'GPUs when > 1, else one device); multi_worker reads TF_CONFIG.')
flags.DEFINE_integer('cpu-devices', 0, 'Split the CPU into this many logical devices '
                     '(CPU runs of --strategy mirrored).')
flags.DEFINE_integer('connect-timeout', 120, 'multi_worker: seconds to wait for the other '
                     'workers before failing.')
define_lifecycle_flags(dashed=True, keep=3, periodic='every --eval-freq steps')
flags.DEFINE_bool('mixed-precision', False, 'Keras mixed_bfloat16 policy for the model '
                  '(GPU runs): layers compute in bfloat16, weights, batch-norm statistics, '
                  'losses and the class weights stay float32.')
check_ranges(at_least={'num-gpus': 0, 'num-layers': 1, 'train-steps': 1, 'train-batch-size': 1,
                       'eval-batch-size': 1, 'num-intra-threads': 0, 'weight-decay': 0,
                       'momentum': 0, 'batch-norm-decay': 0, 'num-class': 2, 'eval-freq': 1,
                       'log-freq': 1, 'num-training-samples': 1, 'validation-batch-size': 1,
                       'class-weight-freq': 1, 'seed': 0, 'cpu-devices': 0,
                       'connect-timeout': 1},
             above={'learning-rate': 0, 'batch-norm-epsilon': 0},
             below={'momentum': 1, 'batch-norm-decay': 1})
FLAGS = flags.FLAGS
# Flags that change what a run computes: a resumed run must repeat them (config.json).
CONFIG_FLAGS = ('dataset', 'num-layers', 'version', 'num-class', 'train-batch-size',
                'validation-batch-size', 'momentum', 'weight-decay', 'learning-rate',
                'use-distortion-for-training', 'class-weight-freq', 'no-reweight', 'seed',
                'batch-norm-decay', 'batch-norm-epsilon', 'mixed-precision', 'jit',
                'train-shuffle', 'target-order', 'target-distortion')


def _flag(name):
  return FLAGS[name].value


def _check_flags():
  from models.tdr.config import check_resnet_size, default_model
  for name in ('data-dir', 'job-dir'):
    if not _flag(name):
      raise UserError('--%s is required' % name)
  if (_flag('model') or default_model(_flag('dataset'))) == 'resnet':
    check_resnet_size(_flag('num-layers'))   # numeric ranges: check_ranges above
  quiet_tensorflow_import()
  return _flag('job-dir')   # created with its parents by RunDirectory


def _strategy(tf, num_gpus):
  """--strategy, or the original's --num-gpus mapped onto it."""
  from common import distribute
  if num_gpus < 0:
    raise UserError('--num-gpus must be 0 or positive, got %d' % num_gpus)
  name = _flag('strategy')
  if name is not None:
    return distribute.make_strategy(name, num_gpus if FLAGS['num-gpus'].present else 0,
                                    _flag('connect-timeout'))
  gpus = tf.config.list_logical_devices('GPU')
  if num_gpus > len(gpus):
    if FLAGS['num-gpus'].present:
      raise UserError('--num-gpus %d asked, but %d GPU(s) are visible'
                      % (num_gpus, len(gpus)))
    num_gpus = len(gpus)
  if num_gpus > 1:
    return distribute.make_strategy('mirrored', num_gpus)
  return tf.distribute.OneDeviceStrategy('/gpu:0' if num_gpus else '/cpu:0')


def log(line):
  print(line, flush=True)


def main(argv):
  reject_extra_args(argv)
  job_dir = _check_flags()
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # TensorFlow's checkpoint INFO chatter
  if _flag('data-format') == 'channels_first':
    logging.warning('--data-format channels_first ignored: the port runs channels_last')
  import keras
  import tensorflow as tf
  if _flag('cpu-devices'):   # before the first TensorFlow op
    from common.distribute import split_cpu
    split_cpu(_flag('cpu-devices'))
  from data.tdr import IMAGE_SHAPES, tfrecords as tfr
  from models.tdr import build_model, losses
  from training.tdr_steps import TDRTrainer
  from training.tdr import fit
  if _flag('num-intra-threads'):
    tf.config.threading.set_intra_op_parallelism_threads(_flag('num-intra-threads'))
  tf.debugging.set_log_device_placement(_flag('log-device-placement'))
  dataset, data_dir, num_class = _flag('dataset'), _flag('data-dir'), _flag('num-class')
  shape = IMAGE_SHAPES[dataset]
  info = {s: tfr.scan(tfr.split_path(data_dir, s), shape)
          for s in ('train', 'validation', 'test')}
  for split, i in info.items():
    if len(i['class_counts']) > num_class:
      raise UserError('%s has label %d, but --num-class is %d' % (
          tfr.split_path(data_dir, split), len(i['class_counts']) - 1, num_class))
  missing = [c for c in range(num_class) if c >= len(info['validation']['class_counts'])
             or not info['validation']['class_counts'][c]]
  if missing:
    raise UserError('validation.tfrecords has no image of class(es) %s' % missing)
  from models.tdr.config import default_model
  model_name = _flag('model') or default_model(dataset)
  n_train = _flag('num-training-samples') or info['train']['count']
  config = dict({k: _flag(k) for k in CONFIG_FLAGS}, model=model_name,
                **{'num-training-samples': n_train})
  from common.distribute import chief_process
  from common.run_dir import RunDirectory
  run_dir = RunDirectory(job_dir, '--job-dir', chief=chief_process(_flag('strategy')))
  run_dir.check_config(config, _flag('override-config'), log=log)

  keras.utils.set_random_seed(_flag('seed'))
  if _flag('mixed-precision'):
    keras.mixed_precision.set_global_policy('mixed_bfloat16')
  strategy = _strategy(tf, _flag('num-gpus'))
  replicas = strategy.num_replicas_in_sync
  for name in ('train-batch-size', 'validation-batch-size'):
    if _flag(name) % replicas:
      raise UserError('--%s %d is not divisible by the %d replicas'
                      % (name, _flag(name), replicas))
  with strategy.scope():
    model = build_model(model_name, num_class, _flag('num-layers'), _flag('version'),
                        _flag('batch-norm-decay'), _flag('batch-norm-epsilon'))
  trainer = TDRTrainer(
      model, num_class, shape, learning_rate=_flag('learning-rate'),
      momentum=_flag('momentum'), weight_decay=_flag('weight-decay'),
      boundaries=losses.lr_boundaries(n_train, _flag('train-batch-size')),
      reweight=not _flag('no-reweight'), class_weight_freq=_flag('class-weight-freq'),
      strategy=strategy, jit=_flag('jit'), fused_base_batch_norm=_flag('fused-batch-norm'))
  distort = _flag('use-distortion-for-training') and dataset != 'mnist'

  def make_streams(train_batches, target_batches):
    seed = _flag('seed')
    train = tfr.train_dataset(tfr.split_path(data_dir, 'train'),
                              _flag('train-batch-size'), shape, distort, seed, train_batches,
                              shuffle=_flag('train-shuffle'))
    val = tfr.target_dataset(tfr.split_path(data_dir, 'validation'),
                             _flag('validation-batch-size'), shape, num_class, seed,
                             target_batches, order=_flag('target-order'),
                             distort=distort and _flag('target-distortion'))
    return tuple(iter(strategy.experimental_distribute_dataset(d)) for d in (train, val))

  if _flag('eval-examples') and _flag('eval-examples') < _flag('eval-batch-size'):
    raise UserError('--eval-examples %d is smaller than --eval-batch-size %d'
                    % (_flag('eval-examples'), _flag('eval-batch-size')))

  def test(step):  # the original drew a new shuffled sample at every evaluation
    return tfr.eval_dataset(tfr.split_path(data_dir, 'test'), _flag('eval-batch-size'), shape,
                            _flag('eval-examples'), seed=_flag('seed') * 1000003 + step,
                            records=info['test']['count'])
  result = fit(trainer, make_streams, test, run_dir, _flag('train-steps'),
               _flag('log-freq'), _flag('eval-freq'),
               _flag('eval'), _flag('train-batch-size'), log=log,
               progress_bar=_flag('progress'), save_minutes=_flag('save-minutes'),
               keep_checkpoints=_flag('keep-checkpoints'),
               setting=dict(dataset=dataset, data_dir=os.path.abspath(data_dir),
                            model=model_name, reweight=not _flag('no-reweight'),
                            seed=_flag('seed'), num_class=num_class,
                            eval_examples=_flag('eval-examples')))
  print('final: ' + json.dumps({k: v for k, v in result.items() if k != 'history'}),
        flush=True)


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main, memory_hint='a smaller --train-batch-size (or --eval-batch-size)')
