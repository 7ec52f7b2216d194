"""The three balancing variables and their KL term (Eq. 5-7 of the paper).

omega (class imbalance) weighs the per-class inner losses through softmax;
gamma (task imbalance) scales each layer's inner step by exp(gamma_l);
z (out-of-distribution) modulates the initialisation theta before the inner
loop: kernels * (1 + z_w) per output channel, biases + z_b.
Each is Normal(mu, softplus(pre_sigma)); the KL to N(0, 1) is summed over
elements and only the variables switched on contribute (the method's
`balancing`, models/taml/methods).
"""
import collections

import tensorflow as tf
import tensorflow_probability as tfp

from models.taml.learner import N_BLOCKS

tfd = tfp.distributions

Balancing = collections.namedtuple('Balancing', ['omega', 'gamma', 'z', 'kl'])
VARIABLES = ('omega', 'gamma', 'z')


def posteriors(raw):
  """dict name -> Normal(mu, softplus(pre_sigma)) from `posterior_params`."""
  return {name: tfd.Normal(mu, tf.nn.softplus(pre_sigma))
          for name, (mu, pre_sigma) in raw.items()}


def standard_normal(dtype):
  return tfd.Normal(tf.constant(0., dtype), tf.constant(1., dtype))


PRIORS = {'standard_normal': standard_normal}   # Method.prior -> p(dtype)


def draw(dist, seed, task_offset=None, n_total_tasks=None):
  """`dist.sample(seed)`, or its rows [task_offset, +T) of an n_total_tasks metabatch.

  With replicas each holding T of the metabatch's tasks, a task gets the same
  draw as on one device: the standard normals are drawn for the whole
  metabatch (as `Normal.sample` does: eps * scale + loc) and sliced.
  """
  if n_total_tasks is None:
    return dist.sample(seed=seed)
  loc, scale = dist.loc, dist.scale
  eps = standard_normal_like(loc, n_total_tasks).sample(seed=seed)
  begin = tf.concat([[task_offset], tf.zeros([loc.shape.rank - 1], tf.int32)], 0)
  eps = tf.slice(eps, begin, tf.shape(loc))
  return eps * scale + loc


def standard_normal_like(loc, n_rows):
  """N(0, 1) with the batch shape of `loc` but `n_rows` leading rows."""
  shape = tf.concat([[n_rows], tf.shape(loc)[1:]], 0)
  return tfd.Normal(tf.zeros(shape, loc.dtype), tf.constant(1., loc.dtype))


def balancing_variables(raw, switched_on, sample, seed=None, task_offset=None,
                        n_total_tasks=None, prior='standard_normal'):
  """Draw (or take the mean of) the switched-on balancing variables.

  Args:
    raw: dict name -> (mu, pre_sigma), leading axis = tasks.
    switched_on: dict name -> bool (`--omega_on` ...).
    sample: draw from q (meta-training, MC prediction) or use its mean.
    seed: stateless seed `[2]` int32 for the draws.
    task_offset, n_total_tasks: the rows of `raw` are tasks task_offset.. of a
      metabatch of n_total_tasks (replicas); None: all of them.
    prior: PRIORS name, p in the KL(q || p) of each variable.
  Returns:
    Balancing(omega `[T, way]` | None, gamma `[T, 5]` | None,
              z `[T, 256]` | None, kl `[T]`).
  """
  q = posteriors(raw)
  seeds = tf.unstack(tfp.random.split_seed(seed, n=len(VARIABLES))) if sample else [None] * 3
  values, kl = {}, 0.
  for name, var_seed in zip(VARIABLES, seeds):
    if not switched_on[name]:
      values[name] = None
      continue
    dist = q[name]
    kl += tf.reduce_sum(tfd.kl_divergence(dist, PRIORS[prior](dist.dtype)), axis=-1)
    values[name] = (draw(dist, var_seed, task_offset, n_total_tasks) if sample
                    else dist.mean())
  if not any(switched_on.values()):
    kl = tf.zeros(tf.shape(raw['gamma'][0])[:1], raw['gamma'][0].dtype)
  return Balancing(values['omega'], values['gamma'], values['z'], kl)


def modulate_initialisation(theta, z, n_channel):
  """theta_w * (1 + z_w), theta_b + z_b for the conv layers of one task.

  z: `[2 * 4 * n_channel]`; first half multiplicative terms for the kernels
  (per output channel), second half additive terms for the biases.
  """
  # One split (cheap to differentiate at both orders), not a slice per layer.
  chunks = tf.split(z, 2 * N_BLOCKS)
  assert chunks[0].shape[0] in (None, n_channel), 'z must hold 2 * 4 * n_channel terms'
  out = dict(theta)
  for l in range(N_BLOCKS):
    out['conv%d_w' % (l + 1)] = theta['conv%d_w' % (l + 1)] * (1. + chunks[l])
    out['conv%d_b' % (l + 1)] = theta['conv%d_b' % (l + 1)] + chunks[N_BLOCKS + l]
  return out
