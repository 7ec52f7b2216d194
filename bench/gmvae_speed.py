"""Seconds per Meta-GMVAE training iteration and per evaluation batch (Omniglot).

Settings of the README runfiles: 5-way (batch 4, sample 200, mc 32) and 20-way
(batch 4, sample 300, mc 32), 10 EM iterations, 15 queries, 1- and 5-shot
evaluation batches of `batch` episodes.  Each setting runs in its own process
so the peak resident memory (ru_maxrss) is per setting.  Random images: the
cost does not depend on the pixel values.

  python bench/gmvae_speed.py                     # both settings, 3 timed iterations
  python bench/gmvae_speed.py --setting 5way --iters 2 --jit
  TF_ENABLE_ONEDNN_OPTS=0 python bench/gmvae_speed.py    # without the oneDNN kernels

Side by side with the original (PyTorch, db-Lee/Meta-GMVAE omniglot/, run unmodified by
../shared/tools/original_gmvae_speed.py, outside this repository):

  python bench/gmvae_speed.py --original /work/originals/Meta-GMVAE/omniglot \
      --original_python /work/venv_torch/bin/python \
      --data_dir /work/bench_data/omniglot_gmvae --iters 5 --pairs 2

Settings `5way` (batch 4 x sample 200 x mc 32, the original README's) and `reduced`
(4 x 50 x 4) by default; original, port, original, port, ... (--pairs), each in its own
process.  The original reads the Omniglot arrays of --data_dir ([C, 20, 28, 28, 1]
train/val/test.npy: `python data/omniglot/get_data.py --layout gmvae --out DIR
--source <images_background.npz> <images_evaluation.npz>`); the port's step gets random
images of the same shape (its cost does not depend on pixel values).  Per iteration:
the original's interval between consecutive optimizer steps (data, forward, backward,
step, tensorboard), the port's train_step call; first step = the first step after the
model is built (original: since Trainer.__init__ ended; port: trace + run).  GFLOP = the
port's dense FLOPs per step (conv, its backprops, matmul; bench/flops.py).
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
from bench.op_profile import print_profiles  # noqa: E402
from bench.originals import default_tool  # noqa: E402
from common.tf_env import configure_tensorflow_env  # noqa: E402

configure_tensorflow_env(onednn=True)   # as gmvae_main.py (children inherit it)

SETTINGS = {
    '5way': dict(way=5, batch=4, sample=200, mc=32),
    '20way': dict(way=20, batch=4, sample=300, mc=32),
    'reduced': dict(way=5, batch=4, sample=50, mc=4),
}
QUERY = 15


def measure(setting, iters, jit, evals=True, flops=True, profile=False):
  import numpy as np
  import tensorflow as tf
  from models.gmvae.gmvae import GMVAEConfig
  from training.gmvae_steps import GMVAETrainer

  s = SETTINGS[setting]
  cfg = GMVAEConfig(component_size=s['way'], train_mc_sample_size=s['mc'],
                    test_mc_sample_size=s['mc'])
  tr = GMVAETrainer(cfg, s['batch'], s['sample'], 1e-3, 1e-6, seed=0, jit_compile=jit)
  rng = np.random.RandomState(0)

  def train_once():
    x = tf.constant(rng.rand(s['batch'], s['sample'], 28, 28, 1).astype(np.float32))
    t, c = time.perf_counter(), time.process_time()
    rec, kl, _ = tr.train_step(x)
    float(rec + kl)
    cpu_train.append(time.process_time() - c)
    return time.perf_counter() - t

  def eval_once(shot):
    x_tr = rng.rand(s['batch'], s['way'] * shot, 28, 28, 1).astype(np.float32)
    y_tr = np.repeat(np.arange(s['way']), shot)[None].repeat(s['batch'], 0)
    x_te = rng.rand(s['batch'], s['way'] * QUERY, 28, 28, 1).astype(np.float32)
    y_te = np.repeat(np.arange(s['way']), QUERY)[None].repeat(s['batch'], 0)
    t = time.perf_counter()
    tr.accuracy((x_tr, y_tr, x_te, y_te))
    return time.perf_counter() - t

  cpu_train = []
  first = train_once()
  train = sorted(train_once() for _ in range(iters))
  shots = (1, 5) if evals else ()
  evals = {1: [float('nan')], 5: [float('nan')]}
  for shot in shots:
    eval_once(shot)
    evals[shot] = sorted(eval_once(shot) for _ in range(iters))
  peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
  res = dict(setting=setting, first=first, train=train[len(train) // 2],
             eval1=evals[1][len(evals[1]) // 2], eval5=evals[5][len(evals[5]) // 2],
             cpu_train=sorted(cpu_train[1:])[len(cpu_train[1:]) // 2],
             load=os.getloadavg()[0],
             peak_gib=peak_gib)
  if flops:
    from bench.flops import count_flops
    res['flops'] = count_flops(tr.train_step.get_concrete_function())['flops']
  if profile:
    from bench.op_profile import profile_ops
    res['profile'] = profile_ops(train_once, calls=max(3, iters))
  return res


def original_result(a, setting):
  """Run the original via --original_tool; its per-step log -> dict like measure()'s."""
  import tempfile
  s = SETTINGS[setting]
  tmp = tempfile.mkdtemp(prefix='gmvae_orig_')
  log = os.path.join(tmp, 'log.jsonl')
  cmd = [a.original_python, a.original_tool, log, '--data-dir', a.data_dir,
         '--save-dir', os.path.join(tmp, 'save'), '--way', str(s['way']),
         '--batch-size', str(s['batch']), '--sample-size', str(s['sample']),
         '--train-mc-sample-size', str(s['mc']), '--test-mc-sample-size', str(s['mc']),
         '--train-iters', str(a.iters + 1)]
  env = dict(os.environ, GMVAE_SRC=a.original)
  out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
  steps = []
  if os.path.isfile(log):
    steps = [json.loads(l) for l in open(log) if '"step"' in l]
  if len(steps) < a.iters + 1:
    tail = (out.stderr.strip().splitlines() or ['exit %d' % out.returncode])[-1]
    return 'failed: %s' % tail[:200]
  timed = steps[1:]
  med = lambda v: sorted(v)[len(v) // 2]
  return dict(first=steps[0]['since_init'], train=med([r['interval'] for r in timed]),
              cpu_train=med([r['cpu'] for r in timed]), peak_gib=steps[-1]['maxrss_gib'],
              threads=steps[-1]['threads'], load=steps[-1]['load'])


def port_result(a, setting, evals=True):
  cmd = [sys.executable, os.path.abspath(__file__), '--child', setting,
         '--iters', str(a.iters)] + (['--jit'] if a.jit else []) \
      + ([] if evals else ['--no_eval']) + (['--no_flops'] if a.no_flops else []) \
      + (['--profile'] if a.profile else [])
  out = subprocess.run(cmd, capture_output=True, text=True)
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if out.returncode or not lines:
    return 'failed: %s' % (out.stderr.strip().splitlines() or ['?'])[-1][:200]
  return json.loads(lines[-1][len('RESULT '):])


def side_by_side(a):
  from bench.flops import fmt_gflops
  print('original: %s (%s, %s, data %s); port: %s' % (
      a.original, a.original_python, a.original_tool, a.data_dir, sys.executable))
  print('TF_ENABLE_ONEDNN_OPTS=%s; s / iter = median of %d iterations after the first; CPU = '
        'process CPU time, all threads; GFLOP = the port\'s dense FLOPs per step, also used '
        'for the original\'s GFLOP/s' % (os.environ.get('TF_ENABLE_ONEDNN_OPTS'), a.iters))
  print('| setting | batch x sample x mc | pair | original wall s/iter | original CPU s/iter '
        '| port wall s/iter | port CPU s/iter | original/port wall | original/port CPU '
        '| first step s original / port | peak RSS GiB original / port | GFLOP / iter (port) '
        '| GFLOP/s original / port | load avg |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  profiles = []
  for setting in a.setting or ['5way', 'reduced']:
    g = SETTINGS[setting]
    for pair in range(a.pairs):
      o = original_result(a, setting)
      p = port_result(a, setting, evals=False)
      if isinstance(o, str) or isinstance(p, str):
        print('| %s | | %d | original %s | port %s |' % (
            setting, pair + 1, o if isinstance(o, str) else 'ok',
            p if isinstance(p, str) else 'ok'), flush=True)
        continue
      if 'profile' in p:
        profiles.append((setting, p['profile']))
      fl = p.get('flops')
      print('| %s | %d x %d x %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f / %.1f '
            '| %.2f / %.2f | %s | %s / %s | %.1f |' % (
                setting, g['batch'], g['sample'], g['mc'], pair + 1, o['train'],
                o['cpu_train'], p['train'], p['cpu_train'], o['train'] / p['train'],
                o['cpu_train'] / p['cpu_train'], o['first'], p['first'], o['peak_gib'],
                p['peak_gib'], '%.1f' % (fl / 1e9) if fl else '-', fmt_gflops(fl, o['train']),
                fmt_gflops(fl, p['train']), p['load']), flush=True)
  print_profiles(profiles, ' train step, port')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=__doc__.split('\n', 1)[1])
  parser.add_argument('--setting', choices=sorted(SETTINGS), action='append')
  parser.add_argument('--iters', type=int, default=3, help='timed iterations (median)')
  parser.add_argument('--jit', action='store_true', help='tf.function(jit_compile=True)')
  parser.add_argument('--no_flops', action='store_true', help='skip counting the FLOPs')
  parser.add_argument('--original', metavar='DIR',
                      help="the original's omniglot/ folder (main.py, trainer.py, ...): run it "
                           'side by side with the port (needs --original_python, --data_dir)')
  parser.add_argument('--original_python', metavar='PYTHON',
                      help='python of an environment with torch (CPU), numpy, tensorboard, tqdm')
  parser.add_argument('--original_tool', metavar='PY',
                      default=default_tool('original_gmvae_speed.py'),
                      help='the script that runs the original (default: %(default)s)')
  parser.add_argument('--data_dir', metavar='DIR',
                      help='Omniglot train/val/test.npy [C,20,28,28,1] the original reads')
  parser.add_argument('--pairs', type=int, default=1,
                      help='with --original: interleaved original/port pairs per setting')
  parser.add_argument('--profile', action='store_true',
                      help="also profile the port's train step: kernel time per op type")
  parser.add_argument('--no_eval', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  from bench.flops import reference_line
  if args.child:
    print('RESULT ' + json.dumps(measure(args.child, args.iters, args.jit, not args.no_eval,
                                         not args.no_flops, args.profile)), flush=True)
    return
  if args.original:
    if not (args.original_python and args.data_dir and os.path.isfile(args.original_tool)):
      parser.error('--original needs --original_python, --data_dir and an existing '
                   '--original_tool')
    side_by_side(args)
    print(reference_line())
    return
  from bench.flops import fmt_gflops
  rows = []
  for setting in args.setting or ['5way', '20way']:
    r = port_result(args, setting)
    if isinstance(r, str):
      sys.exit('%s %s' % (setting, r))
    rows.append(r)
  s = SETTINGS
  print('| setting | batch x sample x mc | first step s (trace) | s / train iter '
        '| CPU s / train iter | s / eval batch 1-shot | s / eval batch 5-shot | peak RSS GiB '
        '| load avg | GFLOP / train iter | GFLOP/s |')
  print('|---|---|---|---|---|---|---|---|---|---|---|')
  for r in rows:
    g = s[r['setting']]
    fl = r.get('flops')
    print('| %s | %d x %d x %d | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %.1f | %s | %s |' % (
        r['setting'], g['batch'], g['sample'], g['mc'], r['first'], r['train'], r['cpu_train'],
        r['eval1'], r['eval5'], r['peak_gib'], r['load'], '%.1f' % (fl / 1e9) if fl else '-',
        fmt_gflops(fl, r['train'])))
  print_profiles([(r['setting'], r['profile']) for r in rows if 'profile' in r],
                 ' train step, port')
  print(reference_line())
  print('TF_ENABLE_ONEDNN_OPTS=%s; ' % os.environ.get('TF_ENABLE_ONEDNN_OPTS') + 'CPU s = process CPU time (all threads); on a shared machine wall time also counts '
        'waiting for other processes (load avg = 1-minute load when the row finished).')


if __name__ == '__main__':
  main()
