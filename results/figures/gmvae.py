"""Meta-GMVAE: a reconstruction grid of test images from the run's best (else newest)
checkpoint.

The encoder's posterior is conditioned on the whole set (the set transformer),
so the grid's images are one set: `CLASSES` test classes x `PER_CLASS` images,
decoded from the posterior means (eval-mode batch norm, no sampling).
"""
import dataclasses
import os

import numpy as np

from common.checkpoints import read_folder
from common.errors import UserError, require
from common.tf_env import quiet_tensorflow_import
from results.figures import canvas
from results.figures.runs import checkpoint_folder

CLASSES = 10
PER_CLASS = 4


def model_config(config):
  from models.gmvae.gmvae import GMVAEConfig
  fields = {f.name for f in dataclasses.fields(GMVAEConfig)}
  return GMVAEConfig(**{k: v for k, v in config.items() if k in fields})


def restore_trainer(run_path, config, log):
  """(GMVAETrainer with the checkpoint's parameters, checkpoint path)."""
  tf = quiet_tensorflow_import()
  from training.gmvae_steps import GMVAETrainer
  shots = [config['shot']] if config.get('dataset') == 'mimgnet' else [1, 5]
  best = ['%dshot_best' % s for s in shots]
  path = checkpoint_folder(run_path, best, 'ckpt', 'ckpt', log)
  require(path is not None, 'no intact checkpoint in %s (%s or ckpt/ckpt-<i>/): train the run '
          'first, or pass --curves_only' % (run_path, ', '.join(best)))
  trainer = GMVAETrainer(model_config(config), config['batch_size'], config['sample_size'],
                         config['lr'], config['weight_decay'])
  is_best = os.path.basename(path) in best
  read_folder(path, tf.train.Checkpoint(params=trainer.params) if is_best
              else tf.train.Checkpoint(model=trainer))
  return trainer, path


def test_set(data_dir, seed):
  """[1, C * PER_CLASS, 28, 28, 1] test images, class-blocked (C <= CLASSES)."""
  from data.gmvae import episodes, omniglot
  try:
    test = omniglot.load(data_dir, splits=('test',))['test']
  except UserError as err:
    raise UserError('%s (the reconstruction grid needs the Omniglot test images: pass '
                    '--data_dir, the run\'s --data-dir, or --curves_only)' % err)
  classes = min(CLASSES, test.shape[0])
  x, _, _, _ = episodes.test_episodes(test, classes, min(PER_CLASS, test.shape[1]), 0, 1,
                                      np.random.RandomState(seed))
  return x, classes


def reconstruct(trainer, x):
  """Decoder probabilities [S, 28, 28, 1] of the posterior means of the set x [1, S, ...]."""
  import tensorflow as tf
  from models.gmvae import gmvae
  from models.gmvae.posterior import posterior
  p, cfg = trainer.params, trainer.cfg
  x = tf.constant(x, tf.float32)
  q_mean, _ = posterior(p, gmvae.encode(p, cfg, x, training=False), cfg.latent_size)
  _, rec = gmvae.reconstruction_loss(p, cfg, q_mean[:, :, None], x, training=False)
  return rec.numpy()[0, :, 0]


def plot_reconstructions(run_path, config, data_dir, out_dir, written, log):
  if config.get('dataset', 'omniglot') != 'omniglot':
    log('warning: no reconstruction grid for a %s run (its inputs are features, not images)'
        % config.get('dataset'))
    return
  x, classes = test_set(data_dir, config.get('seed', 0))   # before TensorFlow is loaded
  trainer, path = restore_trainer(run_path, config, log)
  rec = reconstruct(trainer, x)
  per_class = x.shape[1] // classes
  fig, axes = canvas.plt.subplots(2 * per_class, classes, squeeze=False, layout='constrained',
                                  figsize=(0.9 * classes + 0.5, 0.9 * 2 * per_class + 0.8))
  for c in range(classes):
    for k in range(per_class):
      i = c * per_class + k
      for row, image in ((2 * k, x[0, i]), (2 * k + 1, rec[i])):
        ax = axes[row, c]
        ax.imshow(image[..., 0], cmap='gray_r', vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
          ax.set_ylabel('test' if row % 2 == 0 else 'recon.', fontsize='small')
  fig.suptitle('Meta-GMVAE reconstructions (%s): test image above, reconstruction below;\n'
               'one column per test class, one set of %d images'
               % (os.path.basename(os.path.realpath(path)), x.shape[1]), fontsize='medium')
  canvas.save(fig, out_dir, 'gmvae_reconstructions', written)
