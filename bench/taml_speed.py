"""Seconds per meta-iteration of MAML, Meta-SGD and Bayesian TAML.

Prints one table row per (geometry, model, --bn_grad mode): first step (trace + run), the
median of --iters steps after warm-up, and peak memory.  Each row runs in its
own process so the memory peaks do not mix.

  python bench/taml_speed.py                      # cifar + mimgnet geometries
  python bench/taml_speed.py --geometry cifar --iters 5
  python bench/taml_speed.py --model taml --bn_grad fused   # one mode only (default: both)
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common.tf_env import (configure_tensorflow_env, freeze_startup_objects,  # noqa: E402
                           skip_graph_rewrites_on_cpu)

configure_tensorflow_env(onednn=None)   # as main.py (children inherit it)

GEOMETRIES = {   # the runfiles' meta-train settings
    'cifar': dict(image_size=32, metabatch=4, way=5, max_shot=50, query=15, n_steps=5),
    'mimgnet': dict(image_size=84, metabatch=1, way=5, max_shot=50, query=15, n_steps=5),
}
MODELS = {
    'maml': dict(),
    'metasgd': dict(alpha_on=True),
    'taml': dict(alpha_on=True, omega_on=True, gamma_on=True, z_on=True),
}


BN_GRADS = ('fused', 'exact')   # models/taml/learner.py


def measure(geometry, model, iters, jit, grappler_on_cpu=False, bn_grad='fused'):
  """Run in a child process: returns first-step seconds, step times, peak memory."""
  import numpy as np
  import tensorflow as tf
  if not grappler_on_cpu:
    skip_graph_rewrites_on_cpu()   # as main.py
  from data.episodes import EpisodeSampler
  from models.taml import steps
  from models.taml.config import TamlConfig
  from models.taml.parameters import TamlParameters
  freeze_startup_objects()   # as main.py

  g = dict(GEOMETRIES[geometry])
  metabatch = g.pop('metabatch')
  cfg = TamlConfig(**g, **MODELS[model], fixed_support=jit, bn_grad=bn_grad)
  rng = np.random.default_rng(0)
  fake = [rng.random((cfg.max_shot + cfg.query, cfg.image_size, cfg.image_size, 3),
                     dtype=np.float32) for _ in range(2 * cfg.way)]
  sampler = EpisodeSampler({'mtr': fake}, 'random', seed=0)
  params = TamlParameters(cfg)
  train_step = steps.make_train_step(params, steps.make_optimizer(1e-3), cfg, metabatch, jit)

  def one(i):
    ep = sampler.sample('mtr', metabatch, cfg.way, cfg.max_shot, cfg.query, pad_to=cfg.max_support)
    t = time.perf_counter()
    out = train_step({k: tf.constant(v) for k, v in ep.items()}, tf.constant([0, i], tf.int32))
    float(out['loss'])
    return time.perf_counter() - t

  first = one(0)
  one(1)   # warm-up
  times = [one(i + 2) for i in range(iters)]
  gpus = tf.config.list_physical_devices('GPU')
  peak = (tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**20 if gpus
          else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return {'first': first, 'median': float(np.median(times)), 'peak_mb': peak,
          'traces': train_step.experimental_get_tracing_count(),
          'device': 'GPU' if gpus else 'CPU'}


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--geometry', choices=list(GEOMETRIES), action='append')
  p.add_argument('--model', choices=list(MODELS), action='append')
  p.add_argument('--iters', type=int, default=5, help='timed steps after warm-up (>= 5)')
  p.add_argument('--bn_grad', choices=BN_GRADS + ('both',), default='both',
                 help="batch norm's second derivative (main.py --bn_grad); both: a row each")
  p.add_argument('--jit_compile', action='store_true', help='XLA-compile the step')
  p.add_argument('--grappler_on_cpu', action='store_true',
                 help="keep grappler's rewrites on a CPU (main.py skips them there)")
  p.add_argument('--child', nargs=3, help=argparse.SUPPRESS)
  a = p.parse_args()
  if a.child:
    print(json.dumps(measure(a.child[0], a.child[1], a.iters, a.jit_compile, a.grappler_on_cpu,
                             a.child[2])))
    return
  print('TF_ENABLE_ONEDNN_OPTS=%s' % os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (TF default)'))
  print('| geometry | model | bn_grad | device | first step (s) | s / iter (median of %d) '
        '| peak memory (MiB) | traces |' % a.iters)
  print('|---|---|---|---|---|---|---|---|')
  modes = BN_GRADS if a.bn_grad == 'both' else (a.bn_grad,)
  for geometry in a.geometry or list(GEOMETRIES):
    for model in a.model or list(MODELS):
      for bn_grad in modes:
        cmd = [sys.executable, __file__, '--child', geometry, model, bn_grad, '--iters', str(a.iters)]
        cmd += ['--jit_compile'] * a.jit_compile + ['--grappler_on_cpu'] * a.grappler_on_cpu
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
          print('| %s | %s | %s | failed: %s |' % (geometry, model, bn_grad,
                                                  out.stderr.strip().splitlines()[-1]))
          continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print('| %s | %s | %s | %s | %.1f | %.2f | %.0f | %d |' % (
            geometry, model, bn_grad, r['device'], r['first'], r['median'], r['peak_mb'],
            r['traces']), flush=True)


if __name__ == '__main__':
  main()
