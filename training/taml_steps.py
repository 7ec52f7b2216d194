"""Compiled meta-train / evaluation steps of the TAML family, its optimizer and
its replica sharding (traced once per run).

An episode's support is padded to the metabatch's longest support, as the
original, with the row dimension left dynamic; with `fixed_support`
(`--jit_compile`) to `way * max_shot` rows (one static shape, for XLA).
`n_rows` carries the original metabatch padding length either way, so one
trace serves the whole run (`data.episodes`, `TamlConfig.max_support`).
Inside the step each task's support pass computes only its labelled rows and
one weighted padding row (`objective.weighted_support`) unless the shape is
fixed.
"""
import tensorflow as tf

from common import distribute
from common.fused_adam import FusedAdam
from models.taml import inference_network
from models.taml.objective import metabatch_forward, outer_loss
from models.taml.parameters import split_groups

GRAD_CLIP = 3.0   # element-wise, before Adam (original misc.get_train_op)


def episode_signature(cfg, n_tasks):
  """TensorSpecs of one padded metabatch."""
  dim = cfg.image_size * cfg.image_size * 3
  n_query = cfg.way * cfg.query
  return {
      'xtr': tf.TensorSpec([n_tasks, cfg.max_support, dim], tf.float32),
      'ytr': tf.TensorSpec([n_tasks, cfg.max_support, cfg.way], tf.float32),
      'xte': tf.TensorSpec([n_tasks, n_query, dim], tf.float32),
      'yte': tf.TensorSpec([n_tasks, n_query, cfg.way], tf.float32),
      'n_rows': tf.TensorSpec([], tf.float32),
  }


def make_optimizer(meta_lr):
  """TF1 AdamOptimizer: its fused kernel, beta 0.9/0.999, epsilon 1e-8 (Keras' default is 1e-7)."""
  return FusedAdam(learning_rate=meta_lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


class Sharding:
  """How a metabatch of `n_tasks` is split over the replicas of `strategy`.

  Each replica takes its contiguous share of the tasks (the support padding
  length n_rows stays the metabatch's, as on one device) and the posterior
  draws of the whole metabatch, sliced, so a task sees the same numbers
  whatever the replica count.  With one replica nothing is sliced.
  """

  def __init__(self, strategy, n_tasks):
    self.strategy = strategy or tf.distribute.get_strategy()
    self.n_tasks = n_tasks
    self.n_local = distribute.check_divisible(n_tasks, self.strategy, '--metabatch')
    self.split = self.strategy.num_replicas_in_sync > 1

  def local_episode(self, episode):
    if not self.split:
      return episode
    return {k: v if k == 'n_rows' else distribute.replica_slice(v, self.n_local)
            for k, v in episode.items()}

  def forward(self, values, episode, cfg, sample, seed=None):
    """`metabatch_forward` on this replica's tasks."""
    if not self.split:
      return metabatch_forward(values, episode, cfg, sample, seed)
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return metabatch_forward(values, self.local_episode(episode), cfg, sample, seed,
                             task_offset=replica * self.n_local, n_total_tasks=self.n_tasks)

  def share(self):
    """This replica's fraction of the metabatch (1 on one device)."""
    return self.n_local / self.n_tasks


def make_train_step(params, optimizer, cfg, n_tasks, jit_compile=False, strategy=None):
  """`train_step(episode, seed) -> dict of scalars`: one Adam step on a sampled posterior.

  Under a strategy with R replicas each replica differentiates its share of
  the outer loss (weighted by n_local / n_tasks, so the shares sum to the
  metabatch mean); the gradients are summed across replicas, clipped and
  applied once, identically everywhere.  `params` and `optimizer` must have
  been created under `strategy.scope()`.
  """
  sharding = Sharding(strategy, n_tasks)
  strategy = sharding.strategy
  variables = list(params.by_name.values())
  with strategy.scope():
    # Slots made up front: creating them inside the first call costs a second trace.
    optimizer.build(variables)
  with_grad = []   # indices of the variables the loss depends on (set while tracing)

  def replica_gradients(episode, seed):
    with tf.GradientTape() as tape:
      out = sharding.forward(params.values(), episode, cfg, sample=True, seed=seed)
      loss = outer_loss(out) * sharding.share()
    grads = tape.gradient(loss, variables)
    with_grad[:] = [i for i, g in enumerate(grads) if g is not None]
    means = {k: tf.reduce_mean(getattr(out, k)) * sharding.share() for k in ('cent', 'kl', 'acc')}
    return [grads[i] for i in with_grad], dict(means, loss=loss)

  if jit_compile and sharding.split:
    replica_gradients = tf.function(replica_gradients, jit_compile=True)

  def replica_step(episode, seed):
    grads, scalars = replica_gradients(episode, seed)
    if sharding.split:
      context = tf.distribute.get_replica_context()
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    clipped = [tf.clip_by_value(g, -GRAD_CLIP, GRAD_CLIP) for g in grads]
    if sharding.split:
      # The Keras optimizer sums its gradients over the replicas once more:
      # only replica 0 feeds it the clipped total, the others zeros (exact).
      first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
      clipped = [g * first for g in clipped]
    optimizer.apply_gradients([(g, variables[i]) for g, i in zip(clipped, with_grad)])
    return scalars

  # autograph off: the step has no tensor-dependent Python control flow, and
  # converting its trace cost ~2.5 s of the first step (35K ops then).
  @tf.function(input_signature=[episode_signature(cfg, n_tasks),
                                tf.TensorSpec([2], tf.int32)],
               jit_compile=jit_compile and not sharding.split, autograph=False)
  def train_step(episode, seed):
    with strategy.scope():
      scalars = strategy.run(replica_step, (episode, seed))
      return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
              for k, v in scalars.items()}

  return train_step


def make_eval_step(params, cfg, n_tasks, n_mc_samples=0, strategy=None):
  """`eval_step(episode, seed) -> (cent [T], kl [T], acc [T])`.

  n_mc_samples = 0 uses the posterior means; otherwise the query softmax is
  averaged over that many posterior samples before the argmax (meta-test).
  Under a strategy the tasks are split over the replicas and gathered back.
  """
  sharding = Sharding(strategy, n_tasks)
  strategy = sharding.strategy

  def replica_eval(episode, seed):
    values = params.values()
    if n_mc_samples == 0:
      out = sharding.forward(values, episode, cfg, sample=False)
      return out.cent, out.kl, out.acc
    # MC integration (meta-test): average the query softmax over posterior draws.
    seeds = tf.random.experimental.stateless_split(seed, n_mc_samples)
    yte = sharding.local_episode(episode)['yte']
    pred = tf.zeros(tf.shape(yte))
    cent = kl = tf.zeros(tf.shape(yte)[:1])
    for s in tf.range(n_mc_samples):
      out = sharding.forward(values, episode, cfg, sample=True, seed=seeds[s])
      pred += out.pred / n_mc_samples
      cent += out.cent / n_mc_samples
      kl += out.kl / n_mc_samples
    correct = tf.equal(tf.argmax(pred, -1), tf.argmax(yte, -1))
    return cent, kl, tf.reduce_mean(tf.cast(correct, tf.float32), axis=-1)

  @tf.function(input_signature=[episode_signature(cfg, n_tasks),
                                tf.TensorSpec([2], tf.int32)])
  def eval_step(episode, seed):
    with strategy.scope():
      per_replica = strategy.run(replica_eval, (episode, seed))
      return tuple(strategy.gather(x, axis=0) for x in per_replica)

  return eval_step


def make_balancing_step(params, cfg, n_tasks):
  """`(xtr, ytr) -> (softmax(E[omega]) [T, way], exp(E[gamma]) [T, 5])` for the tables."""
  sig = episode_signature(cfg, n_tasks)

  @tf.function(input_signature=[sig['xtr'], sig['ytr']])
  def balancing_step(xtr, ytr):
    encoder = split_groups(params.values())[3]
    raw = inference_network.posterior_params(encoder, xtr, ytr, cfg.image_shape,
                                             cfg.max_shot, cfg.multi_dataset)
    return tf.nn.softmax(raw['omega'][0]), tf.exp(raw['gamma'][0])

  return balancing_step


def make_balancing_summary_step(params, cfg, n_tasks):
  """`(xtr, ytr) -> dict` for TensorBoard: of each switched-on balancing variable
  the posterior mean as the learner uses it (omega: softmax, gamma: exp, z: as
  is), `[T, ...]`, and its posterior scale softplus(pre_sigma) (`<name>_sigma`).
  Reads the parameters only: no random draw, no update."""
  sig = episode_signature(cfg, n_tasks)
  transforms = {'omega': tf.nn.softmax, 'gamma': tf.exp, 'z': tf.identity}
  use = {name: (name in cfg.algorithm.balancing, transform)
         for name, transform in transforms.items()}

  @tf.function(input_signature=[sig['xtr'], sig['ytr']])
  def balancing_summary_step(xtr, ytr):
    encoder = split_groups(params.values())[3]
    raw = inference_network.posterior_params(encoder, xtr, ytr, cfg.image_shape,
                                             cfg.max_shot, cfg.multi_dataset)
    out = {}
    for name, (on, transform) in use.items():
      if on:
        mu, pre_sigma = (tf.cast(t, tf.float32) for t in raw[name])
        out[name] = transform(mu)
        out[name + '_sigma'] = tf.nn.softplus(pre_sigma)
    return out

  return balancing_summary_step
