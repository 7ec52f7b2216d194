"""Time the ORIGINAL Targeted-Meta-Learning (TDR) Estimator training loop.

Runs the original `main.main()` (MLOPTPSU/Targeted-Meta-Learning, TF compat.v1 +
tf.estimator) unmodified, in a TensorFlow <= 2.15 environment that still has
tf.estimator (tensorflow-cpu 2.15.1 with its tensorflow-estimator), on tfrecords
written by this repository's makeImbalanceDataset.py (or any `data`/`label`
records of the right size).  It is a driver around code that stays outside this
repository; nothing of the original is copied here.  The only hooks:

  * `matplotlib` is stubbed (the original's load_dataset imports it for a demo);
  * `tf.estimator.train_and_evaluate` is replaced by `estimator.train(...)` with
    the original's TrainSpec (same input_fn, model_fn, hooks, RunConfig) plus one
    timing hook, so the run stops after --warmup + --steps + 1 base steps, before
    any evaluation;
  * the timing hook records the wall and CPU interval between consecutive
    `after_run` calls: one whole loop iteration (input pipeline, the original's
    hooks, among them the class-weight update every 10 steps, the train op);
    with --profile, --steps more steps follow the timed ones under TensorFlow's
    profiler (kernel time per op type, bench/op_profile.py, in the RESULT line).

The original reads the records as CHW and transposes (for CIFAR that scrambles
the images written HWC; irrelevant for speed).

usage: python bench/original_tdr_speed.py --src ORIG --data-dir D --dataset mnist \\
         --num-class 2 --steps 100 --warmup 20
Prints one line `RESULT {json}`: first step (estimator.train() call -> end of the
first step: graph build, session, initial checkpoint, first run), mean wall and CPU
seconds per step over the timed steps, peak RSS.
"""
import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--src', required=True, help='folder of the original main.py, model.py, ...')
p.add_argument('--data-dir', required=True, help='train/validation/test.tfrecords')
p.add_argument('--dataset', choices=['mnist', 'cifar10', 'cifar100'], default='mnist')
p.add_argument('--num-class', type=int, default=2)
p.add_argument('--num-layers', type=int, default=20)
p.add_argument('--train-batch-size', type=int, default=50)
p.add_argument('--num-training-samples', type=int, default=5000)
p.add_argument('--steps', type=int, default=100,
               help='timed steps (a multiple of 10: whole class-weight periods)')
p.add_argument('--warmup', type=int, default=20, help='untimed steps after the first')
p.add_argument('--job-dir', help='default: a new temporary folder')
p.add_argument('--profile', action='store_true',
               help='then profile as many steps again: kernel time per op type')
a = p.parse_args()
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.op_profile import kernel_times  # noqa: E402
from bench.original_tdr import hparams, load_main  # noqa: E402

orig = load_main(a.src)

MARKS = []   # (wall, cpu) at the end of every step
T0 = {}


PROFILE_DIR = tempfile.mkdtemp(prefix='tdr_orig_profile_') if a.profile else None


class TimingHook(tf.estimator.SessionRunHook):
  def after_run(self, run_context, run_values):
    MARKS.append((time.perf_counter(), time.process_time()))
    if PROFILE_DIR and len(MARKS) == 1 + a.warmup + a.steps:   # the timed steps are over
      tf.profiler.experimental.start(PROFILE_DIR)
    if PROFILE_DIR and len(MARKS) == 1 + a.warmup + 2 * a.steps:
      tf.profiler.experimental.stop()


def train_only(estimator, train_spec, eval_spec):
  del eval_spec
  T0['wall'], T0['cpu'] = time.perf_counter(), time.process_time()
  estimator.train(input_fn=train_spec.input_fn, max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks) + [TimingHook()])


tf.estimator.train_and_evaluate = train_only

total = 1 + a.warmup + a.steps * (2 if a.profile else 1)
job_dir = a.job_dir or tempfile.mkdtemp(prefix='tdr_orig_')
orig.main(job_dir=job_dir, data_dir=os.path.abspath(a.data_dir), num_gpus=0,
          use_distortion_for_training=True, log_device_placement=False, num_intra_threads=0,
          **hparams(total, a.dataset, a.num_class, a.num_layers, a.train_batch_size,
                    a.num_training_samples))

assert len(MARKS) == total, (len(MARKS), total)
start, end = MARKS[a.warmup], MARKS[a.warmup + a.steps]   # ends of step warmup+1 .. the timed last
res = {
    'tf': tf.__version__, 'dataset': a.dataset, 'steps': a.steps, 'warmup': a.warmup,
    'first_s': round(MARKS[0][0] - T0['wall'], 3),
    'first_cpu_s': round(MARKS[0][1] - T0['cpu'], 3),
    'wall_per_step': (end[0] - start[0]) / a.steps,
    'cpu_per_step': (end[1] - start[1]) / a.steps,
    'ru_maxrss_mib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    'onednn_env': os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'),
}
if PROFILE_DIR:
  res['profile'] = kernel_times(PROFILE_DIR, a.steps, MARKS[-1][0] - end[0])
  shutil.rmtree(PROFILE_DIR, ignore_errors=True)
print('RESULT ' + json.dumps(res), flush=True)
