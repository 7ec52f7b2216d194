r"""The port's TDR trainer in lockstep with a run of the ORIGINAL code (issue 20).

Starts the port's LeNet from the original's step-0 checkpoint and feeds it the very
batches the original trained on and drew for its class-weight updates (recorded by
`results/original_tdr_train.py --trace T --record-batches N`), then compares, step
by step, the class weights with the original's trace and, at each of its
checkpoints, every model weight.  Same algorithm, same numbers in, so any gap
larger than float32 rounding compounding is a difference of the port.

  python results/original_tdr_train.py --src ORIG --data-dir D --job-dir J --seed 0 \
      --train-steps 2000 --eval-freq 100 --trace J.jsonl --record-batches 2000
  python results/tdr_lockstep.py --job J --trace J.jsonl
"""
import json
import os
import re
import sys
import glob

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

flags.DEFINE_string('job', None, 'Job dir of the original run (checkpoints, batches.npz).')
flags.DEFINE_string('trace', None, 'Its --trace file.')
flags.DEFINE_integer('num_training_samples', 5000, 'As the original run (the lr schedule).')
flags.DEFINE_string('out', None, 'Also write the table as markdown here.')
FLAGS = flags.FLAGS
FREQ = 10


def original_checkpoints(job):
  """{step: prefix} of the original's Estimator checkpoints."""
  out = {}
  for path in glob.glob(os.path.join(job, 'model.ckpt-*.index')):
    out[int(re.search(r'model\.ckpt-(\d+)\.index$', path).group(1))] = path[:-len('.index')]
  return out


def sequence(batches):
  """The port's (train stream, target stream) as the original drew them: at every
  multiple of FREQ the update's train batch comes before that step's own batch."""
  steps = len(batches['train_y'])
  train_x, train_y = [], []
  for s in range(steps):
    if s % FREQ == 0:
      train_x.append(batches['update_train_x'][s // FREQ])
      train_y.append(batches['update_train_y'][s // FREQ])
    train_x.append(batches['train_x'][s])
    train_y.append(batches['train_y'][s])
  return ((np.stack(train_x), np.stack(train_y)),
          (batches['update_target_x'], batches['update_target_y']))


def main(argv):
  del argv
  import tensorflow as tf
  from models.tdr import build_model, losses
  from results.tdr_scores import SHAPE, original_lenet
  from training.tdr_steps import TDRTrainer
  batches = dict(np.load(os.path.join(FLAGS.job, 'batches.npz')))
  steps = len(batches['train_y'])
  with open(FLAGS.trace) as f:
    trace = {u['step']: u for u in map(json.loads, f)}
  ckpts = original_checkpoints(FLAGS.job)
  model, weights0 = original_lenet(ckpts[0])
  trainer = TDRTrainer(model, 2, SHAPE, boundaries=losses.lr_boundaries(
      FLAGS.num_training_samples, 50))
  if not np.allclose(weights0, 0.5):
    raise SystemExit('error: the step-0 checkpoint has class weights %s' % weights0)
  (tx, ty), (vx, vy) = sequence(batches)
  as_float = lambda x, y: (tf.cast(x, tf.float32), y)
  train_it = iter(tf.data.Dataset.from_tensor_slices((tx, ty)).map(as_float))
  val_it = iter(tf.data.Dataset.from_tensor_slices((vx, vy)).map(as_float))
  lines = ['| step | class weight (minority): original | port | port - original | '
           'model weights: max abs diff / max abs | relative L2 |', '|---|---|---|---|---|---|']
  for step in range(0, steps, FREQ):
    trainer.advance(train_it, val_it, FREQ)   # update at `step`, then FREQ base steps
    port_w = float(trainer.class_weights.numpy()[0, 0])
    orig_w = trace[step]['after'][0]
    model_cell = ' | '
    if step + FREQ in ckpts:
      reference, _ = original_lenet(ckpts[step + FREQ])
      diffs = [(np.max(np.abs(a.numpy() - b.numpy())), np.max(np.abs(b.numpy())),
                np.sum((a.numpy() - b.numpy()) ** 2), np.sum(b.numpy() ** 2))
               for a, b in zip(trainer.model.trainable_variables, reference.trainable_variables)]
      model_cell = '%.2e / %.2e | %.2e' % (
          max(d[0] for d in diffs), max(d[1] for d in diffs),
          np.sqrt(sum(d[2] for d in diffs) / sum(d[3] for d in diffs)))
    if step + FREQ in ckpts or step < 5 * FREQ:
      lines.append('| %d | %.7f | %.7f | %+.2e | %s |' % (
          step + FREQ, orig_w, port_w, port_w - orig_w, model_cell))
  print('\n'.join(lines))
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  flags.mark_flags_as_required(['job', 'trace'])
  app.run(main)
