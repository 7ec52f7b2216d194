"""Training throughput of the three trainers on 1 and 2 `tf.distribute` replicas.

  python bench/scaling.py                                 # all trainers, small shapes
  python bench/scaling.py --trainers taml,gmvae --iters 5
  python bench/scaling.py --geometry paper --iters 10     # on a GPU machine

Each (trainer, replicas) pair runs in a fresh process of this script
(`--child TRAINER --replicas N`, one JSON line), because the CPU has to be split
into logical devices before TensorFlow starts.  The replicas are a
MirroredStrategy over the first N GPUs when TensorFlow sees GPUs, else over N
logical CPU devices (common/distribute.py).  Synthetic data: the cost does not
depend on the values.

What one step is:
  taml   one meta-train step (`training.taml_steps.make_train_step`) on a metabatch
         of tasks; examples = tasks.
  tdr    one `TDRTrainer.advance` call of LeNet on MNIST shapes: the class-weight
         update plus one class-weight period of base steps; examples = training
         images (base steps x global batch).
  gmvae  one Omniglot Meta-GMVAE `GMVAETrainer.train_step` on a metabatch of
         episodes; examples = episodes (tasks).
s / step is the median of --iters timed steps after --warmup untimed ones (the
first, traced step is a warm-up step); speed-up = s/step on 1 replica / s/step on N.

Geometries: `small` = cheap shapes for a CPU; `paper` = the runfiles' shapes
(TAML cifar, TDR mnist, Meta-GMVAE Omniglot 5-way), meant for GPUs.

Reading the numbers: on this project's 2-core CPU machine the 2 logical devices
share the same 2 cores, so a speed-up there measures the overhead of splitting
the step (ideally ~1, below 1 = overhead), not a gain.  Only the GPU numbers
(one GPU per replica) say how training scales.

CPU kernels: TensorFlow's default, as main.py (gmvae_main.py asks for oneDNN,
which makes Meta-GMVAE faster on AVX2 CPUs): `TF_ENABLE_ONEDNN_OPTS=0|1` chooses.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.flops import cpu_name  # noqa: E402
from common.tf_env import configure_tensorflow_env  # noqa: E402

configure_tensorflow_env(onednn=None)   # as main.py (children inherit it)

GEOMETRIES = {
    'taml': {
        'small': dict(metabatch=4, way=5, max_shot=5, query=3, n_steps=2, image_size=32),
        'paper': dict(metabatch=4, way=5, max_shot=50, query=15, n_steps=5, image_size=32),
    },
    'tdr': {   # MNIST 28x28x1, LeNet, 2 classes; val_batch = the target batch
        'small': dict(batch=64, val_batch=10, base_steps=10),
        'paper': dict(batch=50, val_batch=10, base_steps=10),
    },
    'gmvae': {   # Omniglot, 5 components
        'small': dict(batch=4, sample=20, mc=4, em_iters=3),
        'paper': dict(batch=4, sample=200, mc=32, em_iters=10),
    },
}
UNITS = {'taml': 'tasks/s', 'tdr': 'images/s', 'gmvae': 'tasks/s'}


# ----------------------------------------------------------------- the trainers
# Each returns (prepare(i) -> inputs of step i, run(inputs) -> a scalar tensor,
# examples per step); only `run` is timed.

def taml_step(strategy, metabatch, **shape):
  import numpy as np
  import tensorflow as tf
  from data.episodes import EpisodeSampler
  from training import taml_steps as steps
  from models.taml.config import TamlConfig
  from models.taml.parameters import TamlParameters
  cfg = TamlConfig(**shape, alpha_on=True, omega_on=True, gamma_on=True, z_on=True)
  rng = np.random.default_rng(0)
  fake = [rng.random((cfg.max_shot + cfg.query,) + cfg.image_shape, dtype=np.float32)
          for _ in range(2 * cfg.way)]
  sampler = EpisodeSampler({'mtr': fake}, 'random', seed=0)
  with strategy.scope():
    params = TamlParameters(cfg, seed=0)
    optimizer = steps.make_optimizer(1e-3)
  train_step = steps.make_train_step(params, optimizer, cfg, metabatch, strategy=strategy)

  def prepare(i):
    episode = sampler.sample('mtr', metabatch, cfg.way, cfg.max_shot, cfg.query,
                             pad_to=cfg.max_support)
    return {k: tf.constant(v) for k, v in episode.items()}, tf.constant([0, i], tf.int32)

  return prepare, lambda args: train_step(*args)['loss'], metabatch


def tdr_step(strategy, batch, val_batch, base_steps):
  import keras
  import numpy as np
  import tensorflow as tf
  from models.tdr import build_model
  from training.tdr_steps import TDRTrainer
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (4 * batch, 28, 28, 1)).astype(np.uint8)
  y = rng.integers(0, 2, 4 * batch).astype(np.int64)
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = build_model('lenet', 2)
  trainer = TDRTrainer(model, 2, (28, 28, 1), learning_rate=0.01,
                       class_weight_freq=base_steps, strategy=strategy)
  stream = lambda n: iter(strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(n, drop_remainder=True)))
  train_it, val_it = stream(batch), stream(val_batch)

  def run(_):
    scalars, _ = trainer.advance(train_it, val_it, base_steps)
    return scalars['loss']

  return lambda i: None, run, batch * base_steps


def gmvae_step(strategy, batch, sample, mc, em_iters):
  import numpy as np
  import tensorflow as tf
  from models.gmvae.gmvae import GMVAEConfig
  from training.gmvae_steps import GMVAETrainer
  cfg = GMVAEConfig(dataset='omniglot', component_size=5, train_mc_sample_size=mc,
                    unsupervised_em_iters=em_iters)
  trainer = GMVAETrainer(cfg, batch, sample, 1e-3, 1e-6, seed=0, strategy=strategy)
  rng = np.random.default_rng(0)

  def prepare(_):
    return tf.constant(rng.random((batch, sample, 28, 28, 1), dtype=np.float32))

  def run(x):
    rec, kl, _ = trainer.train_step(x)
    return rec + kl

  return prepare, run, batch


BUILDERS = {'taml': taml_step, 'tdr': tdr_step, 'gmvae': gmvae_step}


# ------------------------------------------------------------ the child process

def place_replicas(replicas):
  """The mirrored strategy of `replicas` GPUs, or logical CPUs without GPUs;
  returns (strategy, device kind, device description)."""
  import tensorflow as tf
  from common import distribute
  gpus = tf.config.list_physical_devices('GPU')   # allowed before the CPU split
  if not gpus:
    distribute.split_cpu(replicas)
  strategy = distribute.make_strategy('mirrored', num_devices=replicas)
  if not gpus:
    return strategy, 'CPU (logical)', cpu_name()
  name = tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')
  return strategy, 'GPU', '%d x %s' % (len(gpus), name)


def median_step_seconds(prepare, run, warmup, iters):
  times = []
  for i in range(warmup + iters):
    inputs = prepare(i)
    start = time.perf_counter()
    float(run(inputs))   # blocks until the step is done
    times.append(time.perf_counter() - start)
  return statistics.median(times[warmup:])


def measure(trainer, replicas, geometry, warmup, iters):
  import tensorflow as tf
  strategy, kind, description = place_replicas(replicas)
  prepare, run, examples = BUILDERS[trainer](strategy, **GEOMETRIES[trainer][geometry])
  seconds = median_step_seconds(prepare, run, warmup, iters)
  return dict(trainer=trainer, replicas=replicas, kind=kind, device=description,
              tf=tf.__version__, seconds=seconds, throughput=examples / seconds)


# ----------------------------------------------------------------- the table

def run_child(args, trainer, replicas):
  """One measurement in a fresh process: the result dict, or {'error': line}."""
  cmd = [sys.executable, os.path.abspath(__file__), '--child', trainer,
         '--replicas', str(replicas), '--geometry', args.geometry,
         '--iters', str(args.iters), '--warmup', str(args.warmup)]
  print('running %s on %d replica(s)...' % (trainer, replicas), file=sys.stderr, flush=True)
  out = subprocess.run(cmd, capture_output=True, text=True)
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if out.returncode or not lines:
    tail = (out.stderr.strip().splitlines() or ['exit status %d' % out.returncode])[-1]
    return {'error': tail}
  return json.loads(lines[-1][len('RESULT '):])


def geometry_label(trainer, geometry):
  return '%s: %s' % (geometry, ', '.join('%s %s' % kv
                                         for kv in GEOMETRIES[trainer][geometry].items()))


def table_row(trainer, geometry, replicas, result, baseline):
  label = geometry_label(trainer, geometry)
  if 'error' in result:
    return '| %s | %s | %d | failed: %s | | | |' % (trainer, label, replicas, result['error'])
  speedup = ('%.2f' % (baseline['seconds'] / result['seconds'])
             if baseline and 'error' not in baseline else '-')
  return '| %s | %s | %d | %s | %.3f | %.1f %s | %s |' % (
      trainer, label, replicas, result['kind'], result['seconds'], result['throughput'],
      UNITS[trainer], speedup)


def print_report(args, results):
  ok = [r for r in results.values() if 'error' not in r]
  print('TensorFlow %s; device: %s; TF_ENABLE_ONEDNN_OPTS=%s' % (
      ok[0]['tf'] if ok else '?', ok[0]['device'] if ok else '?',
      os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (TF default)')))
  print()
  print('| trainer | geometry | replicas | device | s / step (median of %d) | examples / s '
        '| speed-up vs 1 replica |' % args.iters)
  print('|---|---|---|---|---|---|---|')
  for (trainer, replicas), result in results.items():
    print(table_row(trainer, args.geometry, replicas, result, results.get((trainer, 1))))


def comma_list(convert):
  return lambda text: [convert(t) for t in text.split(',') if t]


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--trainers', type=comma_list(str), default=list(BUILDERS),
                 help='comma-separated subset of taml,tdr,gmvae')
  p.add_argument('--replicas', type=comma_list(int), default=[1, 2],
                 help='comma-separated replica counts (GPUs, or logical CPUs)')
  p.add_argument('--geometry', choices=['small', 'paper'], default='small')
  p.add_argument('--iters', type=int, default=3, help='timed steps (median)')
  p.add_argument('--warmup', type=int, default=1, help='untimed steps first (>= 1: tracing)')
  p.add_argument('--child', choices=list(BUILDERS), help=argparse.SUPPRESS)
  args = p.parse_args()
  unknown = set(args.trainers) - set(BUILDERS)
  if unknown:
    p.error('unknown trainer(s) %s (choose from %s)' % (', '.join(sorted(unknown)),
                                                        ', '.join(BUILDERS)))
  if args.child:
    if len(args.replicas) != 1:
      p.error('--child takes one --replicas value')
    result = measure(args.child, args.replicas[0], args.geometry, args.warmup, args.iters)
    print('RESULT ' + json.dumps(result), flush=True)
    return
  results = {(t, n): run_child(args, t, n) for t in args.trainers for n in args.replicas}
  print_report(args, results)


if __name__ == '__main__':
  main()
