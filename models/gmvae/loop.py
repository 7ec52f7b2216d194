"""Training loops of gmvae_main.py: Meta-GMVAE (Omniglot images or miniImageNet
features) and the SimCLR feature extractor.  Checkpoints, TensorBoard, resume."""
import json
import os
import sys

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common import distribute
from common.errors import UserError, require
from data.gmvae import episodes
from models.gmvae.trainer import GMVAETrainer

CONFIG_FILE = 'config.json'


def check_config(save_dir, config):
  """Refuse to resume a run of another configuration; write config.json."""
  os.makedirs(save_dir, exist_ok=True)
  path = os.path.join(save_dir, CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as f:
      try:
        old = json.load(f)
      except ValueError:
        raise UserError('%s is not valid JSON; remove it or use another --save-dir' % path)
    diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
    require(not diff, '--save-dir %s holds a run with another configuration (%s); use another '
            '--save-dir or the same flags' % (save_dir, ', '.join(
                '%s: %r vs %r' % (k, old.get(k), config.get(k)) for k in diff)))
  else:
    with open(path, 'w') as f:
      json.dump(config, f, indent=1, sort_keys=True)


def restore(checkpoint, path, what):
  try:
    checkpoint.read(path).expect_partial()
  except (tf.errors.OpError, ValueError, AssertionError) as err:
    raise UserError('cannot restore %s from %s (%s); use another --save-dir'
                    % (what, path, str(err).splitlines()[0]))


class GMVAERun:
  """Meta-GMVAE training with validation, best checkpoints per shot and the final test.

  splits: dict train/val/test of [K, N, ...] arrays; val_shots: shots validated every
  freq_iters (a best checkpoint each); test_plan: (best-checkpoint shot, test shot) pairs.
  """

  def __init__(self, cfg, splits, opts, val_shots, test_plan, log=print):
    self.cfg, self.opts, self.log = cfg, opts, log
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
    self.epoch = tf.Variable(0, dtype=tf.int64, name='epoch')
    self.ckpt = tf.train.Checkpoint(model=self.trainer, best=self.best, epoch=self.epoch)
    self.checkpoints = distribute.ChiefCheckpoints(
        self.strategy, self.ckpt, os.path.join(opts.save_dir, 'ckpt'), max_to_keep=2)
    self.params_ckpt = tf.train.Checkpoint(params=self.trainer.params)

  def best_path(self, shot):
    return os.path.join(self.opts.save_dir, '%dshot_best' % shot)

  def evaluate(self, split, shot, rng):
    o = self.opts
    return episodes.evaluate(self.trainer.accuracy, self.splits[split], o.way, shot, o.query,
                             o.batch_size, o.eval_episodes, rng)

  def train(self):
    o = self.opts
    latest = self.checkpoints.latest()
    if latest:
      restore(self.ckpt, latest, 'the training state')
      self.log('resumed from %s at iteration %d' % (latest, int(self.trainer.step.numpy())))
    writer = distribute.summary_writer(self.strategy, os.path.join(o.save_dir, 'tb_log'))
    freq = 1 if o.debug else o.freq_iters
    while int(self.epoch.numpy()) * o.freq_iters < o.train_iters:
      epoch = int(self.epoch.numpy())
      with tqdm(total=freq, file=sys.stderr, disable=not o.progress) as pbar, \
          writer.as_default():
        for _ in range(freq):
          step = int(self.trainer.step.numpy())
          x = episodes.train_batch(self.pool, o.batch_size, o.sample_size,
                                   np.random.RandomState([o.seed, step]))
          rec, kl, finite = self.trainer.train_step(tf.constant(x))
          rec, kl = float(rec), float(kl)
          if not bool(finite):
            raise UserError('non-finite loss at iteration %d (rec %s, kld %s); stopped, the '
                            'last good checkpoint in %s is kept (lower --lr?)'
                            % (step, rec, kl, o.save_dir))
          pbar.set_postfix(rec='%.4f' % rec, kld='%.4f' % kl)
          pbar.update(1)
          tf.summary.scalar('train/rec', rec, step=step)
          tf.summary.scalar('train/kld', kl, step=step)
      with writer.as_default():
        for shot in self.val_shots:
          mean, conf = self.evaluate('val', shot, np.random.RandomState([o.seed, 1, epoch, shot]))
          tf.summary.scalar('val/%dshot-acc-mean' % shot, mean, step=epoch)
          tf.summary.scalar('val/%dshot-acc-conf' % shot, conf, step=epoch)
          if mean > float(self.best['%dshot' % shot].numpy()):
            self.best['%dshot' % shot].assign(mean)
            distribute.write_checkpoint(self.strategy, self.params_ckpt, self.best_path(shot))
          self.log('%dshot %d-th EPOCH Val Accuracy: %.4f, BEST Accuracy: %.4f'
                   % (shot, epoch, mean, float(self.best['%dshot' % shot].numpy())))
      writer.flush()
      self.epoch.assign_add(1)
      self.checkpoints.save()
      if o.debug:
        break

  def test(self):
    """Test accuracy +- 95% interval with the best checkpoint of each plan entry
    (the current parameters when none was written, e.g. --train-iters 0)."""
    o = self.opts
    results = {}
    for ckpt_shot, shot in self.test_plan:
      path = self.best_path(ckpt_shot)
      if os.path.exists(path + '.index'):
        restore(self.params_ckpt, path, 'the best %d-shot parameters' % ckpt_shot)
      mean, conf = self.evaluate('test', shot, np.random.RandomState([o.seed, 2, shot]))
      results[shot] = (mean, conf)
      self.log('%dshot Final Test Accuracy: %.4f Confidence Interval: %.4f' % (shot, mean, conf))
    return results


class SimCLRRun:
  """SimCLR on the miniImageNet images+csv layout, then the *_features.npy files."""

  def __init__(self, images_root, opts, log=print):
    from data.gmvae import mimgnet
    from models.gmvae import simclr
    from models.gmvae.layers import bn_running_update
    from models.gmvae.trainer import make_state
    self.mimgnet, self.simclr, self.log, self.opts = mimgnet, simclr, log, opts
    self.root = images_root
    for split in mimgnet.SPLITS:     # fail before training, not after it
      mimgnet.read_csv(images_root, split)
    self.train_images = mimgnet.load_images(images_root, 'train')
    require(len(self.train_images) >= opts.batch_size, '--batch-size %d is larger than the %d '
            'training images' % (opts.batch_size, len(self.train_images)))
    init = simclr.init_params(opts.hidden_size, opts.seed)
    self.params, self.trainable, self.m, self.v = make_state(init)
    self.step = tf.Variable(0, dtype=tf.int64)
    self.epoch = tf.Variable(0, dtype=tf.int64)
    self.lr = tf.Variable(opts.lr, dtype=tf.float32)
    self._bn_update = bn_running_update
    self.ckpt = tf.train.Checkpoint(params=self.params, m=self.m, v=self.v, step=self.step,
                                    epoch=self.epoch)
    self.manager = tf.train.CheckpointManager(self.ckpt, os.path.join(opts.save_dir, 'ckpt'),
                                              max_to_keep=2)
    size = self.train_images.shape[1:]
    spec = tf.TensorSpec((opts.batch_size,) + size, tf.float32)
    self.train_step = tf.function(self._train_step, input_signature=[spec, spec])
    self.features = tf.function(lambda x: simclr.encode(self.params, simclr.normalize(x), False))

  def _train_step(self, x_i, x_j):
    from models.gmvae.trainer import adam_l2_update
    s = self.simclr
    stats_i, stats_j = {}, {}
    with tf.GradientTape() as tape:
      z_i = s.project(self.params, s.encode(self.params, x_i, True, stats_i))
      z_j = s.project(self.params, s.encode(self.params, x_j, True, stats_j))
      loss = s.nt_xent(z_i, z_j)
    grads = tape.gradient(loss, {n: self.params[n] for n in self.trainable})
    if tf.math.is_finite(loss):
      self.step.assign_add(1)
      adam_l2_update(self.params, grads, self.m, self.v, self.step, self.lr, 0.)
      self._bn_update(self.params, stats_i)     # the encoder ran twice in train mode
      self._bn_update(self.params, stats_j)
    return loss

  def train(self):
    o, s = self.opts, self.simclr
    if self.manager.latest_checkpoint:
      restore(self.ckpt, self.manager.latest_checkpoint, 'the SimCLR state')
      self.log('resumed from %s at epoch %d' % (self.manager.latest_checkpoint,
                                                int(self.epoch.numpy())))
    n_batches = len(self.train_images) // o.batch_size
    epochs = 1 if o.debug else o.train_epochs
    writer = tf.summary.create_file_writer(os.path.join(o.save_dir, 'tb_log'))
    while int(self.epoch.numpy()) < epochs:
      epoch = int(self.epoch.numpy())
      self.lr.assign(s.cosine_lr(o.lr, epoch, n_batches))
      rng = np.random.RandomState([o.seed, epoch])
      order = rng.permutation(len(self.train_images))
      losses = []
      with tqdm(total=n_batches, file=sys.stderr, disable=not o.progress) as pbar:
        for b in range(n_batches):
          images = self.train_images[order[b * o.batch_size:(b + 1) * o.batch_size]]
          size = images.shape[1]
          views = [s.augment(images, s.augment_params(rng, len(images), size))
                   for _ in range(2)]
          loss = float(self.train_step(*views))
          if not np.isfinite(loss):
            raise UserError('non-finite SimCLR loss in epoch %d; stopped, the last good '
                            'checkpoint in %s is kept' % (epoch, o.save_dir))
          losses.append(loss)
          pbar.set_postfix(loss='%.4f' % loss)
          pbar.update(1)
          if o.debug:
            break
      with writer.as_default():
        tf.summary.scalar('train/loss', np.mean(losses), step=epoch)
      self.log('%d-th EPOCH Loss: %.4f' % (epoch, np.mean(losses)))
      self.epoch.assign_add(1)
      self.manager.save()

  def save_features(self, out_dir):
    o = self.opts
    for split in self.mimgnet.SPLITS:
      images = (self.train_images if split == 'train'
                else self.mimgnet.load_images(self.root, split))
      feats = [self.features(tf.constant(images[i:i + o.batch_size])).numpy()
               for i in range(0, len(images), o.batch_size)]
      feats = np.concatenate(feats)
      self.mimgnet.save_features(out_dir, split, feats)
      self.log('SAVE (%d, %d) shape array to %s' % (feats.shape + (
          self.mimgnet.features_path(out_dir, split),)))
