"""Bilevel re-weighting vs the plain run (--no-reweight) on MNIST 2-vs-3 at ratio
0.995, over several seeds, through the two command-line entry points; writes
the markdown table to --out (default <work-dir>/tdr_mnist.md) and one run record
per method and metric to runs/ beside it.  The committed results/tdr_mnist.md and
results/runs/tdr_mnist_*.json are written only with --record.

  python results/tdr_mnist.py --train-steps 5000 --seeds 0,1,2 --record
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common.dash_flags import check_ranges, normalise_argv  # noqa: E402
from common.errors import UserError, absl_main  # noqa: E402
from results.records import write_record  # noqa: E402

flags.DEFINE_string('source', os.path.join(os.path.dirname(REPO), 'shared', 'datasets', 'mnist'),
                    'Folder of the MNIST idx .gz files.')
flags.DEFINE_string('work-dir', os.path.join(REPO, 'runs', 'tdr_mnist'), 'Data and job dirs.')
flags.DEFINE_string('out', None, 'Markdown output (default <work-dir>/tdr_mnist.md); the '
                    'run records go to runs/ beside it.')
flags.DEFINE_bool('record', False, 'Update the committed results/tdr_mnist.md and '
                  'results/runs/tdr_mnist_*.json (instead of --out).')
flags.DEFINE_integer('train-steps', 5000, 'Training steps per run.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Training seeds.')
check_ranges(at_least={'train-steps': 1})
FLAGS = flags.FLAGS
METRICS = ('accuracy', 'recall_minor', 'precision_minor')
GEN = ['--dataset', 'mnist', '--train-size', '5000', '--validation-size', '20',
       '--test-size', '1000', '--ratio', '0.995', '--minority-labels', '2',
       '--majority-labels', '3']


def run(args):
  cmd = [sys.executable] + args
  print('$ ' + ' '.join(cmd), flush=True)
  if subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL).returncode:
    raise UserError('%s failed (its error is above)' % ' '.join(args[:1]))


def outputs():
  """(markdown path, run-record folder): the committed ones only with --record."""
  if FLAGS.record:
    if FLAGS.out is not None:
      raise UserError('--record writes the committed results/tdr_mnist.md; drop --out')
    return os.path.join(REPO, 'results', 'tdr_mnist.md'), os.path.join(REPO, 'results', 'runs')
  out = FLAGS.out or os.path.join(FLAGS['work-dir'].value, 'tdr_mnist.md')
  return out, os.path.join(os.path.dirname(os.path.abspath(out)), 'runs')


def write_records(records_dir, mode, kind, runs, wall_time_s, steps):
  """One run record per metric (in %) of one method's seeds, for results/README.md."""
  cw = np.mean([r['class_weights'] for _, r in runs], axis=0)
  for metric in METRICS:
    write_record(os.path.join(records_dir, 'tdr_mnist_%s_%s.json' % (kind, metric)),
                 system='tdr', table='TDR on MNIST 2-vs-3 (short run)', row=mode,
                 setting='MNIST 2-vs-3, ratio 0.995, LeNet, %d steps' % steps, metric=metric,
                 values=[round(100 * r[metric], 4) for _, r in runs],
                 seeds=[int(seed) for seed, _ in runs],
                 command='python results/tdr_mnist.py --train-steps %d --seeds %s --record'
                         % (steps, ','.join(FLAGS.seeds)),
                 wall_time_s=round(wall_time_s, 1),
                 note='wall time: all seeds of this method. Final class weights '
                      '(minor, major), mean over seeds: %.3f, %.3f.' % tuple(cw))


def main(argv):
  if len(argv) > 1:
    raise UserError('unexpected arguments: %s' % ' '.join(argv[1:]))
  out, records_dir = outputs()
  work, steps = FLAGS['work-dir'].value, FLAGS['train-steps'].value
  data_dir = os.path.join(work, 'data')
  os.makedirs(work, exist_ok=True)
  os.makedirs(records_dir, exist_ok=True)   # (also the folder of --out)
  run(['makeImbalanceDataset.py', '--data-dir', data_dir, '--source', FLAGS.source] + GEN)
  rows, t0 = {}, time.time()
  for mode, extra in (('bilevel re-weighting', []), ('plain (--no-reweight)', ['--no-reweight'])):
    t_mode = time.time()
    for seed in FLAGS.seeds:
      job = os.path.join(work, '%s_seed%s' % ('plain' if extra else 'tdr', seed))
      run(['tdr_main.py', '--data-dir', data_dir, '--dataset', 'mnist', '--job-dir', job,
           '--train-steps', str(steps), '--eval-freq', str(steps), '--log-freq', '500',
           '--num-gpus', '0', '--seed', seed, '--noprogress'] + extra)
      with open(os.path.join(job, 'metrics.json')) as f:
        rows.setdefault(mode, []).append((seed, json.load(f)))
    write_records(records_dir, mode, 'plain' if extra else 'tdr', rows[mode],
                  time.time() - t_mode, steps)
  minutes = (time.time() - t0) / 60
  lines = [
      '# TDR on MNIST 2-vs-3, ratio 0.995: bilevel re-weighting vs plain training', '',
      'Data: `makeImbalanceDataset.py %s` from the real MNIST archive: 24 minority (2) '
      'and 4975 majority (3) training images, a balanced target set of 10 + 10, a '
      'balanced test set of 500 + 500 (so always answering "3" scores 0.5).' % ' '.join(GEN), '',
      'Training: LeNet, `tdr_main.py` defaults (batch 50, lr 0.01, momentum 0.9, weight '
      'decay 2e-3, class weights updated every 10 steps) for **%d steps** (the README '
      'example uses 20000; %d steps x %d runs is what fits ~15 minutes on the 2 CPU '
      'cores here: %.1f min). The plain run keeps the class weights at 1/2.'
      % (steps, steps, len(rows) * len(FLAGS.seeds), minutes), '',
      'Made with: `python results/tdr_mnist.py --train-steps %d --seeds %s --record`'
      % (steps, ','.join(FLAGS.seeds)), '',
      '| method | ' + ' | '.join(METRICS) + ' | final class weights (minor, major) |',
      '|---|' + '---|' * (len(METRICS) + 1)]
  for mode, runs in rows.items():
    vals = {m: np.array([r[m] for _, r in runs]) for m in METRICS}
    cw = np.mean([r['class_weights'] for _, r in runs], axis=0)
    lines.append('| %s (mean ± std, %d seeds) | ' % (mode, len(runs)) + ' | '.join(
        '%.3f ± %.3f' % (v.mean(), v.std()) for v in vals.values())
        + ' | %.3f, %.3f |' % tuple(cw))
  lines += ['', 'Per seed:', '', '| method | seed | ' + ' | '.join(METRICS) + ' |',
            '|---|---|' + '---|' * len(METRICS)]
  for mode, runs in rows.items():
    for seed, r in runs:
      lines.append('| %s | %s | ' % (mode, seed) + ' | '.join('%.3f' % r[m] for m in METRICS) + ' |')
  with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  print('wrote %s and the run records in %s' % (out, records_dir))


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main)
