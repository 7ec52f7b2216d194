"""The TDR training loop (the original's Estimator loop) on the run lifecycle of
common/: atomic checkpoints, time-based and signal checkpoints, non-finite guard.

The input streams are a pure function of the seed; a resumed run skips the
records the first run drew (`TDRTrainer.batches_drawn`), so it continues on the
very batches an uninterrupted run would have seen.
"""
import time

import numpy as np
import tensorflow as tf

from common import distribute
from common.checkpoints import CheckpointStore
from common.lifecycle import SaveTimer, StopSignals, check_finite_loss
from common.progress import progress
from common.run_dir import os_errors, write_json


def _scalars(writer, values, step):
  with writer.as_default(step=step):
    for name, value in values.items():
      tf.summary.scalar(name, value)


def fit(trainer, make_streams, test_dataset, run_dir, train_steps, log_freq=100,
        eval_freq=1000, periodic_eval=False, batch_size=50, log=print, progress_bar=True,
        save_minutes=10, keep_checkpoints=3):
  """Train to `train_steps` with logs, TensorBoard, checkpoints (resume) and
  evaluation; write and return the final metrics (also `metrics.json`).

  `make_streams(train_batches, target_batches)` gives the (train, target)
  iterators with that many batches already drawn; `test_dataset` is a dataset
  or a function of the step giving one.

  The log line and TensorBoard also carry `streaming_accuracy` and
  `streaming_target_accuracy`: as the original's tf.metrics accuracies, the
  running mean, since this process started, of the values at the logged steps
  (the original's logging hook ran the metric updates only at those steps).
  """
  strategy = trainer.strategy
  chief = distribute.is_chief(strategy)
  watch = {v.path: v for v in trainer.model.trainable_variables}
  watch['class_weights'] = trainer.class_weights
  store = CheckpointStore(run_dir.join('checkpoints'), trainer.checkpoint(), watch,
                          keep=keep_checkpoints, name='model', strategy=strategy, log=log,
                          trainer='tdr', run=run_dir)
  start, state = store.restore_latest(
      check=lambda status: status.assert_existing_objects_matched())
  run_dir.commit_config()   # training starts: config.json records it
  if start is not None:
    log('resumed from %s at step %d' % (store.path(start), trainer.current_step()))
  writers = {k: distribute.summary_writer(strategy, run_dir.join(k)) for k in ('train', 'eval')}
  start = trainer.current_step()
  train_it, val_it = make_streams(*trainer.batches_drawn(start))
  target = {}
  streaming = {}   # name -> [sum, count] of the logged values
  history = list((state or {}).get('history', []))   # the evaluations before a resume
  t0, last_t, last_step = time.time(), time.time(), start

  def evaluate(step):
    metrics = trainer.evaluate(test_dataset(step) if callable(test_dataset) else test_dataset)
    _scalars(writers['eval'], metrics, step)
    log('step %d eval: %s' % (step, ', '.join('%s %.4f' % kv for kv in metrics.items())))
    history.append(dict(metrics, step=step))
    return metrics

  bar = progress(total=train_steps, initial=start, disable=not (progress_bar and chief) or None,
                 desc='tdr', unit='step')
  timer = SaveTimer(save_minutes)
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
        values['examples_per_sec'] = (done - last_step) * batch_size / max(now - last_t, 1e-9)
        weights = np.squeeze(trainer.class_weights.numpy(), axis=1)
        values.update({'class_weight/%d' % c: float(w) for c, w in enumerate(weights)})
        _scalars(writers['train'], values, done)
        log('step %d: %s, class weights %s' % (
            done, ', '.join('%s %.4g' % (k, v) for k, v in values.items()
                            if not k.startswith('class_weight/')),
            np.array2string(weights, precision=4)))
        bar.set_postfix(loss='%.4f' % values['loss'], refresh=False)
        last_t, last_step = now, done
      if done % eval_freq == 0 and periodic_eval and done != train_steps:
        evaluate(done)   # before the save, which keeps it in `history`
      if done % eval_freq == 0 or done == train_steps or timer.due() or signals.stop:
        store.save(done, {'history': history})
        timer.reset()
      if signals.stop and done < train_steps:
        bar.close()
        signals.exit_after_save(done, store.path(done))
  bar.close()
  final = evaluate(trainer.current_step())
  seconds = time.time() - t0
  result = dict(final, step=trainer.current_step(), seconds=seconds,
                steps_per_sec=(trainer.current_step() - start) / max(seconds, 1e-9),
                class_weights=np.squeeze(trainer.class_weights.numpy(), 1).tolist(),
                reweight=trainer.reweight, history=history)
  if chief:
    with os_errors('cannot write %s' % run_dir.join('metrics.json')):
      write_json(run_dir.join('metrics.json'), result)
  return result
