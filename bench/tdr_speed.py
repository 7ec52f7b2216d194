"""TDR training speed: steps/s and examples/s of the compiled step, with and
without the bilevel class-weight update, for LeNet on MNIST shapes and
ResNet-20 on CIFAR shapes (synthetic in-memory batches, so only compute counts).

  python bench/tdr_speed.py                  # both models, jit off and on
  python bench/tdr_speed.py --models lenet --jit off --steps 500
  python bench/tdr_speed.py --profile        # + where the bilevel step's CPU time goes

Modes: `plain` = base steps only (--no-reweight); `bilevel` = base steps plus
the class-weight update every 10 steps (what tdr_main.py runs); `bilevel-every`
= the class-weight update before every step (the look-ahead's full cost).
Steps run as tdr_main.py runs them: `TDRTrainer.advance` blocks of up to 10
base steps inside one compiled call.

Side by side with the original (MLOPTPSU/Targeted-Meta-Learning, its Estimator loop run
by bench/original_tdr_speed.py in a TF 2.15 environment, outside this repository):

  python bench/tdr_speed.py --original /work/originals/Targeted-Meta-Learning \
      --original_python /work/venv215/bin/python \
      --mnist_data /work/bench_data/tdr_mnist_23_0995 \
      --cifar_data /work/bench_data/tdr_cifar10_random --pairs 2

Both read the same tfrecords (train batch 50, target batch 10, class-weight update
every 10 steps, CIFAR augmentation on): LeNet on --mnist_data (2 classes), ResNet-20 v1
on --cifar_data (10 classes; random uint8 records of CIFAR's shape are fine for speed).
Original and port alternate (--pairs), each in its own process; per step = mean over
--steps timed steps after --warmup steps (whole class-weight periods).  First step:
original = estimator.train() call to the end of step 1 (graph, session, checkpoint);
port = model build to the end of step 1 (trace).  GFLOP counts are the port's dense
FLOPs (conv, its backprops, matmul; bench/flops.py): base step + 1/10 class-weight step.
"""
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from bench.op_profile import print_profiles  # noqa: E402

flags.DEFINE_list('models', ['lenet', 'resnet20'], 'lenet and/or resnet20.')
flags.DEFINE_enum('jit', 'both', ['off', 'on', 'both'], 'XLA jit_compile of the steps.')
flags.DEFINE_integer('steps', 0, 'Timed steps (0: 300 for lenet, 40 for resnet20 on '
                     'CPU; x5 on GPU).')
flags.DEFINE_integer('batch-size', 50, 'Training batch size (the original default).')
flags.DEFINE_string('original', None, 'Folder of the original Targeted-Meta-Learning code: '
                    'run it side by side with the port (needs --original_python, '
                    '--mnist_data and/or --cifar_data).')
flags.DEFINE_string('original_python', None, 'Python of a TF <= 2.15 environment with '
                    'tf.estimator (tensorflow-cpu 2.15.1).')
flags.DEFINE_string('original_tool', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  'original_tdr_speed.py'),
                    'The driver that runs the original Estimator loop.')
flags.DEFINE_string('mnist_data', None, 'tfrecords of makeImbalanceDataset.py --dataset mnist '
                    '(2 classes) for the lenet row.')
flags.DEFINE_string('cifar_data', None, 'tfrecords of CIFAR-10 shape (10 classes) for the '
                    'resnet20 row.')
flags.DEFINE_integer('pairs', 1, 'With --original: interleaved original/port pairs per model.')
flags.DEFINE_integer('warmup', 0, 'With --original: untimed steps after the first '
                     '(0: 20 for lenet, 10 for resnet20).')
flags.DEFINE_bool('flops', True, 'Count the FLOPs of the port\'s step.')
flags.DEFINE_bool('fused_batch_norm', True, 'The port\'s base steps with the fused batch-norm '
                  'kernel (tdr_main.py --fused-batch-norm); --nofused_batch_norm: the '
                  'original\'s op-by-op formulation.')
flags.DEFINE_bool('profile', False, 'Also profile the step (TensorFlow profiler): kernel time '
                  'per op type. Without --original: the bilevel mode, jit off; with it: the '
                  'timed steps of both (the original\'s driver --profile).')
flags.DEFINE_string('child', None, 'internal: measure the port on records in this process.')
flags.DEFINE_string('child_data', None, 'internal')
FLAGS = flags.FLAGS
CONFIGS = {  # name -> (model, image shape, classes, resnet size)
    'lenet': ('lenet', (28, 28, 1), 2, None),
    'resnet20': ('resnet', (32, 32, 3), 10, 20),
}
MODES = (('plain', 0), ('bilevel', 10), ('bilevel-every', 1))


def bench_one(name, mode_freq, jit, steps, batch_size):
  import tensorflow as tf
  from models.tdr import build_model
  from training.tdr_steps import TDRTrainer
  model_name, shape, num_class, size = CONFIGS[name]
  model = build_model(model_name, num_class, size or 20, 'v1')
  trainer = TDRTrainer(model, num_class, shape, reweight=bool(mode_freq),
                       class_weight_freq=mode_freq or 10, jit=jit,
                       fused_base_batch_norm=FLAGS.fused_batch_norm)

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
  flops = step_flops(trainer, train_it, val_it, mode_freq) if FLAGS.flops and not jit else None
  if FLAGS.profile and mode_freq == 10 and not jit:
    from bench.op_profile import profile_ops
    print_profiles([('%s bilevel (jit off), port' % name,
                     profile_ops(lambda: run(10), calls=max(1, steps // 10), steps_per_call=10))])
  return steps / sec, steps * batch_size / sec, flops


def step_flops(trainer, train_it, val_it, freq):
  """Dense FLOPs per base step: the base step plus 1/freq of a class-weight step."""
  from bench.flops import count_flops
  flops = count_flops(trainer.train_step.get_concrete_function(train_it))['flops']
  if freq:
    cw = count_flops(trainer.class_weight_step.get_concrete_function(train_it, val_it))['flops']
    flops += cw / freq
  return flops


def measure_records(name, data_dir, steps, warmup, batch_size):
  """The port on tfrecords as tdr_main.py reads them (child process): first step,
  mean wall / CPU seconds per step over `steps` after `warmup`, peak RSS, FLOPs."""
  import tensorflow as tf
  t0, c0 = time.perf_counter(), time.process_time()
  from data.tdr import tfrecords as tfr
  from models.tdr import build_model, losses
  from training.tdr_steps import TDRTrainer
  model_name, shape, num_class, size = CONFIGS[name]
  model = build_model(model_name, num_class, size or 20, 'v1')
  trainer = TDRTrainer(model, num_class, shape,
                       boundaries=losses.lr_boundaries(5000, batch_size), reweight=True,
                       class_weight_freq=10, jit=False,
                       fused_base_batch_norm=FLAGS.fused_batch_norm)
  distort = shape[-1] == 3   # tdr_main.py: augmentation on, except MNIST
  train_it = iter(tfr.train_dataset(tfr.split_path(data_dir, 'train'), batch_size, shape,
                                    distort, 0))
  val_it = iter(tfr.balanced_dataset(tfr.split_path(data_dir, 'validation'), 10, shape,
                                     num_class, 0))

  def run(n):
    end = trainer.current_step() + n
    while trainer.current_step() < end:
      step = trainer.current_step()
      out, _ = trainer.advance(train_it, val_it, trainer.block_end(step, end, 10) - step)
    float(out['loss'])

  run(1)
  first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
  run(warmup)
  t, c = time.perf_counter(), time.process_time()
  run(steps)
  wall, cpu = (time.perf_counter() - t) / steps, (time.process_time() - c) / steps
  res = dict(first_s=first, first_cpu_s=first_cpu, wall_per_step=wall, cpu_per_step=cpu,
             ru_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             tf=tf.__version__)
  if FLAGS.profile:   # the same number of steps again, as the original's driver profiles them
    from bench.op_profile import profile_ops
    res['profile'] = profile_ops(lambda: run(steps), calls=1, steps_per_call=steps)
  if FLAGS.flops:
    res['flops'] = step_flops(trainer, train_it, val_it, 10)
  return res


ORIGINAL_ARGS = {'lenet': ['--dataset', 'mnist', '--num-class', '2'],
                 'resnet20': ['--dataset', 'cifar10', '--num-class', '10', '--num-layers', '20']}


def _run_json(cmd):
  out = subprocess.run(cmd, capture_output=True, text=True)
  lines = [l[7:] for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if out.returncode or not lines:
    return 'failed: %s' % ((out.stderr.strip().splitlines() or ['?'])[-1][:200])
  return json.loads(lines[-1])


def side_by_side():
  from bench.flops import fmt_gflops
  data = {'lenet': FLAGS.mnist_data, 'resnet20': FLAGS.cifar_data}
  print('original: %s (%s, %s); port: %s' % (FLAGS.original, FLAGS.original_python,
                                             FLAGS.original_tool, sys.executable))
  print('TF_ENABLE_ONEDNN_OPTS=%s; batch %d; s / step = mean over the timed steps (class-weight '
        'update every 10 included); CPU = process CPU time, all threads; GFLOP/s of both use '
        'the port\'s FLOP count' % (os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'),
                                     FLAGS['batch-size'].value))
  print('| model | data | pair | timed steps | original wall ms/step | original CPU ms/step '
        '| port wall ms/step | port CPU ms/step | original/port wall | original/port CPU '
        '| first step s original / port | peak RSS MiB original / port | MFLOP / step (port) '
        '| GFLOP/s original / port |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  profiles = []
  for name in FLAGS.models:
    if not data.get(name):
      print('| %s | no --%s_data given |' % (name, 'mnist' if name == 'lenet' else 'cifar'))
      continue
    steps = FLAGS.steps or (200 if name == 'lenet' else 40)
    steps = -(-steps // 10) * 10
    warmup = FLAGS.warmup or (20 if name == 'lenet' else 10)
    for pair in range(FLAGS.pairs):
      profile = ['--profile'] if FLAGS.profile else []
      o = _run_json([FLAGS.original_python, FLAGS.original_tool, '--src', FLAGS.original,
                     '--data-dir', data[name], '--steps', str(steps), '--warmup', str(warmup),
                     '--train-batch-size', str(FLAGS['batch-size'].value)]
                    + ORIGINAL_ARGS[name] + profile)
      p = _run_json([sys.executable, os.path.abspath(__file__), '--child', name,
                     '--child_data', data[name], '--steps', str(steps),
                     '--warmup', str(warmup), '--batch-size', str(FLAGS['batch-size'].value),
                     '--flops' if FLAGS.flops else '--noflops',
                     '--%sfused_batch_norm' % ('' if FLAGS.fused_batch_norm else 'no')] + profile)
      profiles += [('%s pair %d, %s' % (name, pair + 1, side), r['profile'])
                   for side, r in (('original', o), ('port', p))
                   if isinstance(r, dict) and 'profile' in r]
      if isinstance(o, str) or isinstance(p, str):
        print('| %s | %s | %d | | original %s | port %s |' % (
            name, data[name], pair + 1, o if isinstance(o, str) else 'ok',
            p if isinstance(p, str) else 'ok'), flush=True)
        continue
      fl = p.get('flops')
      print('| %s | %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f / %.1f '
            '| %.0f / %.0f | %s | %s / %s |' % (
                name, os.path.basename(data[name].rstrip('/')), pair + 1, steps,
                1e3 * o['wall_per_step'], 1e3 * o['cpu_per_step'], 1e3 * p['wall_per_step'],
                1e3 * p['cpu_per_step'], o['wall_per_step'] / p['wall_per_step'],
                o['cpu_per_step'] / p['cpu_per_step'], o['first_s'], p['first_s'],
                o['ru_maxrss_mib'], p['ru_maxrss_mib'], '%.1f' % (fl / 1e6) if fl else '-',
                fmt_gflops(fl, o['wall_per_step']), fmt_gflops(fl, p['wall_per_step'])),
            flush=True)
  print_profiles(profiles, ' (timed steps)')


def main(argv):
  del argv
  if FLAGS.child:
    steps = FLAGS.steps or (200 if FLAGS.child == 'lenet' else 40)
    print('RESULT ' + json.dumps(measure_records(FLAGS.child, FLAGS.child_data, steps,
                                                 FLAGS.warmup, FLAGS['batch-size'].value)),
          flush=True)
    return
  from bench.flops import reference_line
  if FLAGS.original:
    if not FLAGS.original_python or not os.path.isfile(FLAGS.original_tool):
      sys.exit('error: --original needs --original_python and an existing --original_tool')
    side_by_side()
    print(reference_line())
    return
  from bench.flops import fmt_gflops
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
        sps, eps, fl = bench_one(name, freq, jit, steps, FLAGS['batch-size'].value)
        rows.append((name, mode, 'on' if jit else 'off', steps, sps, eps,
                     '%.1f' % (fl / 1e6) if fl else '-', fmt_gflops(fl, 1 / sps)))
        print('%s %s jit=%s: %.1f steps/s' % (name, mode, rows[-1][2], sps), flush=True)
  print('\ndevice: %s, TensorFlow %s, batch %d, base-step batch norm %s' % (
      device, tf.__version__, FLAGS['batch-size'].value,
      'fused kernel' if FLAGS.fused_batch_norm else 'op by op (the original\'s)'))
  print('| model | mode | jit | timed steps | steps/s | examples/s | MFLOP / step | GFLOP/s |')
  print('|---|---|---|---|---|---|---|---|')
  for r in rows:
    print('| %s | %s | %s | %d | %.1f | %.0f | %s | %s |' % r)
  print(reference_line())


if __name__ == '__main__':
  if {'-h', '--help'} & set(sys.argv[1:]):   # absl exits 1 on --help; this exits 0
    print(__doc__ + '\n' + FLAGS.main_module_help())
    sys.exit(0)
  app.run(main)
