"""The TDR training loop (the original's Estimator loop) on the run lifecycle of
common/: atomic checkpoints, time-based and signal checkpoints, non-finite guard.

The input streams are a pure function of the seed; a resumed run skips the
records the first run drew (`TDRTrainer.batches_drawn`), so it continues on the
very batches an uninterrupted run would have seen.
"""
import time

import numpy as np

from common import distribute
from common.checkpoints import CheckpointStore
from common.lifecycle import SaveTimer, StopSignals, check_finite_loss
from common.progress import progress
from common.results import RESULTS_FILE, append_record, proportion_ci95, record
from common.run_dir import os_errors, write_json
from common.tensorboard import RunBoard
from training.tdr_steps import class_recalls, confusion_metrics


def test_records(cm, step, setting):
  """results.jsonl records of one evaluation (confusion matrix `cm` [true, predicted]):
  accuracy and each class's recall with their 95 % intervals (binomial, normal
  approximation), and the other metrics of metrics.json (no interval)."""
  cm = np.asarray(cm, np.int64)
  support = cm.sum(axis=1)
  rows = [('accuracy', None) + proportion_ci95(np.trace(cm), cm.sum()) + (cm.sum(),)]
  rows += [('recall', c) + proportion_ci95(cm[c, c], support[c]) + (support[c],)
           for c in range(len(cm))]
  metrics = confusion_metrics(cm)
  rows += [(name, None, value, None, None) for name, value in metrics.items()
           if name != 'accuracy']
  setting = dict(setting)
  dataset = setting.pop('dataset', None)
  return [record('tdr', 'test', dataset, metric, mean, ci95, n, checkpoint_step=step,
                 **dict(setting, **({'class': c} if c is not None else {})))
          for metric, c, mean, ci95, n in rows]


class TDRRun:
  """The TDR loop of `trainer` (training/tdr_steps.py) in `run_dir`: `train()` to
  `train_steps` with logs, TensorBoard (`tb/train`, evaluations in `tb/test`),
  checkpoints (resume) and the --eval evaluations; then `test()`, the final
  evaluation, written and returned with the run's totals (also `metrics.json`;
  every evaluation's records in results.jsonl).  `setting`: what identifies the
  run in its records (dataset, model, seed, ...).

  `make_streams(train_batches, target_batches)` gives the (train, target)
  iterators with that many batches already drawn; `test_dataset` is a dataset
  or a function of the step giving one.

  The log line and TensorBoard also carry `streaming_accuracy` and
  `streaming_target_accuracy`: as the original's tf.metrics accuracies, the
  running mean, since this process started, of the values at the logged steps
  (the original's logging hook ran the metric updates only at those steps).
  """

  def __init__(self, trainer, make_streams, test_dataset, run_dir, train_steps, log_freq=100,
               eval_freq=1000, periodic_eval=False, batch_size=50, log=print,
               progress_bar=True, save_minutes=10, keep_checkpoints=3, setting=None):
    self.trainer, self.make_streams, self.test_dataset = trainer, make_streams, test_dataset
    self.run_dir, self.train_steps, self.log = run_dir, train_steps, log
    self.log_freq, self.eval_freq, self.periodic_eval = log_freq, eval_freq, periodic_eval
    self.batch_size, self.progress_bar, self.save_minutes = batch_size, progress_bar, save_minutes
    self.setting = setting or {}
    self.chief = distribute.is_chief(trainer.strategy)
    watch = {v.path: v for v in trainer.model.trainable_variables}
    watch['class_weights'] = trainer.class_weights
    self.store = CheckpointStore(run_dir.join('checkpoints'), trainer.checkpoint(), watch,
                                 keep=keep_checkpoints, name='model', strategy=trainer.strategy,
                                 log=log, trainer='tdr', run=run_dir)
    self.board = RunBoard(run_dir, trainer.strategy)
    self.history = []          # the run's evaluations, kept in its checkpoints
    self.trained_from = None   # (time, step) where train() began: test()'s totals

  def evaluate(self, step):
    """Metrics of the test set at `step`: logged, in tb/test, results.jsonl and the
    run's evaluation history."""
    trainer, chief = self.trainer, self.chief
    data = self.test_dataset(step) if callable(self.test_dataset) else self.test_dataset
    batches = int(data.cardinality())
    cm = trainer.confusion_matrix(progress(data, total=batches if batches >= 0 else None,
                                           desc='eval', unit='batch',
                                           disable=not (self.progress_bar and chief)))
    metrics = confusion_metrics(cm)
    if chief:
      recalls = {'recall/%d' % c: r for c, (r, n) in enumerate(zip(*class_recalls(cm))) if n}
      self.board.scalars('test', dict(metrics, **recalls), step)
      self.board.flush()
      for rec in test_records(cm, step, self.setting):
        append_record(self.run_dir.join(RESULTS_FILE), rec)
    self.log('step %d eval: %s' % (step, ', '.join('%s %.4f' % kv for kv in metrics.items())))
    self.history.append(dict(metrics, step=step))
    return metrics

  def train(self):
    """Train to `train_steps`, resuming from the newest intact checkpoint."""
    trainer, store, log = self.trainer, self.store, self.log
    log_freq, eval_freq, train_steps = self.log_freq, self.eval_freq, self.train_steps
    start, state = store.restore_latest(
        check=lambda status: status.assert_existing_objects_matched())
    self.run_dir.commit_config()   # training starts: config.json records it
    if start is not None:
      log('resumed from %s at step %d' % (store.path(start), trainer.current_step()))
    start = trainer.current_step()
    train_it, val_it = self.make_streams(*trainer.batches_drawn(start))
    target = {}
    streaming = {}   # name -> [sum, count] of the logged values
    self.history = list((state or {}).get('history', []))   # the evaluations before a resume
    self.trained_from = (time.time(), start)
    last_t, last_step = time.time(), start
    bar = progress(total=train_steps, initial=start,
                   disable=not (self.progress_bar and self.chief), desc='tdr', unit='step')
    timer = SaveTimer(self.save_minutes)
    done = start
    with StopSignals() as signals:
      while done < train_steps:
        n = trainer.block_end(done, train_steps, log_freq, eval_freq) - done
        out, new_target = trainer.advance(train_it, val_it, n)
        target = new_target or target
        # the first and the target loss judge the weights of step `done`, the last loss
        # those of steps done + 1 .. done + n - 1
        check_finite_loss(float(out.pop('first_loss')), done + 1, store)
        if new_target:
          check_finite_loss(float(new_target['target_loss']), done + 1, store, 'target loss')
        check_finite_loss(float(out['loss']), done + n, store, suspect_from=done + 1)
        bar.update(n)
        done += n
        if done % log_freq == 0 or done == train_steps:
          now = time.time()
          values = {k: float(v) for k, v in dict(out, **target).items()}
          for name in ('accuracy', 'target_accuracy'):
            if name in values:
              total = streaming.setdefault(name, [0.0, 0])
              total[0] += values[name]
              total[1] += 1
              values['streaming_' + name] = total[0] / total[1]
          values['examples_per_sec'] = ((done - last_step) * self.batch_size
                                        / max(now - last_t, 1e-9))
          weights = np.squeeze(trainer.class_weights.numpy(), axis=1)
          values.update({'class_weight/%d' % c: float(w) for c, w in enumerate(weights)})
          self.board.scalars('train', values, done)
          log('step %d: %s, class weights %s' % (
              done, ', '.join('%s %.4g' % (k, v) for k, v in values.items()
                              if not k.startswith('class_weight/')),
              np.array2string(weights, precision=4)))
          bar.set_postfix(loss='%.4f' % values['loss'], refresh=False)
          last_t, last_step = now, done
        if done % eval_freq == 0 and self.periodic_eval and done != train_steps:
          self.evaluate(done)   # before the save, which keeps it in `history`
        if done % eval_freq == 0 or done == train_steps or timer.due() or signals.stop:
          store.save(done, {'history': self.history})
          timer.reset()
        if signals.stop and done < train_steps:
          bar.close()
          signals.exit_after_save(done, store.path(done))
    bar.close()

  def test(self):
    """The final evaluation after `train()`: its metrics with the step, time, speed,
    class weights and evaluation history, written to metrics.json and returned."""
    trainer = self.trainer
    t0, start = self.trained_from
    final = self.evaluate(trainer.current_step())
    seconds = time.time() - t0
    result = dict(final, step=trainer.current_step(), seconds=seconds,
                  steps_per_sec=(trainer.current_step() - start) / max(seconds, 1e-9),
                  class_weights=np.squeeze(trainer.class_weights.numpy(), 1).tolist(),
                  reweight=trainer.reweight, history=self.history)
    if self.chief:
      with os_errors('cannot write %s' % self.run_dir.join('metrics.json')):
        write_json(self.run_dir.join('metrics.json'), result)
    return result
