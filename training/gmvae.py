"""Training loops of gmvae_main.py: Meta-GMVAE (Omniglot images or miniImageNet
features) and the SimCLR feature extractor, on the run lifecycle of common/
(locked run directory, atomic checkpoints with every random state, time-based
and signal checkpoints, non-finite guard).  The compiled steps they call are
training/gmvae_steps.py (Meta-GMVAE) and training/simclr_steps.py (SimCLR).

Evaluations persist: each validation and test appends records to
`<save-dir>/results.jsonl` (common/results.py), each test setting writes its own
complete `test_shots<..>_ep<e>_mc<m>_query<q>_seed<s>.log`; TensorBoard in
`<save-dir>/tb/{train,val,test}/` (losses; Omniglot: reconstructions and the
decoded mixture components of a fixed validation set at every validation)."""
import math
import os

import numpy as np
import tensorflow as tf

from common import distribute
from common.checkpoints import CheckpointStore, read_folder
from common.errors import require
from common.lifecycle import (SaveTimer, StopSignals, check_finite_loss, random_state_json,
                              set_random_state)
from common.progress import progress
from common.results import RESULTS_FILE, CompleteFile, append_record, record
from common.tensorboard import RunBoard
from data.gmvae import episodes
from training.gmvae_steps import GMVAETrainer, make_image_step

IMAGE_SET_PER_CLASS = 4   # images per validation class in the TensorBoard image set


class GMVAERun:
  """Meta-GMVAE training with validation, best checkpoints per shot (`train()`) and
  the test (`test()`: after `train()`, or alone to re-test a trained run).

  splits: dict train/val/test of [K, N, ...] arrays; val_shots: shots validated every
  freq_iters (a best checkpoint each); test_plan: (best-checkpoint shot, test shot) pairs.
  """

  def __init__(self, cfg, splits, opts, run_dir, val_shots, test_plan, log=print):
    self.cfg, self.opts, self.run_dir, self.log = cfg, opts, run_dir, log
    self.val_shots, self.test_plan = list(val_shots), list(test_plan)
    self.splits = splits
    self.pool = splits['train'].reshape((-1,) + splits['train'].shape[2:])
    if opts.cpu_devices:
      distribute.split_cpu(opts.cpu_devices)
    self.strategy = distribute.make_strategy(opts.strategy, opts.num_devices,
                                             opts.connect_timeout)
    self.trainer = GMVAETrainer(cfg, opts.batch_size, opts.sample_size, opts.lr,
                                opts.weight_decay, opts.seed, opts.jit, self.strategy)
    self.best = {'%dshot' % s: tf.Variable(-1., name='best_%dshot' % s) for s in self.val_shots}
    self.ckpt = tf.train.Checkpoint(model=self.trainer, best=self.best)
    self.store = CheckpointStore(run_dir.join('ckpt'), self.ckpt, self.trainer.params,
                                 keep=opts.keep_checkpoints, strategy=self.strategy, log=log,
                                 trainer='gmvae', run=run_dir,
                                 links=[self.best_path(s) for s in self.val_shots])
    self.params_ckpt = tf.train.Checkpoint(params=self.trainer.params)
    self.board = RunBoard(run_dir, self.strategy)
    self.chief = distribute.is_chief(self.strategy)
    if cfg.images:
      self.image_set = image_set(splits['val'], opts.way)
      self.image_step = make_image_step(self.trainer)
    self.trained = False   # train() ran in this process: test() takes its parameters

  def best_path(self, shot):
    return self.run_dir.join('%dshot_best' % shot)

  def evaluate(self, split, shot, rng):
    o = self.opts
    return episodes.evaluate(self.trainer.accuracy, self.splits[split], o.way, shot, o.query,
                             o.batch_size, o.eval_episodes, rng, o.progress, split)

  def train(self):
    """Train to --train-iters (whole validation periods of --freq-iters, as the
    original's epochs; --debug: one iteration and one validation)."""
    o = self.opts
    start, _ = self.store.restore_latest()
    self.run_dir.commit_config()   # training starts: config.json records it
    if start is not None:
      self.log('resumed from %s at iteration %d' % (self.store.path(start), start))
    step = int(self.trainer.step.numpy())
    freq = 1 if o.debug else o.freq_iters
    total = 1 if o.debug else math.ceil(o.train_iters / freq) * freq
    timer = SaveTimer(o.save_minutes)
    bar = progress(total=total, initial=step, desc='gmvae', unit='iter',
                   disable=not o.progress)
    with StopSignals() as signals:
      while step < total:
        x = episodes.train_batch(self.pool, o.batch_size, o.sample_size,
                                 np.random.RandomState([o.seed, step]))
        rec, kl, finite = self.trainer.train_step(tf.constant(x))
        rec, kl = float(rec), float(kl)
        if not bool(finite):   # the step changed nothing
          check_finite_loss(float('nan'), step + 1, self.store,
                            'loss or gradient (rec %s, kld %s; lower --lr?)' % (rec, kl))
        self.board.scalars('train', {'rec': rec, 'kld': kl, 'loss': rec + kl}, step)
        step += 1
        bar.set_postfix(rec='%.4f' % rec, kld='%.4f' % kl, refresh=False)
        bar.update(1)
        if step % freq == 0:
          self.validate(step // freq - 1)
          self.board.flush()
        if step % freq == 0 or timer.due() or signals.stop:
          self.store.save(step)
          timer.reset()
        if signals.stop and step < total:
          bar.close()
          signals.exit_after_save(step, self.store.path(step))
    bar.close()
    self.trained = True

  def validate(self, epoch):
    """1- and 5-shot (or --shot) validation; a new best is published at once."""
    o = self.opts
    iteration = int(self.trainer.step.numpy())
    self.store.check_finite(iteration)
    for shot in self.val_shots:
      mean, conf = self.evaluate('val', shot, np.random.RandomState([o.seed, 1, epoch, shot]))
      self.note_result('val', shot, mean, conf, iteration, 'current', epoch=epoch)
      best = self.best['%dshot' % shot]
      if np.isfinite(mean) and mean > float(best.numpy()):
        best.assign(mean)
        self.store.publish(self.best_path(shot), epoch, self.params_ckpt,
                           {'epoch': epoch, 'accuracy': float(mean), 'iteration': iteration},
                           weights_step=iteration)
      self.log('%dshot %d-th EPOCH Val Accuracy: %.4f, BEST Accuracy: %.4f'
               % (shot, epoch, mean, float(best.numpy())))

    if self.cfg.images and self.chief:
      self.write_images(iteration)

  def note_result(self, kind, shot, mean, conf, iteration, checkpoint, **extra):
    """A results.jsonl record and the TensorBoard scalars `<shot>shot/{acc,ci95}`."""
    if not self.chief:
      return
    o = self.opts
    append_record(self.run_dir.join(RESULTS_FILE), record(
        'gmvae', kind, o.dataset, 'acc', mean, conf, o.eval_episodes, shots=shot,
        mc_samples=o.test_mc_sample_size, inner_steps=None, seed=o.seed,
        checkpoint_step=iteration, checkpoint=checkpoint, way=o.way, query=o.query,
        em_iters=o.semisupervised_em_iters, data_dir=os.path.abspath(o.data_dir), **extra))
    self.board.scalars(kind, {'%dshot/acc' % shot: mean, '%dshot/ci95' % shot: conf},
                       iteration)

  def write_images(self, iteration):
    """Reconstructions (inputs above them) and the decoded EM mixture means of
    the fixed validation set, as images in tb/val."""
    x = self.image_set
    rec, components = (t.numpy() for t in self.image_step(tf.constant(x)))
    with self.board.as_default('val', iteration):
      tf.summary.image('reconstruction', image_grid([x[0], rec]), step=iteration)
      tf.summary.image('mixture_components', image_grid([components]), step=iteration)

  def test(self):
    """Test accuracy +- 95% interval with the best checkpoint of each plan entry
    (the current parameters when none was written, e.g. --train-iters 0; a re-test
    without `train()` first restores the newest checkpoint, the final weights).
    Printed, recorded in results.jsonl and tb/test, and kept in a log named by
    the evaluation setting (written whole, so a killed re-test keeps the last one)."""
    if not self.trained:
      self.restore_trained()
    o = self.opts
    results = {}
    shots = '-'.join(str(shot) for _, shot in self.test_plan)
    name = 'test_shots%s_ep%d_mc%d_query%d_seed%d.log' % (
        shots, o.eval_episodes, o.test_mc_sample_size, o.query, o.seed)
    current = int(self.trainer.step.numpy())
    with CompleteFile(self.run_dir.join(name)) if self.chief else open(os.devnull, 'w') as fh:
      for ckpt_shot, shot in self.test_plan:
        path = self.best_path(ckpt_shot)
        checkpoint, iteration = 'latest', current
        if os.path.isdir(path):
          state = read_folder(path, self.params_ckpt, trainer='gmvae',
                              variables=self.trainer.params)
          checkpoint, iteration = '%dshot_best' % ckpt_shot, state.get('iteration')
        mean, conf = self.evaluate('test', shot, np.random.RandomState([o.seed, 2, shot]))
        results[shot] = (mean, conf)
        line = '%dshot Final Test Accuracy: %.4f Confidence Interval: %.4f' % (shot, mean, conf)
        self.log(line)
        fh.write('%s (checkpoint %s, iteration %s)\n' % (line, checkpoint, iteration))
        self.note_result('test', shot, mean, conf, iteration, checkpoint)
    self.board.flush()
    return results

  def restore_trained(self):
    """The newest checkpoint of a run trained before (a re-test: --test-only)."""
    start, _ = self.store.restore_latest()
    require(start is not None, 'no checkpoint in %s: train first (gmvae_main.py without '
            '--test-only)' % self.store.directory)
    self.log('testing %s (iteration %d) with its best checkpoints'
             % (self.store.path(start), int(self.trainer.step.numpy())))


def image_set(classes, way):
  """The first IMAGE_SET_PER_CLASS images of the first `way` classes, as one set
  [1, way * IMAGE_SET_PER_CLASS, 28, 28, 1] (fixed, so images compare over a run)."""
  x = classes[:way, :IMAGE_SET_PER_CLASS]
  return np.asarray(x, np.float32).reshape((1, -1) + x.shape[2:])


def image_grid(rows):
  """Rows of images [N, H, W, 1] -> one image [1, rows * H, N * W, 1]."""
  return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)[None]


class SimCLRRun:
  """SimCLR on the miniImageNet images+csv layout, then the *_features.npy files."""

  def __init__(self, images_root, opts, run_dir, log=print):
    from data.gmvae import mimgnet
    from models.gmvae import simclr
    from training.simclr_steps import SimCLRTrainer
    self.mimgnet, self.simclr, self.log, self.opts = mimgnet, simclr, log, opts
    self.run_dir = run_dir
    self.root = images_root
    for split in mimgnet.SPLITS:     # fail before training, not after it
      mimgnet.read_csv(images_root, split)
    self.train_images = mimgnet.load_images(images_root, 'train')
    require(len(self.train_images) >= opts.batch_size, '--batch-size %d is larger than the %d '
            'training images' % (opts.batch_size, len(self.train_images)))
    self.trainer = SimCLRTrainer(opts.hidden_size, opts.lr, opts.batch_size,
                                 self.train_images.shape[1:], opts.seed)
    t = self.trainer
    self.ckpt = tf.train.Checkpoint(params=t.params, m=t.m, v=t.v, step=t.step)
    self.store = CheckpointStore(run_dir.join('ckpt'), self.ckpt, t.params,
                                 keep=opts.keep_checkpoints, log=log, trainer='simclr',
                                 run=run_dir)

  def train(self):
    """--train-epochs epochs (--debug: one batch); resumable within an epoch: a
    checkpoint holds the epoch's random state and its running loss."""
    o, s = self.opts, self.simclr
    start, state = self.store.restore_latest()
    self.run_dir.commit_config()   # training starts: config.json records it
    n_batches = len(self.train_images) // o.batch_size
    if start is not None:
      self.log('resumed from %s at epoch %d, batch %d'
               % (self.store.path(start), start // n_batches, start % n_batches))
    step = start or 0
    total = 1 if o.debug else o.train_epochs * n_batches
    board = RunBoard(self.run_dir)
    timer = SaveTimer(o.save_minutes)
    bar = progress(total=total, initial=step, desc='simclr', unit='batch',
                   disable=not o.progress)
    with StopSignals() as signals:
      while step < total:
        epoch, b = divmod(step, n_batches)
        rng = np.random.RandomState([o.seed, epoch])
        order = rng.permutation(len(self.train_images))
        losses = []
        if b and state:   # resumed within this epoch
          set_random_state(rng, state['rng'])
          losses = list(state['losses'])
        self.trainer.lr.assign(s.cosine_lr(o.lr, epoch, n_batches))
        while b < n_batches and step < total:
          images = self.train_images[order[b * o.batch_size:(b + 1) * o.batch_size]]
          views = [s.augment(images, s.augment_params(rng, len(images), images.shape[1]))
                   for _ in range(2)]
          loss = float(self.trainer.train_step(*views))
          check_finite_loss(loss, step + 1, self.store, 'SimCLR loss')
          losses.append(loss)
          step, b = step + 1, b + 1
          bar.set_postfix(loss='%.4f' % loss, refresh=False)
          bar.update(1)
          if b == n_batches or step == total or timer.due() or signals.stop:
            self.store.save(step, {'rng': random_state_json(rng), 'losses': losses})
            timer.reset()
          if signals.stop and step < total:
            bar.close()
            signals.exit_after_save(step, self.store.path(step))
        state = None
        if b == n_batches or o.debug:
          board.scalars('train', {'loss': np.mean(losses)}, epoch)
          self.log('%d-th EPOCH Loss: %.4f' % (epoch, np.mean(losses)))
    bar.close()

  def save_features(self, out_dir):
    o = self.opts
    for split in self.mimgnet.SPLITS:
      images = (self.train_images if split == 'train'
                else self.mimgnet.load_images(self.root, split))
      feats = [self.trainer.features(tf.constant(images[i:i + o.batch_size])).numpy()
               for i in progress(range(0, len(images), o.batch_size), unit='batch',
                                 desc='%s features' % split, disable=not o.progress)]
      feats = np.concatenate(feats)
      self.mimgnet.save_features(out_dir, split, feats)
      self.log('SAVE (%d, %d) shape array to %s' % (feats.shape + (
          self.mimgnet.features_path(out_dir, split),)))
