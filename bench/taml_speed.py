"""Seconds per meta-iteration of MAML, Meta-SGD and Bayesian TAML.

Prints one table row per (geometry, model): first step (trace + run; the
trace alone in brackets), the median of --iters steps after warm-up, and peak
memory.  Each row runs in its own process so the memory peaks do not mix.

  python bench/taml_speed.py                      # cifar + mimgnet geometries
  python bench/taml_speed.py --geometry cifar --iters 5
  python bench/taml_speed.py --model taml --bn_grad fused   # one mode only (default: both)

Side by side with the original l2b (TF 1.12 graph code run under TF 2.15's
tf.compat.v1 by ../shared/tools/original_l2b_speed.py, outside this repository):

  python bench/taml_speed.py --original /work/originals/l2b \
      --original_python /work/venv215/bin/python --iters 5 --pairs 2

Each (geometry, model) then runs original, port, original, port, ... (--pairs
pairs, each in its own process, same episode sequence: seed 0) and one table
gives wall and CPU seconds per iteration of both, their ratio, first step and
peak RSS.  The port's FLOPs per iteration (Conv2D, its backprops, MatMul; see
bench/flops.py) are counted on the timed episodes' graphs, and the achieved
GFLOP/s of both use that count.
"""
import argparse
import dataclasses
import itertools
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.op_profile import print_profiles  # noqa: E402
from models.taml.config import LEARNER_CONV_DTYPES  # noqa: E402  (no TensorFlow)
from bench.originals import default_tool  # noqa: E402
from common.tf_env import (configure_tensorflow_env, freeze_startup_objects,  # noqa: E402
                           skip_graph_rewrites_on_cpu)

configure_tensorflow_env(onednn=None)   # as main.py (children inherit it)

METHODS = ('maml', 'metasgd', 'taml')
GEOMETRY_FIELDS = ('metabatch', 'way', 'max_shot', 'query', 'n_steps')
METHOD_FIELDS = ('alpha_on', 'omega_on', 'gamma_on', 'z_on')


def preset(geometry, method):
  """The runfiles' meta-train setting (configs/taml/<geometry>_<method>.flags and
  l2b_train_<geometry>.flags): TamlConfig fields and the metabatch."""
  from common.presets import preset_values
  from data.taml_datasets import image_size
  from training.taml_settings import ALL
  v = preset_values(ALL, 'taml/%s_%s.flags' % (geometry, method),
                    'taml/l2b_train_%s.flags' % geometry)
  out = {k: v[k] for k in GEOMETRY_FIELDS + METHOD_FIELDS}
  out['image_size'] = image_size(v['id_dataset'].split(',')[0].strip())
  return out


GEOMETRIES = ('cifar', 'mimgnet')


BN_GRADS = ('fused', 'exact')   # models/taml/learner.py


def measure(geometry, model, iters, jit, grappler_on_cpu=False, flops=True, bn_grad='fused',
            profile=False, padded_support=False, learner_conv_dtype='float32',
            recompute_activations=False):
  """Run in a child process: returns first-step seconds, step times, peak memory
  (and, with `flops`, the dense FLOPs of the timed steps, counted after timing)."""
  import numpy as np
  import tensorflow as tf
  if not grappler_on_cpu:
    skip_graph_rewrites_on_cpu()   # as main.py
  from data.episodes import EpisodeSampler
  from training import taml_steps as steps
  from models.taml.config import TamlConfig
  from models.taml.parameters import TamlParameters
  freeze_startup_objects()   # as main.py

  g = preset(geometry, model)
  metabatch = g.pop('metabatch')
  cfg = TamlConfig(**g, fixed_support=jit, bn_grad=bn_grad, weighted_padding=not padded_support,
                   learner_conv_dtype=learner_conv_dtype, recompute_activations=recompute_activations)
  rng = np.random.default_rng(0)
  fake = [rng.random((cfg.max_shot + cfg.query, cfg.image_size, cfg.image_size, 3),
                     dtype=np.float32) for _ in range(2 * cfg.way)]
  sampler = EpisodeSampler({'mtr': fake}, 'random', seed=0)
  params = TamlParameters(cfg)
  train_step = steps.make_train_step(params, steps.make_optimizer(1e-3), cfg, metabatch, jit)

  cpu, shapes, rss, labelled, trace = [], [], [], [], []

  def one(i):
    ep = sampler.sample('mtr', metabatch, cfg.way, cfg.max_shot, cfg.query, pad_to=cfg.max_support)
    shapes.append({k: np.shape(v) for k, v in ep.items()})   # not the arrays: peak RSS = step's
    labelled.append([int(y.sum()) for y in ep['ytr']])
    args = ({k: tf.constant(v) for k, v in ep.items()}, tf.constant([0, i], tf.int32))
    t, c = time.perf_counter(), time.process_time()
    if i == 0:   # the first step's Python tracing, timed apart (the call then reuses it)
      train_step.get_concrete_function(*args)
      trace.append(time.perf_counter() - t)
    out = train_step(*args)
    float(out['loss'])
    cpu.append(time.process_time() - c)
    wall = time.perf_counter() - t
    rss.append(resident_mib())   # read after the step's clocks stop
    return wall

  first = one(0)
  one(1)   # warm-up
  times = [one(i + 2) for i in range(iters)]
  gpus = tf.config.list_physical_devices('GPU')
  peak = (tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**20 if gpus
          else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  res = {'first': first, 'trace': trace[0], 'median': float(np.median(times)), 'peak_mb': peak,
         'median_cpu': float(np.median(cpu[2:])), 'times': times, 'cpu': cpu[2:],
         'support_rows': [int(sh['xtr'][1]) for sh in shapes],
         'traces': train_step.experimental_get_tracing_count(), 'rss_after_mib': rss[:],
         'device': 'GPU' if gpus else 'CPU'}
  if flops and cfg.weighted_padding and not cfg.fixed_support:
    # the step's own graph has data-dependent row counts: count them from padded traces
    res['flops'] = weighted_step_flops(params, cfg, labelled[2:],
                                       [sh['xtr'][1] for sh in shapes[2:]])
    padded = steps.make_train_step(params, steps.make_optimizer(1e-3),
                                   dataclasses.replace(cfg, weighted_padding=False), metabatch)
    res['padded_flops'] = step_flops(padded, shapes[2:])
  elif flops:
    res['flops'] = step_flops(train_step, shapes[2:])
  if profile:
    from bench.op_profile import profile_ops
    res['profile'] = profile_ops(lambda: one(len(shapes)), calls=2)
  return res


def resident_mib():
  """The process's resident memory now (VmRSS), MiB; None where /proc is absent."""
  try:
    with open('/proc/self/status') as f:
      return int(next(l for l in f if l.startswith('VmRSS')).split()[1]) / 1024
  except (OSError, StopIteration):
    return None


def step_flops(train_step, shapes):
  """Mean dense FLOPs per step over episodes of `shapes` ({key: shape}; one
  trace per distinct shape; traced only, not run; support rows are static in
  these traces)."""
  import numpy as np
  import tensorflow as tf
  from bench.flops import count_flops
  trace = tf.function(train_step.python_function, autograph=False)
  by_shape = {}
  for sh in shapes:
    key = tuple(sorted(sh.items()))
    if key not in by_shape:
      cf = trace.get_concrete_function({k: tf.zeros(v, tf.float32) for k, v in sh.items()},
                                       tf.constant([0, 0], tf.int32))
      by_shape[key] = count_flops(cf)['flops']
  return float(np.mean([by_shape[tuple(sorted(sh.items()))] for sh in shapes]))


def weighted_step_flops(params, cfg, labelled, padded_rows):
  """Mean dense FLOPs per step when each task computes its k_t labelled rows plus
  one padding row if it has any (TamlConfig.weighted_padding): the sum over
  tasks of a one-task padded step of min(k_t + 1, N) rows (traced, not run).
  The inference network's pass over the padding rows (a few MFLOP per row) is
  not counted."""
  import numpy as np
  from training import taml_steps as steps
  one_task = dataclasses.replace(cfg, weighted_padding=False)
  step = steps.make_train_step(params, steps.make_optimizer(1e-3), one_task, 1)
  dim, n_query = cfg.image_size * cfg.image_size * 3, cfg.way * cfg.query
  shape = lambda rows: {'xtr': (1, rows, dim), 'ytr': (1, rows, cfg.way),
                        'xte': (1, n_query, dim), 'yte': (1, n_query, cfg.way), 'n_rows': ()}
  by_rows = {}
  computed = [[min(k + 1, n) for k in ks] for ks, n in zip(labelled, padded_rows)]
  for rows in sorted({r for rs in computed for r in rs}):
    by_rows[rows] = step_flops(step, [shape(rows)])
  return float(np.mean([sum(by_rows[r] for r in rs) for rs in computed]))


def gflop_cell(r):
  """GFLOP per iteration of a child's result, with the padded step's when they differ."""
  if not r.get('flops'):
    return '-'
  padded = r.get('padded_flops')
  return '%.1f' % (r['flops'] / 1e9) + (' (padded %.1f)' % (padded / 1e9) if padded else '')


def run_json(cmd, prefix=''):
  """Run `cmd`; the last stdout line starting with `prefix`, parsed as JSON, or
  an error string (last stderr line)."""
  out = subprocess.run(cmd, capture_output=True, text=True)
  lines = [l[len(prefix):] for l in out.stdout.splitlines() if l.startswith(prefix)]
  if out.returncode or not lines:
    tail = (out.stderr.strip().splitlines() or ['exit %d' % out.returncode])[-1]
    return 'failed: %s' % tail[:200]
  return json.loads(lines[-1])


def port_cmd(a, geometry, model, bn_grad, flops=True):
  cmd = [sys.executable, os.path.abspath(__file__), '--child', geometry, model, bn_grad,
         '--iters', str(a.iters)]
  cmd += ['--jit_compile'] * a.jit_compile + ['--grappler_on_cpu'] * a.grappler_on_cpu
  cmd += ['--padded_support'] * a.padded_support
  cmd += ['--learner_conv_dtype', a.learner_conv_dtype]
  cmd += ['--recompute_activations'] * a.recompute_activations
  return cmd + ['--no_flops'] * (not flops) + ['--profile'] * a.profile


def modes(a):
  return BN_GRADS if a.bn_grad == 'both' else (a.bn_grad,)


def side_by_side(a):
  """Interleaved original / port runs per (geometry, model), one table."""
  from bench.flops import fmt_gflops
  print('original: %s (%s, %s); port: %s' % (a.original, a.original_python, a.original_tool,
                                             sys.executable))
  print('TF_ENABLE_ONEDNN_OPTS=%s; %d pair(s) per row, each run its own process; s / iter '
        '= median of %d steps after 2 (original) / 1 + first (port) warm-ups; CPU = process '
        'CPU time, all threads; GFLOP = the port\'s dense FLOPs (conv, matmul) per timed '
        'step, also used for the original\'s GFLOP/s' % (
            os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'), a.pairs, a.iters))
  print('| geometry | model | port bn_grad | pair | original wall s/iter | original CPU s/iter '
        '| port wall s/iter '
        '| port CPU s/iter | original/port wall | original/port CPU | first step s original '
        '/ port | peak RSS MiB original / port | GFLOP / iter (port) | GFLOP/s original / port '
        '| support rows (timed) |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  profiles = []
  for geometry in a.geometry or list(GEOMETRIES):
    for model in a.model or list(METHODS):
      for bn_grad, pair in itertools.product(modes(a), range(a.pairs)):
        o = run_json([a.original_python, a.original_tool, '--src', a.original,
                      '--geometry', geometry, '--model', model, '--iters', str(a.iters),
                      '--seed', '0'], 'RESULT ')
        p = run_json(port_cmd(a, geometry, model, bn_grad, flops=not a.no_flops))
        if isinstance(o, str) or isinstance(p, str):
          print('| %s | %s | %s | %d | original %s | port %s |' % (
              geometry, model, bn_grad, pair + 1, o if isinstance(o, str) else 'ok',
              p if isinstance(p, str) else 'ok'), flush=True)
          continue
        if 'profile' in p:
          profiles.append(('%s %s bn_grad=%s' % (geometry, model, bn_grad), p['profile']))
        same = o['support_rows'][2:] == p['support_rows'][2:]
        fl = p.get('flops')
        print('| %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f / %.1f '
              '| %.0f / %.0f | %s | %s / %s | %s%s |' % (
                  geometry, model, bn_grad, pair + 1, o['median_s'], o['median_cpu_s'], p['median'],
                  p['median_cpu'], o['median_s'] / p['median'],
                  o['median_cpu_s'] / p['median_cpu'], o['first_iter_s'], p['first'],
                  o['ru_maxrss_mib'], p['peak_mb'], gflop_cell(p),
                  fmt_gflops(fl, o['median_s']), fmt_gflops(fl, p['median']),
                  ','.join(map(str, p['support_rows'][2:])),
                  '' if same else ' (original: %s)' % ','.join(map(str, o['support_rows'][2:]))),
              flush=True)
  print_profiles(profiles, ', port (two steps after the timed ones)')


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split('\n', 1)[1])
  p.add_argument('--geometry', choices=list(GEOMETRIES), action='append')
  p.add_argument('--model', choices=list(METHODS), action='append')
  p.add_argument('--iters', type=int, default=5, help='timed steps after warm-up (>= 5)')
  p.add_argument('--jit_compile', action='store_true', help='XLA-compile the step')
  p.add_argument('--padded_support', action='store_true',
                 help='compute every padding row of the support (TamlConfig.weighted_padding '
                      'off: the work the original does)')
  p.add_argument('--learner_conv_dtype', choices=LEARNER_CONV_DTYPES, default='float32',
                 help="the learner's convolutions in bfloat16 (main.py --learner_conv_dtype)")
  p.add_argument('--recompute_activations', action='store_true',
                 help="the outer backward computes the inner steps' block activations again "
                      '(main.py --recompute_activations)')
  p.add_argument('--grappler_on_cpu', action='store_true',
                 help="keep grappler's rewrites on a CPU (main.py skips them there)")
  p.add_argument('--no_flops', action='store_true',
                 help='skip counting the FLOPs (one extra trace per distinct episode shape)')
  p.add_argument('--original', metavar='DIR',
                 help='folder of the original l2b code (main.py, model.py, ...): run it side '
                      'by side with the port (needs --original_python)')
  p.add_argument('--original_python', metavar='PYTHON',
                 help='python of a TF 2.15 + tensorflow-probability 0.23 environment')
  p.add_argument('--original_tool', metavar='PY', default=default_tool('original_l2b_speed.py'),
                 help='the script that runs the original (default: %(default)s)')
  p.add_argument('--pairs', type=int, default=1,
                 help='with --original: interleaved original/port pairs per row')
  p.add_argument('--bn_grad', choices=BN_GRADS + ('both',), default='both',
                 help="the port's batch-norm second derivative (main.py --bn_grad); both: a "
                      "row each")
  p.add_argument('--profile', action='store_true',
                 help="also profile two more of the port's steps: kernel time per op type")
  p.add_argument('--child', nargs=3, help=argparse.SUPPRESS)
  a = p.parse_args()
  from bench.flops import fmt_gflops, reference_line
  if a.child:
    print(json.dumps(measure(a.child[0], a.child[1], a.iters, a.jit_compile, a.grappler_on_cpu,
                             flops=not a.no_flops, bn_grad=a.child[2], profile=a.profile,
                             padded_support=a.padded_support,
                             learner_conv_dtype=a.learner_conv_dtype,
                             recompute_activations=a.recompute_activations)))
    return
  if a.original:
    if not a.original_python or not os.path.isfile(a.original_tool):
      p.error('--original needs --original_python and an existing --original_tool')
    side_by_side(a)
    print(reference_line())
    return
  print('TF_ENABLE_ONEDNN_OPTS=%s' % os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (TF default)'))
  print('| geometry | model | bn_grad | device | first step s (of it tracing) '
        '| s / iter (median of %d) '
        '| peak memory (MiB) | traces | CPU s / iter | GFLOP / iter | GFLOP/s |' % a.iters)
  print('|---|---|---|---|---|---|---|---|---|---|---|')
  profiles, memory = [], []
  for geometry in a.geometry or list(GEOMETRIES):
    for model, bn_grad in itertools.product(a.model or list(METHODS), modes(a)):
      r = run_json(port_cmd(a, geometry, model, bn_grad, flops=not a.no_flops))
      if isinstance(r, str):
        print('| %s | %s | %s | %s |' % (geometry, model, bn_grad, r))
        continue
      if 'profile' in r:
        profiles.append(('%s %s bn_grad=%s' % (geometry, model, bn_grad), r['profile']))
      memory.append('%s %s %s: %s' % (geometry, model, bn_grad, ', '.join(
          '%d rows %.0f' % (n, m) for n, m in zip(r['support_rows'], r['rss_after_mib']) if m)))
      fl = r.get('flops')
      print('| %s | %s | %s | %s | %.1f (%.1f) | %.2f | %.0f | %d | %.2f | %s | %s |' % (
          geometry, model, bn_grad, r['device'], r['first'], r['trace'], r['median'], r['peak_mb'],
          r['traces'],
          r['median_cpu'], gflop_cell(r), fmt_gflops(fl, r['median'])),
          flush=True)
  print('resident memory (MiB) after each step, with its support rows (first step first):')
  print('\n'.join('  ' + m for m in memory))
  print_profiles(profiles, ', port (two steps after the timed ones)')
  print(reference_line())


if __name__ == '__main__':
  main()
