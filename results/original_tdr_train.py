"""Train with the ORIGINAL Targeted-Meta-Learning (TDR) code, its README example run.

Runs the original `main.main()` (MLOPTPSU/Targeted-Meta-Learning, outside this
repository, loaded by bench/original_tdr.py) unmodified, `tf.estimator.train_and_evaluate`
included, in a TensorFlow <= 2.15 environment with tf.estimator (tensorflow-cpu 2.15.1),
on tfrecords written by makeImbalanceDataset.py.  What the driver changes, all from
outside:

  * the RunConfig main() builds (`utils.RunConfig`) gets `tf_random_seed=--seed` (the
    original sets none, so its runs could not be repeated) and `keep_checkpoint_max=None`
    (every --eval-freq checkpoint kept, for the learning curves; the original keeps 5);
  * every `Estimator.evaluate` result (the original's own evaluation: 2000 // 50 batches
    of the shuffled, repeated test set after each checkpoint) is written to
    `<job-dir>/original_evals.json`;
  * `--no-reweight`: the original's class-weight hook (`utils.WeightUpdateHook1`) is
    replaced by a hook that does nothing, so the class weights stay at 1/C: the plain
    baseline, as the port's `--no-reweight` (the original has no such flag).

usage (with the TF 2.15 Python):
  python results/original_tdr_train.py --src ORIG --data-dir D --job-dir J --seed 0 \\
      [--no-reweight] [--train-steps 20000]
Writes `<job-dir>/original_evals.json` last: its presence marks a finished run.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--src', required=True, help='folder of the original main.py, model.py, ...')
p.add_argument('--data-dir', required=True, help='train/validation/test.tfrecords')
p.add_argument('--job-dir', required=True)
p.add_argument('--seed', type=int, default=0, help='the Estimator\'s tf_random_seed')
p.add_argument('--no-reweight', action='store_true', help='class weights fixed at 1/C')
p.add_argument('--train-steps', type=int, default=20000)
p.add_argument('--eval-freq', type=int, default=1000)
p.add_argument('--num-training-samples', type=int, default=5000)
p.add_argument('--record-batches', type=int, default=0, metavar='N',
               help='with --trace: also write <job-dir>/batches.npz, the images and labels of '
               'every batch the first N steps trained on and their class-weight updates drew '
               '(for results/tdr_lockstep.py)')
p.add_argument('--trace', help='JSON-lines file: one line per class-weight update (step, the '
               'labels of the train and target batches it drew, the weights before and after); '
               'nothing with --no-reweight')
a = p.parse_args()
if a.record_batches and not a.trace:
  p.error('--record-batches needs --trace')

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.original_tdr import hparams, load_main  # noqa: E402

orig = load_main(a.src)
import tensorflow as tf  # noqa: E402  (the original's, after load_main)

utils = sys.modules['utils']   # the original's utils.py, imported by its main.py
EVALS = []


class SeededRunConfig(utils.RunConfig):
  def __init__(self, **kwargs):
    super().__init__(tf_random_seed=a.seed, keep_checkpoint_max=None, **kwargs)


utils.RunConfig = SeededRunConfig
_evaluate = tf.estimator.Estimator.evaluate


def recorded_evaluate(self, *args, **kwargs):
  result = _evaluate(self, *args, **kwargs)
  EVALS.append({k: (int(v) if k == 'global_step' else float(v)) for k, v in result.items()})
  return result


tf.estimator.Estimator.evaluate = recorded_evaluate

if a.no_reweight:
  class FixedClassWeights(tf.estimator.SessionRunHook):
    def __init__(self, *args, **kwargs):
      del args, kwargs


  utils.WeightUpdateHook1 = FixedClassWeights

if a.trace and not a.no_reweight:   # without re-weighting there are no updates to trace
  class TracedWeightUpdate(utils.WeightUpdateHook1):
    """The original hook, its session.run calls in its order, with the labels of the
    batches its update drew fetched in the update's own run."""

    def begin(self):
      super().begin()
      gets = [op for op in tf.compat.v1.get_default_graph().get_operations()
              if op.type == 'IteratorGetNext']
      # input_fn makes the train iterator first, then the validation (target) one
      self._train, self._target = gets[0].outputs[:2], gets[1].outputs[:2]
      self._file = open(a.trace, 'w')
      self._batches = {'train': [], 'update_train': [], 'update_target': []}
      self._step = None

    def _recording(self, step):
      return step < a.record_batches

    def before_run(self, run_context):
      sess = run_context.session
      step = int(sess.run(self._global_step_tensor))
      if self._timer.should_trigger_for_step(step):
        before = sess.run(self.weight)
        _, (train_x, train_labels), (target_x, target_labels) = sess.run(
            [self.update_op, self._train, self._target])
        if self._recording(step):
          self._batches['update_train'].append((train_x, train_labels))
          self._batches['update_target'].append((target_x, target_labels))
        after = sess.run(self.weight)
        self._file.write(json.dumps({
            'step': step, 'train_labels': train_labels.tolist(),
            'target_labels': target_labels.tolist(), 'before': before[:, 0].tolist(),
            'after': after[:, 0].tolist()}) + '\n')
        if step % self.log_every_n_step == 0:
          sess.run(self.update_weight)   # the original's logging run (it draws batches too)
        self._timer.update_last_triggered_step(step)
      self._step = step
      # the batch this step's training run draws, fetched in that run
      if self._recording(step):
        return tf.compat.v1.train.SessionRunArgs(self._train)
      return None

    def after_run(self, run_context, run_values):
      if self._recording(self._step):
        self._batches['train'].append(tuple(run_values.results))

    def end(self, session):
      self._file.close()
      if a.record_batches:
        arrays = {}
        for name, batches in self._batches.items():
          arrays[name + '_x'] = np.stack([x for x, _ in batches]).astype(np.uint8)
          arrays[name + '_y'] = np.stack([y for _, y in batches]).astype(np.int32)
        np.savez_compressed(os.path.join(a.job_dir, 'batches.npz'), **arrays)


  utils.WeightUpdateHook1 = TracedWeightUpdate

t0 = time.time()
orig.main(job_dir=os.path.abspath(a.job_dir), data_dir=os.path.abspath(a.data_dir), num_gpus=0,
          use_distortion_for_training=True, log_device_placement=False, num_intra_threads=0,
          **hparams(a.train_steps, num_training_samples=a.num_training_samples, evaluate=True,
                    eval_freq=a.eval_freq))
out = {'tf': tf.__version__, 'seed': a.seed, 'reweight': not a.no_reweight,
       'train_steps': a.train_steps, 'seconds': round(time.time() - t0, 1), 'evals': EVALS}
tmp = os.path.join(a.job_dir, 'original_evals.json.tmp')
with open(tmp, 'w') as f:
  json.dump(out, f, indent=1)
os.replace(tmp, os.path.join(a.job_dir, 'original_evals.json'))
print('RESULT ' + json.dumps(out['evals'][-1] if EVALS else {}), flush=True)
