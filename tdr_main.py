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

from common import runtime_flags
from common.dash_flags import normalise_argv, reject_extra_args
from common.errors import UserError, absl_main
from common.settings import TRAIN, config, define as define_settings
from common.tf_env import configure_tensorflow_env, quiet_tensorflow_import
from training import tdr_settings

configure_tensorflow_env(onednn=None)   # TF's default kernels; C++ start-up logging quiet

FLAGS = flags.FLAGS
# every flag and its range from one declaration each (training/tdr_settings.py)
define_settings(tdr_settings.SETTINGS)
runtime_flags.define(tdr_settings.RUNTIME, dashed=True, keep=3,
                     periodic='every --eval-freq steps')


def _flag(name):
  return FLAGS[name].value


def recorded_config():
  """The declared settings a resumed run must repeat, as config.json records them."""
  return config(tdr_settings.ALL, _flag, TRAIN)


def _check_flags():
  from models.tdr.config import check_resnet_size, default_model
  for name in ('data-dir', 'job-dir'):
    if not _flag(name):
      raise UserError('--%s is required' % name)
  if (_flag('model') or default_model(_flag('dataset'))) == 'resnet':
    check_resnet_size(_flag('num-layers'))   # numeric ranges: the declarations'
  runtime_flags.select_gpu(_flag('gpu-id'), one_device=_one_device())
  quiet_tensorflow_import()
  return _flag('job-dir')   # created with its parents by RunDirectory


def _one_device():
  """True if this run uses one device: --strategy default, or (left unset) a
  --num-gpus of 0 or 1."""
  if FLAGS['strategy'].present:
    return _flag('strategy') == 'default'
  return _flag('num-gpus') <= 1


def _strategy(tf, num_gpus):
  """--strategy, or (left unset) the original's --num-gpus mapped onto it."""
  from common import distribute
  if num_gpus < 0:
    raise UserError('--num-gpus must be 0 or positive, got %d' % num_gpus)
  if FLAGS['strategy'].present:
    devices = _flag('num-devices') or (num_gpus if FLAGS['num-gpus'].present else 0)
    return distribute.make_strategy(_flag('strategy'), devices, _flag('connect-timeout'))
  gpus = tf.config.list_logical_devices('GPU')
  if num_gpus > len(gpus):
    if FLAGS['num-gpus'].present:
      raise UserError('--num-gpus %d asked, but %d GPU(s) are visible'
                      % (num_gpus, len(gpus)))
    num_gpus = len(gpus)
  if num_gpus > 1:
    return distribute.make_strategy('mirrored', _flag('num-devices') or num_gpus)
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
  from training.tdr import TDRRun
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
  # the stream skips the original's logging draws at every --log-freq step
  logged_draws = _flag('log-freq') if _flag('drop-logged-batches') else 0
  config = dict(recorded_config(), model=model_name, **{'num-training-samples': n_train,
                                                         'logged-draws': logged_draws})
  from common.distribute import chief_process
  from common.run_dir import RunDirectory
  run_dir = RunDirectory(job_dir, '--job-dir', chief=chief_process(_flag('strategy')),
                         legacy={'logged-draws': 0})   # before --drop-logged-batches
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
      strategy=strategy, jit=_flag('jit'), fused_base_batch_norm=_flag('fused-batch-norm'),
      logged_draws=logged_draws)
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
  run = TDRRun(trainer, make_streams, test, run_dir, _flag('train-steps'),
               _flag('log-freq'), _flag('eval-freq'),
               _flag('eval'), _flag('train-batch-size'), log=log,
               progress_bar=_flag('progress'), save_minutes=_flag('save-minutes'),
               keep_checkpoints=_flag('keep-checkpoints'),
               setting=dict(dataset=dataset, data_dir=os.path.abspath(data_dir),
                            model=model_name, reweight=not _flag('no-reweight'),
                            seed=_flag('seed'), num_class=num_class,
                            eval_examples=_flag('eval-examples')))
  run.train()
  result = run.test()
  print('final: ' + json.dumps({k: v for k, v in result.items() if k != 'history'}),
        flush=True)


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main, memory_hint='a smaller --train-batch-size (or --eval-batch-size)')
