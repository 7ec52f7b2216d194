r"""Every class-weight update of traced TDR runs, port beside original (issue 20).

Reads the runs `results/tdr_mnist.py --trace` made in --work-dir:
  * original: `orig_<ratio>_tdr_s<seed>/trace.jsonl`, one line per update (step, the
    labels of the train and target batches it drew, the weights before and after);
  * port: `port_<ratio>_tdr_s<seed>/tb/train` (class weights every 10 steps, float32),
    and the labels of the batches each update drew, replayed from the port's input
    streams (a pure function of the seed; the update at step s draws the batches
    after the first `training.tdr_steps.batches_drawn(s, ...)`).

Prints, per side and window of steps, the mean over seeds of: minority images per
update train batch, the share of updates whose train batch holds one, the change
of the minority class weight per update with and without a minority image, and
the minority weight at the window's end.

  python results/tdr_update_trace.py --work-dir runs/tdr_gap --seeds 5,6,7 [--out F.md]
"""
import glob
import json
import os
import sys

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

flags.DEFINE_string('work_dir', None, 'Work dir of results/tdr_mnist.py --trace.')
flags.DEFINE_string('ratio', '0.995', 'Imbalance ratio of the runs.')
flags.DEFINE_list('seeds', None, 'Seeds (default: every traced run found).')
flags.DEFINE_integer('window', 1000, 'Steps per table row.')
flags.DEFINE_integer('steps', 20000, 'Last step shown.')
flags.DEFINE_string('out', None, 'Also write the table as markdown here.')
FLAGS = flags.FLAGS
MINORITY = 0          # minority labels come first
FREQ = 10             # the original's class-weight period
TRAIN_BATCH, TARGET_BATCH = 50, 10


def original_updates(job):
  """[step, minority in train batch, minority in target batch, w_minor before, after]."""
  rows = []
  with open(os.path.join(job, 'trace.jsonl')) as f:
    for line in f:
      u = json.loads(line)
      rows.append([u['step'], u['train_labels'].count(MINORITY),
                   u['target_labels'].count(MINORITY), u['before'][0], u['after'][0]])
  return np.array(rows, np.float64)


def tensorboard_scalars(folder, tag):
  """{step: value} of scalar `tag` in the event files of `folder`."""
  import tensorflow as tf
  out = {}
  for path in sorted(glob.glob(os.path.join(folder, 'events.out.tfevents.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == tag:
          out[event.step] = float(tf.make_ndarray(value.tensor)) if value.HasField(
              'tensor') else value.simple_value
  return out


def stream_minority(dataset, n):
  """Minority images in each of the first `n` batches of `dataset`."""
  return np.array([int(np.sum(y.numpy() == MINORITY)) for _, y in dataset.take(n)])


def port_updates(job, data, seed, steps):
  """The rows of `original_updates` for a port run (weights from TensorBoard)."""
  from data.tdr import IMAGE_SHAPES, tfrecords as tfr
  from training.tdr_steps import batches_drawn
  shape = IMAGE_SHAPES['mnist']
  weights = tensorboard_scalars(os.path.join(job, 'tb', 'train'), 'class_weight/0')
  with open(os.path.join(job, 'config.json')) as f:
    logged = json.load(f).get('logged-draws', 0)
  drawn = [batches_drawn(step, FREQ, True, logged) for step in range(0, steps, FREQ)]
  train = stream_minority(tfr.train_dataset(
      os.path.join(data, 'train.tfrecords'), TRAIN_BATCH, shape, seed=seed,
      shuffle='original'), drawn[-1][0] + 1)
  target = stream_minority(tfr.target_dataset(
      os.path.join(data, 'validation.tfrecords'), TARGET_BATCH, shape, 2, seed=seed,
      order='original'), drawn[-1][1] + 1)
  rows = []
  for k, (train_index, target_index) in enumerate(drawn):
    step = k * FREQ
    before = weights.get(step, 0.5) if step else 0.5
    if step + FREQ not in weights:
      raise SystemExit('error: %s logs no class weight at step %d: was it run with '
                       '--log-freq 10 (results/tdr_mnist.py --trace)?' % (job, step + FREQ))
    rows.append([step, train[train_index], target[target_index], before,
                 weights[step + FREQ]])
  return np.array(rows, np.float64)


def window_stats(rows, lo, hi):
  """Per-window numbers of one run's update rows."""
  w = rows[(rows[:, 0] >= lo) & (rows[:, 0] < hi)]
  delta = w[:, 4] - w[:, 3]
  has = w[:, 1] > 0
  nan = float('nan')
  return dict(minority=w[:, 1].mean(), share=has.mean(),
              delta_with=delta[has].mean() if has.any() else nan,
              delta_without=delta[~has].mean() if (~has).any() else nan,
              w_end=w[-1, 4], target_minority=w[:, 2].mean())


def main(argv):
  del argv
  if not FLAGS.work_dir:
    raise SystemExit('error: --work_dir is required')
  data = os.path.join(FLAGS.work_dir, 'data_%s' % FLAGS.ratio)
  seeds = FLAGS.seeds or sorted(
      {p.rsplit('_s', 1)[1] for p in glob.glob(os.path.join(
          FLAGS.work_dir, 'orig_%s_tdr_s*' % FLAGS.ratio))
       if os.path.isfile(os.path.join(p, 'trace.jsonl'))}, key=int)
  sides = {'port': {}, 'original': {}}
  for seed in seeds:
    orig = os.path.join(FLAGS.work_dir, 'orig_%s_tdr_s%s' % (FLAGS.ratio, seed))
    port = os.path.join(FLAGS.work_dir, 'port_%s_tdr_s%s' % (FLAGS.ratio, seed))
    if os.path.isfile(os.path.join(orig, 'original_evals.json')):
      sides['original'][seed] = original_updates(orig)
    if os.path.isfile(os.path.join(port, 'metrics.json')):
      sides['port'][seed] = port_updates(port, data, int(seed), FLAGS.steps)
  lines = ['| steps | side | seeds | minority per update train batch | share with one | '
           'minority per target batch | d w_minor per update, with one (1e-3) | '
           'd w_minor, without (1e-3) | w_minor at end |', '|' + '---|' * 9]
  for lo in range(0, FLAGS.steps, FLAGS.window):
    for side, runs in sides.items():
      stats = [window_stats(r, lo, lo + FLAGS.window) for r in runs.values()]
      if not stats:
        continue
      m = {k: np.nanmean([s[k] for s in stats]) for k in stats[0]}
      lines.append('| %d-%d | %s | %d | %.3f | %.3f | %.2f | %+.3f | %+.3f | %.3f |' % (
          lo, lo + FLAGS.window, side, len(stats), m['minority'], m['share'],
          m['target_minority'], 1e3 * m['delta_with'], 1e3 * m['delta_without'], m['w_end']))
  print('\n'.join(lines))
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  app.run(main)
