"""Seconds per Meta-GMVAE training iteration and per evaluation batch (Omniglot).

Settings of the README runfiles: 5-way (batch 4, sample 200, mc 32) and 20-way
(batch 4, sample 300, mc 32), 10 EM iterations, 15 queries, 1- and 5-shot
evaluation batches of `batch` episodes.  Each setting runs in its own process
so the peak resident memory (ru_maxrss) is per setting.  Random images: the
cost does not depend on the pixel values.

  python bench/gmvae_speed.py                     # both settings, 3 timed iterations
  python bench/gmvae_speed.py --setting 5way --iters 2 --jit
  TF_ENABLE_ONEDNN_OPTS=0 python bench/gmvae_speed.py    # without the oneDNN kernels
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
from common.tf_env import configure_tensorflow_env  # noqa: E402

configure_tensorflow_env(onednn=True)   # as gmvae_main.py (children inherit it)

SETTINGS = {
    '5way': dict(way=5, batch=4, sample=200, mc=32),
    '20way': dict(way=20, batch=4, sample=300, mc=32),
}
QUERY = 15


def measure(setting, iters, jit):
  import numpy as np
  import tensorflow as tf
  from models.gmvae.gmvae import GMVAEConfig
  from models.gmvae.trainer import GMVAETrainer

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
  evals = {}
  for shot in (1, 5):
    eval_once(shot)
    evals[shot] = sorted(eval_once(shot) for _ in range(iters))
  peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
  return dict(setting=setting, first=first, train=train[len(train) // 2],
              eval1=evals[1][len(evals[1]) // 2], eval5=evals[5][len(evals[5]) // 2],
              cpu_train=sorted(cpu_train[1:])[len(cpu_train[1:]) // 2],
              load=os.getloadavg()[0],
              peak_gib=peak_gib)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--setting', choices=sorted(SETTINGS), action='append')
  parser.add_argument('--iters', type=int, default=3, help='timed iterations (median)')
  parser.add_argument('--jit', action='store_true', help='tf.function(jit_compile=True)')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print('RESULT ' + json.dumps(measure(args.child, args.iters, args.jit)), flush=True)
    return
  rows = []
  for setting in args.setting or ['5way', '20way']:
    cmd = [sys.executable, os.path.abspath(__file__), '--child', setting,
           '--iters', str(args.iters)] + (['--jit'] if args.jit else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
    if out.returncode or not lines:
      sys.exit('%s failed:\n%s' % (setting, out.stderr[-2000:]))
    rows.append(json.loads(lines[-1][len('RESULT '):]))
  s = SETTINGS
  print('| setting | batch x sample x mc | first step s (trace) | s / train iter '
        '| CPU s / train iter | s / eval batch 1-shot | s / eval batch 5-shot | peak RSS GiB '
        '| load avg |')
  print('|---|---|---|---|---|---|---|---|---|')
  for r in rows:
    g = s[r['setting']]
    print('| %s | %d x %d x %d | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %.1f |' % (
        r['setting'], g['batch'], g['sample'], g['mc'], r['first'], r['train'], r['cpu_train'],
        r['eval1'], r['eval5'], r['peak_gib'], r['load']))
  print('TF_ENABLE_ONEDNN_OPTS=%s; ' % os.environ.get('TF_ENABLE_ONEDNN_OPTS') + 'CPU s = process CPU time (all threads); on a shared machine wall time also counts '
        'waiting for other processes (load avg = 1-minute load when the row finished).')


if __name__ == '__main__':
  main()
