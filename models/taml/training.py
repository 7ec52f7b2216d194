"""meta_train / meta_test loops of Bayesian TAML (and the MAML / Meta-SGD baselines).

Thin orchestration: the math lives in objective.py, the compiled steps in
steps.py, the episodes in data/episodes.py.  A run directory (`--savedir`)
holds config.json, train.log, TensorBoard events, `ckpt/` (resumable, with the
episode sampler's random state) and `best/` (best validation id + ood acc).
"""
import json
import os
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common import distribute, precision
from common.errors import UserError, require
from data.episodes import EpisodeSampler
from data.taml_datasets import DATASETS, image_size, load_dataset
from models.taml import reporting, steps
from models.taml.config import TamlConfig
from models.taml.parameters import TamlParameters

CONFIG_FILE = 'config.json'


def config_from_flags(f):
  ids = f.id_dataset
  sizes = {image_size(n) for n in ids + f.ood_dataset}
  require(len(sizes) == 1, 'datasets of different image sizes cannot be mixed: %s'
          % ', '.join('%s (%d)' % (n, image_size(n)) for n in ids + f.ood_dataset))
  return TamlConfig(way=f.way, max_shot=f.max_shot, query=f.query, n_steps=f.n_steps,
                    inner_lr=f.inner_lr, alpha_on=f.alpha_on, omega_on=f.omega_on,
                    gamma_on=f.gamma_on, z_on=f.z_on, image_size=sizes.pop(),
                    multi_dataset=len(ids) > 1, bn_counts_padding=f.bn_counts_padding,
                    bn_grad=f.bn_grad,
                    fixed_support=f.jit_compile,
                    encoder_dtype=precision.compute_dtype(f.mixed_precision))


def check_run_config(savedir, cfg, write, training=True):
  """Refuse a savedir whose checkpoints belong to another architecture or, when
  training resumes, were trained another way (`TamlConfig.TRAINING_FIELDS`:
  meta_test takes no outer gradient, so --bn_grad does not matter there)."""
  path = os.path.join(savedir, CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as fh:
      saved = json.load(fh)
    saved_value = lambda k: saved.get(k, TamlConfig.LEGACY_VALUES.get(k))
    diff = {k: (saved_value(k), v) for k, v in cfg.run_config(training).items()
            if saved_value(k) != v}
    require(not diff, 'the checkpoint in %s was trained with another configuration '
            '(saved vs now: %s); use another --savedir or the same flags'
            % (savedir, ', '.join('%s %s vs %s' % (k, a, b) for k, (a, b) in diff.items())))
  elif write:
    with open(path, 'w') as fh:
      json.dump(cfg.run_config(), fh, indent=1)


class Run:
  """Parameters, samplers and compiled steps shared by meta_train and meta_test."""

  def __init__(self, f, splits_id, splits_ood):
    self.f = f
    self.cfg = config_from_flags(f)
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
  tqdm.write(line)
  logfile.write(line + '\n')
  logfile.flush()


def _sampler_state_path(savedir):
  return os.path.join(savedir, 'ckpt', 'samplers.json')


def _all_samplers(run):
  out = {'id/' + k: v for k, v in run.id_samplers.items()}
  out.update({'ood/' + k: v for k, v in run.ood_samplers.items()})
  return out


def _save_sampler_states(run, savedir, step):
  state = {'step': step, 'samplers': {}}
  for name, s in _all_samplers(run).items():
    kind, keys, pos, has_gauss, cached = s.rng.get_state()
    state['samplers'][name] = [kind, keys.tolist(), pos, has_gauss, cached]
  tmp = _sampler_state_path(savedir) + '.tmp'
  with open(tmp, 'w') as fh:
    json.dump(state, fh)
  os.replace(tmp, _sampler_state_path(savedir))


def _restore_sampler_states(run, savedir, step):
  path = _sampler_state_path(savedir)
  if not os.path.exists(path):
    return
  with open(path) as fh:
    state = json.load(fh)
  if state['step'] != step:
    return
  samplers = _all_samplers(run)
  for name, (kind, keys, pos, has_gauss, cached) in state['samplers'].items():
    if name in samplers:
      samplers[name].rng.set_state((kind, np.array(keys, np.uint32), pos, has_gauss, cached))


def validate(run, eval_step):
  """Mean cent, kl, id_acc (per id dataset) and ood_acc over `n_val_tasks` tasks."""
  f = run.f
  n_batches = max(f.n_val_tasks // f.metabatch, 1)
  results = {}
  for name, sampler in run.id_samplers.items():
    avg = reporting.Averages('cent', 'kl', 'id_acc')
    for j in range(n_batches):
      cent, kl, acc = eval_step(run.episode(sampler, 'mval'), run.seed(j))
      avg.add(cent=cent, kl=kl, id_acc=acc)
    results[name] = avg.means()
  ood = [(n, s) for n, s in run.ood_samplers.items() if 'mval' in s.classes]
  for name, sampler in ood[:1]:   # the original validates on the first OOD set
    accs = [eval_step(run.episode(sampler, 'mval'), run.seed(j))[2] for j in range(n_batches)]
    results['ood'] = {'ood_acc': float(np.mean(accs))}
  return results


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


def meta_train(f):
  os.makedirs(f.savedir, exist_ok=True)
  run = Run(f, ['mtr', 'mval'], ['mval'])
  cfg = run.cfg
  check_run_config(f.savedir, cfg, write=run.chief)
  strategy = run.strategy
  with strategy.scope():
    optimizer = steps.make_optimizer(f.meta_lr)
    step_var = tf.Variable(0, dtype=tf.int64, name='iteration')
    best_score = tf.Variable(-np.inf, dtype=tf.float64, name='best_score')
  ckpt = tf.train.Checkpoint(model=run.params, optimizer=optimizer, iteration=step_var,
                             best_score=best_score)
  checkpoints = distribute.ChiefCheckpoints(strategy, ckpt, os.path.join(f.savedir, 'ckpt'),
                                            max_to_keep=10, checkpoint_name='model')
  best = tf.train.Checkpoint(model=run.params)
  latest = checkpoints.latest()
  if latest:
    ckpt.restore(latest).expect_partial()
    _restore_sampler_states(run, f.savedir, int(step_var.numpy()))
  start = int(step_var.numpy())
  train_step = steps.make_train_step(run.params, optimizer, cfg, f.metabatch, f.jit_compile,
                                     strategy)
  eval_step = steps.make_eval_step(run.params, cfg, f.metabatch, strategy=strategy)
  balance_step = (steps.make_balancing_step(run.params, cfg, 10)
                  if (cfg.omega_on or cfg.gamma_on) else None)
  writer = distribute.summary_writer(strategy, os.path.join(f.savedir, 'tb'))
  logfile = open(os.path.join(f.savedir, 'train.log') if run.chief else os.devnull, 'a')
  if start == 0:
    _log(logfile, ' '.join('--%s=%s' % (k, v) for k, v in sorted(vars(f).items())))
  else:
    _log(logfile, 'resumed from iteration %d' % start)

  def save(i):
    step_var.assign(i)
    checkpoints.save(checkpoint_number=i)
    if run.chief:
      _save_sampler_states(run, f.savedir, i)

  avg = reporting.Averages('cent', 'kl', 'id_acc')
  names = list(run.id_samplers)
  bar = tqdm(range(start + 1, f.n_train_iters + 1), initial=start, total=f.n_train_iters,
             desc='meta_train', dynamic_ncols=True, mininterval=1.0, disable=not run.chief)
  t0 = time.time()
  for i in bar:
    sampler = run.id_samplers[names[i % len(names)]]
    out = train_step(run.episode(sampler, 'mtr'), run.seed(i))
    loss = float(out['loss'])
    if not np.isfinite(loss):
      raise UserError('non-finite outer loss %r at iteration %d; stopped without saving. '
                      'The last good checkpoint is %s'
                      % (loss, i, checkpoints.latest()))
    avg.add(cent=out['cent'], kl=out['kl'], id_acc=out['acc'])
    if i % f.log_freq == 0:
      means = avg.means()
      _log(logfile, 'Iter %d start, learning rate %f (%.2f s/iter)'
           % (i, f.meta_lr, (time.time() - t0) / f.log_freq))
      _log(logfile, avg.line('train'))
      bar.set_postfix({k: '%.3f' % v for k, v in means.items()})
      with writer.as_default(step=i):
        for k, v in means.items():
          tf.summary.scalar('train/' + k, v)
      avg.clear()
      t0 = time.time()
    if i % f.hist_freq == 0:
      with writer.as_default(step=i):
        for name, var in run.params.by_name.items():
          tf.summary.histogram(name, var)
    if i % f.save_freq == 0:
      save(i)
    if i % f.val_freq == 0 or i == f.n_train_iters:
      results = validate(run, eval_step)
      for line in validation_lines(results, i):
        _log(logfile, line)
      score = selection_score(results, cfg.multi_dataset)
      with writer.as_default(step=i):
        for name, r in results.items():
          for k, v in r.items():
            tf.summary.scalar('val/%s/%s' % (name, k), v)
      if score > best_score.numpy():
        best_score.assign(score)
        best_dir = os.path.join(f.savedir, 'best')
        distribute.write_checkpoint(strategy, best, os.path.join(best_dir, 'model'))
        if run.chief:
          _write_json(os.path.join(best_dir, 'info.json'),
                      {'iteration': i, 'score': score, 'results': results})
        _log(logfile, 'new best model at iteration %d (score %.4f)' % (i, score))
      save(i)
    if balance_step is not None and i % f.balance_freq == 0:
      tables = [('ID ', run.id_samplers[names[0]])]
      ood_val = [s for s in run.ood_samplers.values() if 'mval' in s.classes]
      if len(names) == 1 and ood_val:
        tables.append(('OOD', ood_val[0]))
      for flag, sampler in tables:
        ep = run.episode(sampler, 'mval', n_tasks=10)
        omega, gamma = balance_step(ep['xtr'], ep['ytr'])
        _log(logfile, reporting.balancing_table(
            flag, ep['ytr'].numpy(), omega.numpy() if cfg.omega_on else None,
            gamma.numpy() if cfg.gamma_on else None))
  bar.close()   # the last iteration always validated and saved
  logfile.close()


def _write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as fh:
    json.dump(obj, fh, indent=1)
  os.replace(tmp, path)


def meta_test(f):
  require(os.path.isdir(f.savedir), 'no such --savedir %s: meta_train first' % f.savedir)
  best_path = os.path.join(f.savedir, 'best', 'model')
  require(os.path.exists(best_path + '.index'),
          'no validated checkpoint in %s (expected %s.*): run meta_train to the end '
          'or until its first validation' % (f.savedir, best_path))
  cfg = config_from_flags(f)
  check_run_config(f.savedir, cfg, write=False, training=False)
  run = Run(f, ['mte'], ['mte'])
  try:
    tf.train.Checkpoint(model=run.params).read(best_path).assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as err:
    raise UserError('checkpoint %s does not match this configuration (%s)'
                    % (best_path, str(err).splitlines()[0]))
  with open(os.path.join(f.savedir, 'best', 'info.json')) as fh:
    info = json.load(fh)
  eval_step = steps.make_eval_step(run.params, cfg, f.metabatch, f.n_mc_samples, run.strategy)
  log_path = os.path.join(f.savedir, 'test_step%d_mc%d.log' % (f.n_steps, f.n_mc_samples))
  n_batches = max(f.n_test_episodes // f.metabatch, 1)
  with open(log_path if run.chief else os.devnull, 'w') as logfile:
    _log(logfile, 'Meta-test model-%d' % info['iteration'])
    for flag, samplers in (('id ', run.id_samplers), ('ood', run.ood_samplers)):
      for name, sampler in samplers.items():
        accs = []
        for j in tqdm(range(n_batches), desc='%s/%s' % (flag.strip(), name),
                      dynamic_ncols=True, mininterval=1.0):
          accs.append(eval_step(run.episode(sampler, 'mte'), run.seed(j))[2].numpy())
        _log(logfile, reporting.confidence_line(flag, name, np.concatenate(accs)))
