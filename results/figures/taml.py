"""Bayesian TAML: the balancing variables of a trained run, as the l2b paper shows them.

The run's best/ (else newest) checkpoint is restored with the geometry of its
config.json; episodes of its id and ood datasets are drawn by the run's own
seeded samplers (training/taml.py `Phase`), and the inference network gives, per
task, the posterior means the meta-test uses (`n_mc_samples 0`):
  omega  softmax(E[omega]) per class   -> against the class's shot
  gamma  exp(E[gamma]) per layer        -> against the task's support size
  z      E[z] (kernels x (1 + z_w), biases + z_b) -> a per-task summary, id vs ood
Only the variables the run has on are drawn.
"""
import os
import types

import numpy as np

from common.checkpoints import read_folder
from common.errors import require
from common.tf_env import quiet_tensorflow_import
from results.figures import canvas
from results.figures.runs import checkpoint_folder

GAMMA_LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'dense')
TASKS_PER_BATCH = 10
STYLE = {'id': dict(marker='o', color='tab:blue'), 'ood': dict(marker='^', color='tab:orange')}


def datasets(value):
  """The dataset names of a config.json value ('cifar' or 'a, b', as the flag)."""
  return [x.strip() for x in value.split(',') if x.strip()] if isinstance(value, str) else value


def run_settings(config, data_dir, metabatch):
  """The flags `training.taml.Phase` reads: the run's config.json, main.py's defaults
  for what an older config.json lacks and for model fields it does not record, one device."""
  from common.settings import TRAIN
  from training import taml_settings
  recorded = [s for s in taml_settings.ALL if TRAIN in s.checked or s.model_field]
  values = {s.attribute: s.default for s in recorded}
  values.update({s.attribute: taml_settings.LEGACY_VALUES[s.config_key] for s in recorded
                 if s.config_key in taml_settings.LEGACY_VALUES})
  values.update({s.attribute: config[s.config_key] for s in recorded if s.config_key in config})
  values.update(id_dataset=datasets(values['id_dataset']),
                ood_dataset=datasets(values['ood_dataset']),
                episode_mode=int(values['episode_mode']), data_dir=data_dir, metabatch=metabatch,
                strategy='default', num_devices=0, connect_timeout=120)
  return types.SimpleNamespace(**values)


def make_posterior_means(run):
  """`(xtr, ytr) -> (softmax(E[omega]) [T, way], exp(E[gamma]) [T, 5], E[z] [T, 256])`."""
  import tensorflow as tf
  from models.taml import inference_network
  from models.taml.parameters import split_groups
  cfg = run.cfg

  @tf.function(reduce_retracing=True)
  def means(xtr, ytr):
    encoder = split_groups(run.params.values())[3]
    raw = inference_network.posterior_params(encoder, xtr, ytr, cfg.image_shape,
                                             cfg.max_shot, cfg.multi_dataset)
    return tf.nn.softmax(raw['omega'][0]), tf.exp(raw['gamma'][0]), raw['z'][0]

  return means


def balancing_values(run, split, n_tasks):
  """dict 'id/<name>' | 'ood/<name>' -> dict of per-task numpy arrays: support
  size [T], class shots [T, way], omega [T, way], gamma [T, 5], z [T, 256]."""
  means = make_posterior_means(run)
  groups = [('id', run.id_samplers), ('ood', run.ood_samplers)]
  out = {}
  for flag, samplers in groups:
    for name, sampler in samplers.items():
      if split not in sampler.classes:   # an ood set without this split
        continue
      parts = []
      for begin in range(0, n_tasks, TASKS_PER_BATCH):
        ep = run.episode(sampler, split, n_tasks=min(TASKS_PER_BATCH, n_tasks - begin))
        omega, gamma, z = (v.numpy() for v in means(ep['xtr'], ep['ytr']))
        shots = ep['ytr'].numpy().sum(axis=1)
        parts.append(dict(size=shots.sum(axis=1), shots=shots, omega=omega, gamma=gamma, z=z))
      out['%s/%s' % (flag, name)] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  return out


def check_data(config, data_dir, split):
  """Each dataset's file of `split` exists (checked before TensorFlow is loaded;
  `Phase` checks the contents)."""
  from data.taml_datasets import DATASETS, SPLIT_FILES
  names = datasets(config.get('id_dataset', 'cifar')) + datasets(config.get('ood_dataset', 'svhn'))
  for name in names:
    if split not in DATASETS.get(name, (0, ()))[1]:
      continue   # an ood set without this split (Phase leaves it out); unknown names: Phase says
    path = os.path.join(data_dir, name, SPLIT_FILES[split])
    require(os.path.exists(path), '%s not found: the balancing views draw %s episodes of %s; '
            'pass --data_dir (the run\'s --data_dir, prepared by data/%s/get_data.py) or '
            '--curves_only' % (path, split, name, name))


def restore_run(run_path, config, data_dir, split, log):
  """(Phase with the checkpoint's weights, checkpoint path) for the episodes of `split`."""
  path = checkpoint_folder(run_path, ['best'], 'ckpt', 'model', log)
  require(path is not None, 'no intact checkpoint in %s (best/ or ckpt/model-<i>/): train '
          'the run first, or pass --curves_only' % run_path)
  check_data(config, data_dir, split)
  tf = quiet_tensorflow_import()
  f = run_settings(config, data_dir, TASKS_PER_BATCH)
  from training.taml import Phase
  run = Phase(f, [split], [split])
  read_folder(path, tf.train.Checkpoint(model=run.params),
              check=lambda status: status.assert_existing_objects_matched())
  return run, path


def _style(group):
  return STYLE[group.split('/')[0]]


def plot_gamma(values, out_dir, written, title):
  fig, axes = canvas.panels(len(GAMMA_LAYERS), columns=3, title=title)
  for l, (ax, layer) in enumerate(zip(axes, GAMMA_LAYERS)):
    for group, v in values.items():
      ax.scatter(v['size'], v['gamma'][:, l], s=14, alpha=0.6, label=group, **_style(group))
    canvas.decorate(ax, 'gamma, %s' % layer, 'task size (support images)',
                    'exp(E[gamma]) (inner step scale)')
  canvas.save(fig, out_dir, 'taml_gamma_vs_task_size', written)


def plot_omega(values, out_dir, written, title):
  fig, [ax] = canvas.panels(1, title=title)
  fig.set_size_inches(6.5, 4.5)
  for group, v in values.items():
    shots, omega = v['shots'].ravel(), v['omega'].ravel()
    jitter = np.random.RandomState(0).uniform(-0.12, 0.12, shots.shape)
    style = _style(group)
    ax.scatter(shots + jitter, omega, s=8, alpha=0.35, color=style['color'])
    levels = np.unique(shots)
    ax.plot(levels, [omega[shots == s].mean() for s in levels], marker=style['marker'],
            color=style['color'], label='%s (mean per shot)' % group)
  canvas.decorate(ax, 'class weight omega per class of each task',
                  'class shot (support images of the class)', 'softmax(E[omega]) (class weight)')
  canvas.save(fig, out_dir, 'taml_omega_vs_class_shot', written)


def plot_z(values, out_dir, written, title):
  fig, axes = canvas.panels(2, columns=2, title=title)
  half = lambda z: z.shape[1] // 2   # kernel terms z_w, then bias terms z_b
  summaries = [('mean of E[z_w]', 'kernel scale 1 + z_w: mean z_w per task',
                lambda z: z[:, :half(z)].mean(1)),
               ('||E[z_b]||', 'bias shift z_b: norm per task',
                lambda z: np.linalg.norm(z[:, half(z):], axis=1))]
  for ax, (label, panel_title, summary) in zip(axes, summaries):
    for group, v in values.items():
      ax.plot(summary(v['z']), linestyle='none', alpha=0.7, label=group, **_style(group))
    canvas.decorate(ax, panel_title, 'task', label)
  canvas.save(fig, out_dir, 'taml_z_vs_task', written)


def plot_balancing(run_path, config, data_dir, split, n_tasks, out_dir, written, log):
  """The views of the switched-on variables; nothing for MAML / Meta-SGD runs."""
  on = [name for name in ('omega', 'gamma', 'z') if config.get(name + '_on')]
  if not on:
    return
  run, path = restore_run(run_path, config, data_dir, split, log)
  values = balancing_values(run, split, n_tasks)
  about = '%s (%s), %d tasks per dataset of the %s split' % (
      os.path.basename(run_path), os.path.basename(os.path.realpath(path)), n_tasks, split)
  views = {'omega': (plot_omega, 'omega against class shot'),
           'gamma': (plot_gamma, 'gamma per layer against task size'),
           'z': (plot_z, 'z per task, id vs ood')}
  for name in on:
    plot, what = views[name]
    plot(values, out_dir, written, 'Bayesian TAML %s\n%s' % (what, about))
