"""TDR training speed: steps/s and examples/s of the compiled step, with and
without the bilevel class-weight update, for LeNet on MNIST shapes and
ResNet-20 on CIFAR shapes (synthetic in-memory batches, so only compute counts).

  python bench/tdr_speed.py                  # both models, jit off and on
  python bench/tdr_speed.py --models lenet --jit off --steps 500

Modes: `plain` = base steps only (--no-reweight); `bilevel` = base steps plus
the class-weight update every 10 steps (what tdr_main.py runs); `bilevel-every`
= the class-weight update before every step (the look-ahead's full cost).
Steps run as tdr_main.py runs them: `TDRTrainer.advance` blocks of up to 10
base steps inside one compiled call.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

flags.DEFINE_list('models', ['lenet', 'resnet20'], 'lenet and/or resnet20.')
flags.DEFINE_enum('jit', 'both', ['off', 'on', 'both'], 'XLA jit_compile of the steps.')
flags.DEFINE_integer('steps', 0, 'Timed steps (0: 300 for lenet, 40 for resnet20 on '
                     'CPU; x5 on GPU).')
flags.DEFINE_integer('batch-size', 50, 'Training batch size (the original default).')
FLAGS = flags.FLAGS
CONFIGS = {  # name -> (model, image shape, classes, resnet size)
    'lenet': ('lenet', (28, 28, 1), 2, None),
    'resnet20': ('resnet', (32, 32, 3), 10, 20),
}
MODES = (('plain', 0), ('bilevel', 10), ('bilevel-every', 1))


def bench_one(name, mode_freq, jit, steps, batch_size):
  import tensorflow as tf
  from models.tdr import build_model
  from models.tdr.trainer import TDRTrainer
  model_name, shape, num_class, size = CONFIGS[name]
  model = build_model(model_name, num_class, size or 20, 'v1')
  trainer = TDRTrainer(model, num_class, shape, reweight=bool(mode_freq),
                       class_weight_freq=mode_freq or 10, jit=jit)

  def stream(n):
    x = tf.random.uniform((n,) + shape, 0, 255, seed=1)
    y = tf.range(n) % num_class
    return iter(tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2))
  train_it, val_it = stream(batch_size), stream(10)

  def run(n):  # the loop of tdr_main.py: blocks of base steps between updates
    end = trainer.current_step() + n
    while trainer.current_step() < end:
      step = trainer.current_step()
      out, _ = trainer.advance(train_it, val_it, trainer.block_end(step, end, 10) - step)
    float(out['loss'])  # wait for the device

  run(max(2 * (mode_freq or 1), 10))  # trace + warm up
  t0 = time.perf_counter()
  run(steps)
  sec = time.perf_counter() - t0
  return steps / sec, steps * batch_size / sec


def main(argv):
  del argv
  import tensorflow as tf
  gpu = bool(tf.config.list_logical_devices('GPU'))
  device = tf.config.experimental.get_device_details(
      tf.config.list_physical_devices('GPU')[0]).get('device_name', 'GPU') if gpu \
      else 'CPU (%d threads)' % os.cpu_count()
  jits = {'off': [False], 'on': [True], 'both': [False, True]}[FLAGS.jit]
  rows = []
  for name in FLAGS.models:
    steps = FLAGS.steps or (300 if name == 'lenet' else 40) * (5 if gpu else 1)
    for jit in jits:
      for mode, freq in MODES:
        sps, eps = bench_one(name, freq, jit, steps, FLAGS['batch-size'].value)
        rows.append((name, mode, 'on' if jit else 'off', steps, sps, eps))
        print('%s %s jit=%s: %.1f steps/s' % (name, mode, rows[-1][2], sps), flush=True)
  print('\ndevice: %s, TensorFlow %s, batch %d' % (device, tf.__version__,
                                                   FLAGS['batch-size'].value))
  print('| model | mode | jit | timed steps | steps/s | examples/s |')
  print('|---|---|---|---|---|---|')
  for r in rows:
    print('| %s | %s | %s | %d | %.1f | %.0f |' % r)


if __name__ == '__main__':
  app.run(main)
