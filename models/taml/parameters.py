"""The meta-learned variables of Bayesian TAML, under their original names.

theta (learner init), alpha (Meta-SGD step sizes), the batch-norm offsets and
the inference network all live in one `tf.Module` as a flat dict keyed by the
original TF1 variable names, so checkpoints, golden fixtures and TensorBoard
histograms all speak the same language.
"""
import numpy as np
import tensorflow as tf

from models.taml import inference_network as inet
from models.taml.learner import CONV_KEYS, N_BLOCKS, feature_size

STD = 0.02


def _truncated(shape, rng):
  """TF1 truncated_normal_initializer(stddev=0.02): redraw beyond 2 std."""
  x = rng.standard_normal(shape)
  while True:
    bad = np.abs(x) > 2.
    if not bad.any():
      return x * STD
    x[bad] = rng.standard_normal(bad.sum())


def variable_shapes(cfg):
  """Ordered name -> (shape, initialiser kind) for every variable of `cfg`."""
  c, n_in = cfg.n_channel, 3
  shapes = {}
  for l in range(1, N_BLOCKS + 1):
    shapes['theta/conv%d_w' % l] = ([3, 3, n_in if l == 1 else c, c], 'truncated')
    shapes['theta/conv%d_b' % l] = ([c], 'zeros')
  if cfg.algorithm.learned_step_sizes:
    for key in CONV_KEYS:
      shapes['alpha/' + key] = (shapes['theta/' + key][0], 'alpha')
    shapes['alpha/dense_w'] = ([feature_size(cfg.image_size, c), 1], 'alpha')
    shapes['alpha/dense_b'] = ([1], 'alpha')
  for l in range(1, N_BLOCKS + 1):
    shapes['conv%d_bn/beta' % l] = ([c], 'zeros')

  side = cfg.image_size // 4
  dense_in = {'dense1': side * side * 10, 'interact1': 3, 'dense2': inet.EMBED_DIM * 4,
              'dense3': inet.CLASS_DIM, 'interact2': 3, 'dense_omega': inet.EMBED_DIM * 4,
              'dense_gamma': inet.TASK_DIM * 4, 'dense_z': inet.TASK_DIM * 4}
  dense_out = {'dense1': inet.EMBED_DIM, 'interact1': 4, 'dense2': inet.CLASS_DIM,
               'dense3': inet.TASK_DIM, 'interact2': 4, 'dense_omega': inet.HEAD_DIM,
               'dense_gamma': inet.HEAD_DIM, 'dense_z': inet.HEAD_DIM}
  omega_in = inet.EMBED_DIM * 4 if cfg.multi_dataset else inet.HEAD_DIM
  heads = {'omega': (omega_in, 1), 'gamma': (inet.HEAD_DIM, inet.N_GAMMA),
           'z': (inet.HEAD_DIM, 2 * N_BLOCKS * c)}
  shapes['encoder/conv1/kernel'] = ([3, 3, 3, 10], 'truncated')
  shapes['encoder/conv1/bias'] = ([10], 'zeros')
  shapes['encoder/conv2/kernel'] = ([3, 3, 10, 10], 'truncated')
  shapes['encoder/conv2/bias'] = ([10], 'zeros')
  for name in ('dense1', 'interact1', 'dense2', 'dense3', 'interact2'):
    shapes['encoder/%s/kernel' % name] = ([dense_in[name], dense_out[name]], 'normal')
    shapes['encoder/%s/bias' % name] = ([dense_out[name]], 'zeros')
  for head, (n_in_head, n_out) in heads.items():
    hidden = 'dense_' + head
    shapes['encoder/%s/kernel' % hidden] = ([dense_in[hidden], dense_out[hidden]], 'normal')
    shapes['encoder/%s/bias' % hidden] = ([dense_out[hidden]], 'zeros')
    for kind in ('mu', 'sigma'):
      shapes['encoder/%s_%s/kernel' % (kind, head)] = ([n_in_head, n_out], 'normal')
      shapes['encoder/%s_%s/bias' % (kind, head)] = ([n_out], 'zeros')
  return shapes


class TamlParameters(tf.Module):
  """All trainable variables, `self.by_name[original_name] -> tf.Variable`."""

  def __init__(self, cfg, seed=0):
    super().__init__(name='taml')
    rng = np.random.default_rng(seed)
    init = {'truncated': lambda s: _truncated(s, rng),
            'normal': lambda s: rng.standard_normal(s) * STD,
            'zeros': np.zeros, 'alpha': lambda s: np.full(s, 0.01)}
    self.by_name = {
        name: tf.Variable(init[kind](shape).astype(np.float32),
                          name=name.replace('/', '.'))
        for name, (shape, kind) in variable_shapes(cfg).items()}

  def values(self):
    """name -> current value (read once per step)."""
    return {name: v.read_value() for name, v in self.by_name.items()}

  def assign(self, arrays):
    """Load `name -> array`; shapes must match."""
    for name, value in arrays.items():
      self.by_name[name].assign(value)


def split_groups(values):
  """theta, alpha, betas and encoder tensors from the flat name dict."""
  group = lambda prefix: {k[len(prefix):]: v for k, v in values.items()
                          if k.startswith(prefix)}
  betas = [values['conv%d_bn/beta' % l] for l in range(1, N_BLOCKS + 1)]
  return group('theta/'), group('alpha/'), betas, group('encoder/')
