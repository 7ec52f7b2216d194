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

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--src', required=True, help='folder of the original main.py, model.py, ...')
p.add_argument('--data-dir', required=True, help='train/validation/test.tfrecords')
p.add_argument('--job-dir', required=True)
p.add_argument('--seed', type=int, default=0, help='the Estimator\'s tf_random_seed')
p.add_argument('--no-reweight', action='store_true', help='class weights fixed at 1/C')
p.add_argument('--train-steps', type=int, default=20000)
p.add_argument('--eval-freq', type=int, default=1000)
p.add_argument('--num-training-samples', type=int, default=5000)
a = p.parse_args()

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
