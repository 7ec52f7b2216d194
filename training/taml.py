"""meta_train / meta_test loops of Bayesian TAML (and the MAML / Meta-SGD baselines):
`TAMLRun(flags, run_dir).train()` / `.test()`.

Thin orchestration: the math lives in models/taml/ (methods, objective), the
compiled steps in training/taml_steps.py, the episodes in data/episodes.py, the
run lifecycle in common/. A run directory (`--savedir`) holds config.json (every
flag that changes the computation), train.log, TensorBoard events in
tb/{train,val,test}/, `ckpt/model-<i>/` (weights, Adam, and the episode
samplers' random state, each committed atomically), `best/` (the best validation
id + ood acc, with info in its state.json), results.jsonl (a record per
validation / meta-test dataset, common/results.py) and one
`test_step<n>_mc<m>_ep<e>_seed<s>.log` per meta-test setting.
"""
import os
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common import distribute, precision
from common.checkpoints import CheckpointStore, read_folder
from common.errors import require, warn
from common.progress import progress
from common.results import RESULTS_FILE, CompleteFile, append_record, mean_ci95, record
from common.settings import model_fields
from common.tensorboard import RunBoard
from common.lifecycle import (SaveTimer, StopSignals, check_finite_loss, random_state_json,
                              set_random_state)
from data.episodes import EpisodeSampler
from data.taml_datasets import DATASETS, image_size, load_dataset
from models.taml import reporting
from models.taml.config import TamlConfig
from models.taml.methods.definition import LAYERS
from models.taml.parameters import TamlParameters
from training import taml_steps as steps
from training.taml_settings import SETTINGS

def config_from_flags(f):
  """The TamlConfig of the parsed flags `f`: the declared model fields
  (training/taml_settings.py) and what follows from the datasets and flags."""
  ids = f.id_dataset
  sizes = {image_size(n) for n in ids + f.ood_dataset}
  require(len(sizes) == 1, 'datasets of different image sizes cannot be mixed: %s'
          % ', '.join('%s (%d)' % (n, image_size(n)) for n in ids + f.ood_dataset))
  return TamlConfig(**model_fields(SETTINGS, lambda name: getattr(f, name)),
                    image_size=sizes.pop(), multi_dataset=len(ids) > 1,
                    method=f.method or '', fixed_support=f.jit, encoder_dtype=precision.compute_dtype(f.mixed_precision))


class Phase:
  """The parameters, strategy and episode samplers of one phase: meta_train
  (`mtr`, `mval` splits) or meta_test (`mte`)."""

  def __init__(self, f, splits_id, splits_ood):
    self.f = f
    self.cfg = config_from_flags(f)
    slow = precision.bfloat16_cpu_warning(self.cfg.learner_conv_dtype)
    if slow:
      warn('--learner_conv_dtype: ' + slow)
    self.strategy = distribute.make_strategy(f.strategy, f.num_devices, f.connect_timeout)
    distribute.check_divisible(f.metabatch, self.strategy, '--metabatch')
    self.chief = distribute.is_chief(self.strategy)
    with self.strategy.scope():
      self.params = TamlParameters(self.cfg, seed=f.seed)
    self.id_samplers = {}
    self.ood_samplers = {}
    for k, name in enumerate(f.id_dataset):
      self.id_samplers[name] = self._sampler(name, splits_id, f.seed + 1 + k)
    for k, name in enumerate(f.ood_dataset):
      splits = [s for s in splits_ood if s in DATASETS[name][1]]
      self.ood_samplers[name] = self._sampler(name, splits, f.seed + 101 + k)

  def _sampler(self, name, splits, seed):
    sampler = EpisodeSampler(load_dataset(name, self.f.data_dir, splits), name, seed)
    for split in splits:
      sampler.check(split, self.f.way, self.f.query)
    return sampler

  def episode(self, sampler, split, n_tasks=None):
    cfg = self.cfg
    ep = sampler.sample(split, n_tasks or self.f.metabatch, cfg.way, cfg.max_shot,
                        cfg.query, mode=self.f.episode_mode, pad_to=cfg.max_support)
    return {k: tf.constant(v) for k, v in ep.items()}

  def seed(self, i):
    return tf.constant([self.f.seed, i], tf.int32)


def _log(logfile, line):
  if sys.stdout.isatty():
    tqdm.write(line)   # above the bar of the same terminal
  else:   # a file: no bar to clear (tqdm.write would redraw a bar not due yet)
    print(line, flush=True)
  logfile.write(line + '\n')
  logfile.flush()


def _all_samplers(phase):
  out = {'id/' + k: v for k, v in phase.id_samplers.items()}
  out.update({'ood/' + k: v for k, v in phase.ood_samplers.items()})
  return out


def sampler_states(phase):
  """The episode samplers' random states, as JSON (saved with each checkpoint)."""
  return {name: random_state_json(s.rng) for name, s in _all_samplers(phase).items()}


def restore_sampler_states(phase, states):
  samplers = _all_samplers(phase)
  for name, state in states.items():
    if name in samplers:
      set_random_state(samplers[name].rng, state)


def validation_ood_sets(phase):
  """The OOD set(s) validated: the first with a validation split, as the original."""
  return [(n, s) for n, s in phase.ood_samplers.items() if 'mval' in s.classes][:1]


def validate(phase, eval_step, task_accs=None):
  """Mean cent, kl, id_acc (per id dataset) and ood_acc over `n_val_tasks` tasks.

  task_accs: a dict that receives ('id' | 'ood', dataset) -> per-task accuracies."""
  f = phase.f
  n_batches = max(f.n_val_tasks // f.metabatch, 1)
  task_accs = {} if task_accs is None else task_accs
  results = {}
  for name, sampler in phase.id_samplers.items():
    avg = reporting.Averages('cent', 'kl', 'id_acc')
    accs = task_accs.setdefault(('id', name), [])
    for j in progress(range(n_batches), desc='val/%s' % name, unit='batch', leave=False,
                      disable=not phase.chief):
      cent, kl, acc = eval_step(phase.episode(sampler, 'mval'), phase.seed(j))
      avg.add(cent=cent, kl=kl, id_acc=acc)
      accs.append(acc.numpy())
    results[name] = avg.means()
  for name, sampler in validation_ood_sets(phase):
    accs = [eval_step(phase.episode(sampler, 'mval'), phase.seed(j))[2]
            for j in progress(range(n_batches), desc='val/%s' % name, unit='batch',
                              leave=False, disable=not phase.chief)]
    results['ood'] = {'ood_acc': float(np.mean(accs))}
    task_accs[('ood', name)] = [a.numpy() for a in accs]
  return results


def record_evaluation(run_dir, f, cfg, kind, task_accs, step, mc_samples):
  """One results.jsonl record per dataset (accuracy: mean and 95 % interval over tasks);
  returns (role, dataset) -> (mean, ci95)."""
  out = {}
  for (role, name), accs in task_accs.items():
    accs = np.concatenate([np.ravel(a) for a in accs])
    mean, ci95 = mean_ci95(accs)
    out[role, name] = mean, ci95
    append_record(run_dir.join(RESULTS_FILE), record(
        'taml', kind, name, 'acc', mean, ci95, len(accs), shots=None,
        mc_samples=mc_samples, inner_steps=f.n_steps, seed=f.seed, checkpoint_step=step,
        role=role, way=f.way, max_shot=f.max_shot, query=f.query,
        episode_mode=f.episode_mode, model=model_name(cfg.algorithm),
        method=cfg.algorithm.name, alpha_on=f.alpha_on,
        omega_on=f.omega_on, gamma_on=f.gamma_on, z_on=f.z_on, bn_grad=f.bn_grad,
        id_dataset=','.join(f.id_dataset), ood_dataset=','.join(f.ood_dataset)))
  return out


def model_name(method):
  """The records' model: taml (any balancing variable), metasgd (learned step
  sizes only), maml, or (a method adapting some layers only, e.g. anil) its name
  (records written before this name say 'msgd' for metasgd)."""
  if method.balancing:
    return 'taml'
  if method.adapted != LAYERS:
    return method.name
  return 'metasgd' if method.learned_step_sizes else 'maml'


def evaluation_scalars(measured):
  """TensorBoard tags `<id|ood>/<dataset>/{acc,ci95}` of `record_evaluation`'s result."""
  out = {}
  for (role, name), (mean, ci95) in measured.items():
    out.update({'%s/%s/acc' % (role, name): mean, '%s/%s/ci95' % (role, name): ci95})
  return out


def validation_lines(results, i):
  """One `<dataset>:` line per id dataset (multi-dataset) and the `val:` line.

  The `val:` line holds the id averages and, when validated, ood_acc, as the
  original's single-dataset log line.
  """
  fmt = lambda r: ', '.join('%s %.4f' % kv for kv in r.items())
  ids = {k: v for k, v in results.items() if k != 'ood'}
  lines = ['%s: iter %d, %s' % (k, i, fmt(v)) for k, v in ids.items()] if len(ids) > 1 else []
  val = {k: float(np.mean([v[k] for v in ids.values()])) for k in ('cent', 'kl', 'id_acc')}
  val.update(results.get('ood', {}))
  return lines + ['val: iter %d, %s' % (i, fmt(val))]


def selection_score(results, multi):
  """Best-model criterion: id_acc (multi-dataset) or id_acc + ood_acc."""
  ids = [v['id_acc'] for k, v in results.items() if k != 'ood']
  score = float(np.mean(ids))
  if not multi and 'ood' in results:
    score += results['ood']['ood_acc']
  return score


def finite_results(results, i):
  """True if every validation value is finite; else one warning line (the
  accuracies of a diverged model can look finite while its losses are NaN)."""
  bad = ['%s %s' % (k, v) for r in results.values() for k, v in r.items()
         if not np.isfinite(v)]
  if bad:
    warn('validation at iteration %d is not finite (%s); not taken as a best model'
         % (i, ', '.join(bad[:4])))
  return not bad


def validation_scalars(results, measured):
  """`evaluation_scalars` plus each id dataset's cent and kl."""
  out = evaluation_scalars(measured)
  for name, r in results.items():
    if name != 'ood':
      out.update({'id/%s/cent' % name: r['cent'], 'id/%s/kl' % name: r['kl']})
  return out


def write_balancing_summaries(board, summary_step, episode, i):
  """omega, gamma, z of the training tasks: scalars and histograms in tb/train."""
  summary = {k: v.numpy() for k, v in summary_step(episode['xtr'], episode['ytr']).items()}
  board.scalars('train', reporting.balancing_scalars(summary), i)
  with board.as_default('train', i):
    for name in ('omega', 'gamma', 'z'):
      if name in summary:
        tf.summary.histogram('balancing/' + name, summary[name])


def log_balancing_tables(phase, cfg, balance_step, names, log):
  """The original's omega / gamma tables for 10 validation tasks (id, then ood)."""
  tables = [('ID ', phase.id_samplers[names[0]])]
  ood_val = [s for s in phase.ood_samplers.values() if 'mval' in s.classes]
  if len(names) == 1 and ood_val:
    tables.append(('OOD', ood_val[0]))
  for flag, sampler in tables:
    ep = phase.episode(sampler, 'mval', n_tasks=10)
    omega, gamma = balance_step(ep['xtr'], ep['ytr'])
    log(reporting.balancing_table(
        flag, ep['ytr'].numpy(), omega.numpy() if 'omega' in cfg.algorithm.balancing else None,
        gamma.numpy() if 'gamma' in cfg.algorithm.balancing else None))


class TAMLRun:
  """A TAML-family run directory `run_dir` (a locked `common.run_dir.RunDirectory`)
  with the parsed flags `f`: `train()` is --mode meta_train, `test()` --mode meta_test."""

  def __init__(self, f, run_dir):
    self.f, self.run_dir = f, run_dir

  def train(self):
    """Meta-train into the run directory, resuming from its newest intact checkpoint."""
    f, run_dir = self.f, self.run_dir
    phase = Phase(f, ['mtr', 'mval'], ['mval'])
    cfg = phase.cfg
    strategy = phase.strategy
    with strategy.scope():
      optimizer = steps.make_optimizer(f.meta_lr)
      best_score = tf.Variable(-np.inf, dtype=tf.float64, name='best_score')
    logfile = open(run_dir.join('train.log') if phase.chief else os.devnull, 'a')
    log = lambda line: _log(logfile, line)
    ckpt = tf.train.Checkpoint(model=phase.params, optimizer=optimizer, best_score=best_score)
    store = CheckpointStore(run_dir.join('ckpt'), ckpt, phase.params.by_name,
                            keep=f.keep_checkpoints, name='model', strategy=strategy, log=log,
                            trainer='taml', run=run_dir, links=[run_dir.join('best')])
    best = tf.train.Checkpoint(model=phase.params)
    start, state = store.restore_latest()
    run_dir.commit_config()   # training starts: config.json records it
    if start is None:
      start = 0
      log(' '.join('--%s=%s' % (k, v) for k, v in sorted(vars(f).items())))
    else:
      restore_sampler_states(phase, state['samplers'])
      optimizer.learning_rate.assign(f.meta_lr)   # the checkpoint's, unless --override_config
      log('resumed from iteration %d (%s)' % (start, store.path(start)))
    train_step = steps.make_train_step(phase.params, optimizer, cfg, f.metabatch, f.jit,
                                       strategy)
    eval_step = steps.make_eval_step(phase.params, cfg, f.metabatch, strategy=strategy)
    balancing = cfg.algorithm.balancing
    balance_step = (steps.make_balancing_step(phase.params, cfg, 10)
                    if {'omega', 'gamma'} & set(balancing) else None)
    summary_step = (steps.make_balancing_summary_step(phase.params, cfg, f.metabatch)
                    if balancing else None)
    board = RunBoard(run_dir, strategy)
    avg = reporting.Averages('cent', 'kl', 'id_acc')
    names = list(phase.id_samplers)
    timer = SaveTimer(f.save_minutes)
    bar = progress(range(start + 1, f.n_train_iters + 1), initial=start,
                   total=f.n_train_iters, desc='meta_train', unit='iter',
                   disable=not phase.chief)
    t0 = time.time()
    with StopSignals() as signals:
      for i in bar:
        sampler = phase.id_samplers[names[i % len(names)]]
        episode = phase.episode(sampler, 'mtr')
        out = train_step(episode, phase.seed(i))
        check_finite_loss(float(out['loss']), i, store, 'outer loss')
        avg.add(cent=out['cent'], kl=out['kl'], id_acc=out['acc'])
        if i % f.log_freq == 0:
          means = avg.means()
          log('Iter %d start, learning rate %f (%.2f s/iter)'
              % (i, f.meta_lr, (time.time() - t0) / f.log_freq))
          log(avg.line('train'))
          bar.set_postfix({k: '%.3f' % v for k, v in means.items()}, refresh=False)
          board.scalars('train', means, i)
          if summary_step is not None:   # the balancing variables on this step's tasks
            write_balancing_summaries(board, summary_step, episode, i)
          avg.clear()
          t0 = time.time()
        validated = i % f.val_freq == 0 or i == f.n_train_iters
        if i % f.hist_freq == 0 or validated:   # so that short runs have histograms too
          with board.as_default('train', i):
            for name, var in phase.params.by_name.items():
              tf.summary.histogram(name, var)
        if validated:
          store.check_finite(i)   # nothing of a non-finite model is written, best/ included
          task_accs = {}
          results = validate(phase, eval_step, task_accs)
          for line in validation_lines(results, i):
            log(line)
          score = selection_score(results, cfg.multi_dataset)
          if phase.chief:
            measured = record_evaluation(run_dir, f, cfg, 'val', task_accs, i, 0)
            board.scalars('val', dict(validation_scalars(results, measured), score=score), i)
            board.flush()
          if finite_results(results, i) and score > best_score.numpy():
            best_score.assign(score)
            store.publish(run_dir.join('best'), i, best,
                          {'iteration': i, 'score': score, 'results': results})
            log('new best model at iteration %d (score %.4f)' % (i, score))
        if balance_step is not None and i % f.balance_freq == 0:
          log_balancing_tables(phase, cfg, balance_step, names, log)
        # after everything that draws episodes in iteration i, so a resume replays exactly
        if validated or i % f.save_freq == 0 or timer.due() or signals.stop:
          store.save(i, {'iteration': i, 'samplers': sampler_states(phase)})
          timer.reset()
        if signals.stop and i < f.n_train_iters:
          bar.close()
          signals.exit_after_save(i, store.path(i))
    bar.close()   # the last iteration always validated and saved
    logfile.close()

  def test(self):
    """Meta-test the best validated model of the run directory on the `mte` splits."""
    f, run_dir = self.f, self.run_dir
    best_path = run_dir.join('best')
    require(os.path.isdir(best_path),
            'no validated checkpoint in %s (expected %s/): run meta_train to the end '
            'or until its first validation' % (run_dir.path, best_path))
    phase = Phase(f, ['mte'], ['mte'])
    cfg = phase.cfg
    info = read_folder(best_path, tf.train.Checkpoint(model=phase.params),
                       check=lambda status: status.assert_existing_objects_matched(),
                       trainer='taml', variables=phase.params.by_name)
    eval_step = steps.make_eval_step(phase.params, cfg, f.metabatch, f.n_mc_samples,
                                     phase.strategy)
    n_batches = max(f.n_test_episodes // f.metabatch, 1)
    task_accs = {}
    # complete or not at all: an interrupted re-run keeps an earlier log of this setting
    with (CompleteFile(test_log_path(run_dir, f)) if phase.chief
          else open(os.devnull, 'w')) as logfile:
      _log(logfile, 'Meta-test model-%d' % info['iteration'])
      for flag, samplers in (('id ', phase.id_samplers), ('ood', phase.ood_samplers)):
        for name, sampler in samplers.items():
          accs = task_accs.setdefault((flag.strip(), name), [])
          for j in progress(range(n_batches), desc='%s/%s' % (flag.strip(), name),
                            unit='batch', disable=not phase.chief):
            accs.append(eval_step(phase.episode(sampler, 'mte'), phase.seed(j))[2].numpy())
          _log(logfile, reporting.confidence_line(flag, name, np.concatenate(accs)))
    if phase.chief:
      measured = record_evaluation(run_dir, f, cfg, 'test', task_accs, info['iteration'],
                                   f.n_mc_samples)
      board = RunBoard(run_dir, phase.strategy)
      board.scalars('test', evaluation_scalars(measured), info['iteration'])
      board.flush()


def test_log_path(run_dir, f):
  """One log per setting: a meta-test with other steps, MC samples, episodes or
  seed never replaces another's."""
  return run_dir.join('test_step%d_mc%d_ep%d_seed%d.log' % (
      f.n_steps, f.n_mc_samples, f.n_test_episodes, f.seed))
