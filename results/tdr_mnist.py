r"""The TDR README example (MNIST 2 vs 3, 5000 / 20 / 1000 images, LeNet, 20000 steps),
bilevel re-weighting and plain (--no-reweight), the port beside the ORIGINAL code.

For every ratio and seed it runs, one at a time and each as a subprocess (output in
<work-dir>/<run>.out / .err): the port's `tdr_main.py` with the original's pipeline
flags (what runfiles/mnist_tdr.sh passes), and, with --original, the original
trainer through results/original_tdr_train.py in its own TensorFlow (<= 2.15)
Python.  A run whose results exist is not run again (a killed script resumes by
being started again); --no-train only scores and writes what has finished.

One evaluator (results/tdr_scores.py) scores every model: the final one on the
whole test set and on the original's 2000-example evaluation, and every
--eval-freq checkpoint on the whole test set (the learning curves).  Writes the
markdown to --out (default <work-dir>/tdr_mnist.md) and one run record per side,
method, ratio and metric to runs/ beside it; --record writes the committed
results/tdr_mnist.md and results/runs/tdr_mnist_*.json instead.

  python results/tdr_mnist.py --ratios 0.995,0.99,0.9 --seeds 0,1,2,3,4 \\
      --other-ratio-seeds 0,1,2 --original /work/originals/Targeted-Meta-Learning \\
      --original-python /work/venv215/bin/python --record
"""
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common.dash_flags import check_ranges, normalise_argv  # noqa: E402
from common.errors import UserError, absl_main  # noqa: E402
from results.paper_tables import TDR_README_SETTING  # noqa: E402
from results.records import hardware, write_record, git_commit  # noqa: E402

flags.DEFINE_string('source', os.path.join(os.path.dirname(REPO), 'shared', 'datasets', 'mnist'),
                    'Folder of the MNIST idx .gz files.')
flags.DEFINE_string('work-dir', os.path.join(REPO, 'runs', 'tdr_mnist'), 'Data and job dirs.')
flags.DEFINE_string('out', None, 'Markdown output (default <work-dir>/tdr_mnist.md); the '
                    'run records go to runs/ beside it.')
flags.DEFINE_bool('record', False, 'Update the committed results/tdr_mnist.md and '
                  'results/runs/tdr_mnist_*.json (instead of --out).')
flags.DEFINE_integer('train-steps', 20000, 'Training steps per run (the README: 20000).')
flags.DEFINE_integer('eval-freq', 1000, 'Steps between checkpoints scored for the curves.')
flags.DEFINE_list('ratios', ['0.995'], 'Imbalance ratios; the first is the main table.')
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'Training seeds at the first ratio.')
flags.DEFINE_list('other-ratio-seeds', ['0', '1', '2'], 'Training seeds at the other ratios.')
flags.DEFINE_string('original', None, 'Folder of the original Targeted-Meta-Learning code '
                    '(main.py ...); without it only the port runs.')
flags.DEFINE_string('original-python', None, 'Python of a TensorFlow <= 2.15 environment with '
                    'tf.estimator, for --original.')
flags.DEFINE_list('methods', ['tdr', 'plain'], 'Methods to run: tdr (bilevel re-weighting), '
                  'plain (--no-reweight).')
flags.DEFINE_list('train-sides', ['port', 'orig'], 'Sides this process trains (the others '
                  'are only scored once finished): two processes, one per side, run in '
                  'parallel.')
flags.DEFINE_list('port-flags', [], 'More flags for the port\'s runs (e.g. '
                  '--port-flags=--drop-logged-batches).')
flags.DEFINE_bool('trace', False, 'Record every class-weight update: the port logs every 10 '
                  'steps (--log-freq 10), the original writes <job>/trace.jsonl '
                  '(results/tdr_update_trace.py reads both).')
flags.DEFINE_bool('no-train', False, 'Start no run: score and write what has finished.')
check_ranges(at_least={'train-steps': 1, 'eval-freq': 1})
FLAGS = flags.FLAGS
METRICS = ('accuracy', 'recall_minor', 'precision_minor')
METHODS = (('tdr', 'bilevel re-weighting', []), ('plain', 'plain (--no-reweight)', ['--no-reweight']))
SIDES = (('port', 'port'), ('orig', 'original code'))
# the original's input pipeline and evaluation, as runfiles/mnist_tdr.sh passes them
ORIGINAL_PIPELINE = ['--train-shuffle', 'original', '--target-order', 'original',
                     '--drop-logged-batches', '--eval-examples', '2000']
THREADS = {'TF_NUM_INTRAOP_THREADS': '1', 'TF_NUM_INTEROP_THREADS': '1'}


def flag(name):
  return FLAGS[name].value


def gen_args(ratio):
  return ['--dataset', 'mnist', '--train-size', '5000', '--validation-size', '20',
          '--test-size', '1000', '--ratio', ratio, '--minority-labels', '2',
          '--majority-labels', '3']


def run(cmd, log_stem):
  """Run `cmd` (a list) with one thread per pool, output to <log_stem>.out / .err."""
  print('$ ' + ' '.join(cmd), flush=True)
  with open(log_stem + '.out', 'w') as out, open(log_stem + '.err', 'w') as err:
    code = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=err,
                          env=dict(os.environ, **THREADS)).returncode
  if code:
    raise UserError('%s exited %d; its output: %s.err' % (cmd[1], code, log_stem))


class Run:
  """One training run: side (port / orig), method (tdr / plain), ratio, seed."""

  def __init__(self, side, method, ratio, seed):
    self.side, self.method, self.ratio, self.seed = side, method, ratio, seed
    self.job = os.path.join(flag('work-dir'), '%s_%s_%s_s%s' % (side, ratio, method, seed))
    self.data = os.path.join(flag('work-dir'), 'data_%s' % ratio)

  def command(self):
    steps, extra = str(flag('train-steps')), dict((m, e) for m, _, e in METHODS)[self.method]
    if self.side == 'port':
      return [sys.executable, 'tdr_main.py', '--data-dir', self.data, '--dataset', 'mnist',
              '--job-dir', self.job, '--num-training-samples', '5000', '--eval',
              '--train-steps', steps, '--eval-freq', str(min(flag('eval-freq'), int(steps))),
              '--log-freq', '10' if flag('trace') else '100', '--seed', self.seed,
              '--num-gpus', '0', '--noprogress',
              '--keep-checkpoints', str(int(steps) // flag('eval-freq') + 2)
              ] + ORIGINAL_PIPELINE + extra + flag('port-flags')
    return [flag('original-python') or 'PYTHON_TF215', 'results/original_tdr_train.py',
            '--src', flag('original') or 'ORIGINAL', '--data-dir', self.data,
            '--job-dir', self.job, '--seed', self.seed, '--train-steps', steps,
            '--eval-freq', str(min(flag('eval-freq'), int(steps)))] + extra + (
                ['--trace', os.path.join(self.job, 'trace.jsonl')] if flag('trace') else [])

  def finished(self):
    if self.side == 'port':
      path = os.path.join(self.job, 'metrics.json')
      return os.path.isfile(path) and load_json(path)['step'] == flag('train-steps')
    return os.path.isfile(os.path.join(self.job, 'original_evals.json'))

  def train(self):
    if self.side == 'orig' and os.path.isdir(self.job):   # a killed Estimator run: start over
      import shutil
      shutil.rmtree(self.job)
    run(self.command(), self.job)

  def checkpoints(self):
    """{step: checkpoint path} of every saved step."""
    if self.side == 'port':
      pattern, regex = os.path.join(self.job, 'checkpoints', 'model-*'), r'model-(\d+)$'
    else:
      pattern, regex = os.path.join(self.job, 'model.ckpt-*.index'), r'model\.ckpt-(\d+)\.index$'
    out = {}
    for path in glob.glob(pattern):
      m = re.search(regex, path)
      if m:
        out[int(m.group(1))] = path[:-len('.index')] if self.side == 'orig' else path
    return out

  def own_eval(self):
    """The run's own final evaluation, as its trainer reported it (2000 examples)."""
    if self.side == 'port':
      m = load_json(os.path.join(self.job, 'metrics.json'))
      return {k: m[k] for k in METRICS}
    last = load_json(os.path.join(self.job, 'original_evals.json'))['evals'][-1]
    return {'accuracy': last['obj/accuracy'], 'recall_minor': last['metrics/recall_minor'],
            'precision_minor': last['metrics/precision_minor']}

  def wall(self):
    """Seconds the trainer reported for its run."""
    name = 'metrics.json' if self.side == 'port' else 'original_evals.json'
    return load_json(os.path.join(self.job, name))['seconds']


def load_json(path):
  with open(path) as f:
    return json.load(f)


def score_run(r):
  """Final scores, class weights and the whole-test-set curve of a finished run (cached
  in <job>/scores.json)."""
  from results import tdr_scores
  cache = os.path.join(r.job, 'scores.json')
  if os.path.isfile(cache):
    return load_json(cache)
  test = os.path.join(r.data, 'test.tfrecords')
  load = tdr_scores.port_lenet if r.side == 'port' else tdr_scores.original_lenet
  ckpts = r.checkpoints()
  steps = flag('train-steps')
  if steps not in ckpts:
    raise UserError('%s has no checkpoint of step %d' % (r.job, steps))
  model, class_weights = load(ckpts[steps])
  final = tdr_scores.score(model, test, int(r.seed), steps)
  curve = {}
  for step in sorted(s for s in ckpts if s and s % flag('eval-freq') == 0):
    step_model, step_weights = load(ckpts[step])
    curve[step] = dict(tdr_scores.score(step_model, test, int(r.seed), step)['whole'],
                       class_weight_minor=float(step_weights[0]))
  out = dict(final, class_weights=[float(w) for w in class_weights], own=r.own_eval(),
             curve={str(k): v for k, v in curve.items()}, wall_s=r.wall())
  with open(cache + '.tmp', 'w') as f:
    json.dump(out, f)
  os.replace(cache + '.tmp', cache)
  return out


def outputs():
  """(markdown path, run-record folder): the committed ones only with --record."""
  if FLAGS.record:
    if FLAGS.out is not None:
      raise UserError('--record writes the committed results/tdr_mnist.md; drop --out')
    return os.path.join(REPO, 'results', 'tdr_mnist.md'), os.path.join(REPO, 'results', 'runs')
  out = FLAGS.out or os.path.join(flag('work-dir'), 'tdr_mnist.md')
  return out, os.path.join(os.path.dirname(os.path.abspath(out)), 'runs')


def plan():
  """The runs in the order they are trained: per ratio, per seed, all four side by side."""
  sides = ('port', 'orig') if flag('original') else ('port',)
  runs = []
  for i, ratio in enumerate(flag('ratios')):
    for seed in flag('seeds') if i == 0 else flag('other-ratio-seeds'):
      runs += [Run(side, method, ratio, seed) for side in sides for method, _, _ in METHODS
               if method in flag('methods')]
  return runs


def mean_sd(values):
  v = np.asarray(values, np.float64)
  return (v.mean(), v.std(ddof=1) if len(v) > 1 else float('nan'), len(v))


def fmt(values):
  if not values:
    return 'not run here: time'
  m, sd, n = mean_sd(values)
  return '%.3f ± %.3f (%d)' % (m, sd, n) if n > 1 else '%.3f (1)' % m


def diff(port, orig):
  """Port mean minus original mean ± its standard error (unpaired seeds)."""
  if len(port) < 2 or len(orig) < 2:
    return 'n/a'
  (mp, sp, n_p), (mo, so, n_o) = mean_sd(port), mean_sd(orig)
  se = np.sqrt(sp ** 2 / n_p + so ** 2 / n_o)
  return '%+.3f ± %.3f%s' % (mp - mo, se, '' if abs(mp - mo) <= 2 * se else ' (> 2 se)')


def write_records(records_dir, scored, ratio, command):
  for side, side_name in SIDES:
    for method, method_name, _ in METHODS:
      done = [(r, s) for r, s in scored if (r.side, r.method, r.ratio) == (side, method, ratio)]
      if not done:
        continue
      readme = (side == 'port' and ratio == flag('ratios')[0] == '0.995'
                and flag('train-steps') == 20000)
      table = 'TDR MNIST imbalance' if readme else 'TDR MNIST 2-vs-3: original code vs port'
      row = ('TDR (bilevel re-weighting)' if method == 'tdr' else 'plain (--no-reweight)')
      if not readme:
        row = '%s: %s' % (side_name, row)
      setting = TDR_README_SETTING if readme else (
          'MNIST 2-vs-3, ratio %s, %d steps, original pipeline' % (ratio, flag('train-steps')))
      walls = [s['wall_s'] for _, s in done]
      cw = np.mean([s['class_weights'] for _, s in done], axis=0)
      for metric in METRICS:
        write_record(
            os.path.join(records_dir, 'tdr_mnist_%s_%s_r%s_%s.json' % (side, method, ratio, metric)),
            system='tdr', table=table, row=row, setting=setting, metric=metric,
            values=[round(100 * s['whole'][metric], 4) for _, s in done],
            seeds=[int(r.seed) for r, _ in done], command=command,
            wall_time_s=round(sum(walls), 1) if None not in walls else None,
            note='%s, whole test set (500 + 500), one evaluator for both sides '
                 '(results/tdr_scores.py); the %s\'s pipeline flags; wall time: all seeds. '
                 'Final class weights (minor, major), mean over seeds: %.3f, %.3f.'
                 % (side_name, 'original', cw[0], cw[1]))


def summary_lines(scored, ratio):
  lines = ['| side | method | ' + ' | '.join(METRICS) + ' | accuracy, 2000-example eval '
           '(same evaluator) | accuracy, its own 2000-example eval | class weights (minor, major) |',
           '|---|---|' + '---|' * (len(METRICS) + 3)]
  for side, side_name in SIDES:
    for method, method_name, _ in METHODS:
      done = [s for r, s in scored if (r.side, r.method, r.ratio) == (side, method, ratio)]
      cw = ('%.3f, %.3f' % tuple(np.mean([s['class_weights'] for s in done], axis=0))
            if done else '')
      lines.append('| %s | %s | ' % (side_name, method_name) + ' | '.join(
          fmt([s['whole'][m] for s in done]) for m in METRICS) + ' | %s | %s | %s |' % (
          fmt([s['original_2000']['accuracy'] for s in done]),
          fmt([s['own']['accuracy'] for s in done]), cw))
  lines += ['', '| port minus original | method | ' + ' | '.join(METRICS) + ' |',
            '|---|---|' + '---|' * len(METRICS)]
  for method, method_name, _ in METHODS:
    get = {side: [s for r, s in scored if (r.side, r.method, r.ratio) == (side, method, ratio)]
           for side, _ in SIDES}
    lines.append('| | %s | ' % method_name + ' | '.join(
        diff([s['whole'][m] for s in get['port']], [s['whole'][m] for s in get['orig']])
        for m in METRICS) + ' |')
  return lines


def per_seed_lines(scored, ratio):
  lines = ['| side | method | seed | ' + ' | '.join(METRICS) + ' | accuracy (2000) | '
           'class weights | wall (s) |', '|---|---|---|' + '---|' * (len(METRICS) + 3)]
  for side, side_name in SIDES:
    for method, method_name, _ in METHODS:
      for r, s in scored:
        if (r.side, r.method, r.ratio) == (side, method, ratio):
          lines.append('| %s | %s | %s | ' % (side_name, method_name, r.seed) + ' | '.join(
              '%.3f' % s['whole'][m] for m in METRICS) + ' | %.3f | %.3f, %.3f | %s |' % (
              s['original_2000']['accuracy'], s['class_weights'][0], s['class_weights'][1],
              '%.0f' % s['wall_s'] if s['wall_s'] else 'n/a'))
  return lines


def curve_lines(scored, ratio):
  groups = [(side, method, '%s %s' % (side_name, method)) for side, side_name in SIDES
            for method, _, _ in METHODS]
  steps = sorted({int(k) for r, s in scored if r.ratio == ratio for k in s['curve']})
  lines = ['| step | ' + ' | '.join('%s: acc / minority recall / minority class weight' % g
                                  for _, _, g in groups) + ' |',
           '|---|' + '---|' * len(groups)]
  for step in steps:
    cells = []
    for side, method, _ in groups:
      pts = [s['curve'][str(step)] for r, s in scored
             if (r.side, r.method, r.ratio) == (side, method, ratio) and str(step) in s['curve']]
      cells.append('%.3f / %.3f / %.3f' % tuple(
          np.mean([p[k] for p in pts]) for k in ('accuracy', 'recall_minor', 'class_weight_minor'))
          if pts else '')
    lines.append('| %d | ' % step + ' | '.join(cells) + ' |')
  return lines


def main(argv):
  if len(argv) > 1:
    raise UserError('unexpected arguments: %s' % ' '.join(argv[1:]))
  unknown = set(flag('methods')) - {m for m, _, _ in METHODS}
  if unknown:
    raise UserError('--methods: unknown %s (known: tdr, plain)' % ', '.join(sorted(unknown)))
  if bool(flag('original')) != bool(flag('original-python')):
    raise UserError('--original and --original-python go together')
  if flag('original') and not os.path.isfile(os.path.join(flag('original'), 'main.py')):
    raise UserError('--original %s holds no main.py' % flag('original'))
  out, records_dir = outputs()
  work = flag('work-dir')
  os.makedirs(work, exist_ok=True)
  os.makedirs(records_dir, exist_ok=True)   # (also the folder of --out)
  runs = plan()
  for ratio in flag('ratios'):
    data = os.path.join(work, 'data_%s' % ratio)
    if not os.path.isfile(os.path.join(data, 'summary.json')):
      run([sys.executable, 'makeImbalanceDataset.py', '--data-dir', data, '--source',
           flag('source')] + gen_args(ratio), os.path.join(work, 'gen_%s' % ratio))
  for r in runs:
    if not r.finished() and not flag('no-train') and r.side in flag('train-sides'):
      r.train()
  scored = [(r, score_run(r)) for r in runs if r.finished()]
  missing = [r for r in runs if not r.finished()]
  work_flag = ('' if FLAGS['work-dir'].value == FLAGS['work-dir'].default else
               ' --work-dir %s' % os.path.relpath(os.path.abspath(work), REPO))
  command = ('python results/tdr_mnist.py --ratios %s --seeds %s --other-ratio-seeds %s '
             '--train-steps %d%s%s --record' % (
                 ','.join(flag('ratios')), ','.join(flag('seeds')),
                 ','.join(flag('other-ratio-seeds')), flag('train-steps'), work_flag,
                 ' --original ORIG --original-python PY215' if flag('original') else ''))
  for name in ('methods', 'port-flags'):   # non-default list flags, as given
    if flag(name) != FLAGS[name].default:
      command = command.replace(' --record', ' --%s=%s --record' % (name, ','.join(flag(name))))
  if flag('trace'):
    command = command.replace(' --record', ' --trace --record')
  if not FLAGS.record:
    command = command.replace(' --record', ' --out %s' % os.path.relpath(out, REPO))
  for ratio in flag('ratios'):
    write_records(records_dir, scored, ratio, command)
  lines = markdown(scored, missing, command)
  with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  print('wrote %s and the run records in %s' % (out, records_dir))


def markdown(scored, missing, command):
  first = flag('ratios')[0]
  lines = [
      '# TDR README example (MNIST 2-vs-3), full schedule: the port beside the original code',
      '',
      'Data: `makeImbalanceDataset.py %s` from the real MNIST archive (ratio 0.995: 24 '
      'minority (2) and 4975 majority (3) training images, a balanced target set of 10 + 10, '
      'a balanced test set of 500 + 500, so always answering "3" scores 0.5). One data set '
      'per ratio (generator `--seed 0`), used by both sides.' % ' '.join(gen_args(first)), '',
      'Training: LeNet, batch 50, lr 0.01 (x0.1 at steps 9100, 13600, 18200), momentum 0.9, '
      'weight decay 2e-3, class weights updated every 10 steps, **%d steps**. Port: '
      '`tdr_main.py ... %s` (the original\'s pipeline, as `runfiles/mnist_tdr.sh`); original: '
      'its unmodified `main.main()` under TensorFlow 2.15.1 with tf.estimator, driven by '
      '`results/original_tdr_train.py` (Estimator `tf_random_seed` = seed, every checkpoint '
      'kept; `--no-reweight` replaces its class-weight hook by one that does nothing). '
      'Plain runs keep the class weights at 1/2. Training jobs ran one at a time with '
      '`TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`, on a 2-core machine shared with '
      'other people\'s jobs, so wall times (which include the original\'s 20 in-training '
      'evaluations) are only indicative.'
      % (flag('train-steps'), ' '.join(ORIGINAL_PIPELINE)), '',
      'Scores: one evaluator (`results/tdr_scores.py`) for both sides\' checkpoints: the whole '
      'test set (the columns named by metric), the original\'s 2000-example evaluation '
      '(40 batches of the repeated, shuffled test file, seeded by seed and step, the same '
      'examples for both sides), and each side\'s own final evaluation as its trainer '
      'reported it. Values: mean ± sample sd (number of seeds). "port minus original": '
      'difference of the means ± its standard error (the seeds of the two sides are not '
      'paired: different random streams); "(> 2 se)" marks a difference outside twice it.', '',
      'Made with: `%s` (ORIG: the fetched MLOPTPSU/Targeted-Meta-Learning, PY215: a Python '
      'with tensorflow-cpu 2.15.1, tensorflow-probability 0.23.0, numpy < 2; README section 2, '
      '"Speed"), at commit %s on %s.' % (command, git_commit(), hardware()), '']
  for i, ratio in enumerate(flag('ratios')):
    here = [(r, s) for r, s in scored if r.ratio == ratio]
    lines += ['## Ratio %s%s' % (ratio, ' (the README example)' if ratio == '0.995' else ''), '']
    lines += summary_lines(here, ratio) + ['', 'Per seed (whole test set):', '']
    lines += per_seed_lines(here, ratio)
    lines += ['', 'Learning curves (whole test set, mean over the seeds above):', '']
    lines += curve_lines(here, ratio) + ['']
  if len(flag('ratios')) > 1:
    lines += ['## What re-weighting adds, by ratio', '',
              '| ratio | side | accuracy: re-weighting minus plain | minority recall: '
              're-weighting minus plain |', '|---|---|---|---|']
    for ratio in flag('ratios'):
      for side, side_name in SIDES:
        get = {m: [s['whole'] for r, s in scored if (r.side, r.method, r.ratio) == (side, m, ratio)]
               for m in ('tdr', 'plain')}
        lines.append('| %s | %s | %s | %s |' % (ratio, side_name, *(
            '%+.3f' % (np.mean([x[k] for x in get['tdr']]) - np.mean([x[k] for x in get['plain']]))
            if get['tdr'] and get['plain'] else 'not run here: time'
            for k in ('accuracy', 'recall_minor'))))
    lines.append('')
  if missing:
    lines += ['## Not run here: time', '',
              'Runs of the plan that did not finish before the session\'s deadline; `%s` '
              'runs them (finished runs are kept), or one by one:' % command, '']
    lines += ['* `%s`' % ' '.join(r.command()).replace(sys.executable, 'python')
              .replace(REPO + '/', '') for r in missing]
    lines.append('')
  return lines


if __name__ == '__main__':
  sys.argv = normalise_argv(sys.argv)
  absl_main(main)
