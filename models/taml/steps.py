"""Compiled meta-train / evaluation steps (fixed shapes: traced once).

Every episode is padded to the fixed support length `way * max_shot` (see
`data.episodes`), and `n_rows` carries the original metabatch padding length,
so one trace serves the whole run.
"""
import tensorflow as tf

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
  """TF1 AdamOptimizer semantics: beta 0.9/0.999, epsilon 1e-8 (Keras' default is 1e-7)."""
  import keras
  return keras.optimizers.Adam(learning_rate=meta_lr, beta_1=0.9, beta_2=0.999,
                               epsilon=1e-8)


def clipped_gradients(loss, tape, variables):
  """(clipped grad, variable) for the variables the loss depends on."""
  grads = tape.gradient(loss, variables)
  return [(tf.clip_by_value(g, -GRAD_CLIP, GRAD_CLIP), v)
          for g, v in zip(grads, variables) if g is not None]


def make_train_step(params, optimizer, cfg, n_tasks, jit_compile=False):
  """`train_step(episode, seed) -> dict of scalars`: one Adam step on a sampled posterior."""
  variables = list(params.by_name.values())
  # Slots made up front: creating them inside the first call costs a second trace.
  optimizer.build(variables)

  @tf.function(input_signature=[episode_signature(cfg, n_tasks),
                                tf.TensorSpec([2], tf.int32)],
               jit_compile=jit_compile)
  def train_step(episode, seed):
    with tf.GradientTape() as tape:
      out = metabatch_forward(params.values(), episode, cfg, sample=True, seed=seed)
      loss = outer_loss(out)
    optimizer.apply_gradients(clipped_gradients(loss, tape, variables))
    return {'loss': loss, 'cent': tf.reduce_mean(out.cent),
            'kl': tf.reduce_mean(out.kl), 'acc': tf.reduce_mean(out.acc)}

  return train_step


def make_eval_step(params, cfg, n_tasks, n_mc_samples=0):
  """`eval_step(episode, seed) -> (cent [T], kl [T], acc [T])`.

  n_mc_samples = 0 uses the posterior means; otherwise the query softmax is
  averaged over that many posterior samples before the argmax (meta-test).
  """

  @tf.function(input_signature=[episode_signature(cfg, n_tasks),
                                tf.TensorSpec([2], tf.int32)])
  def eval_step(episode, seed):
    values = params.values()
    if n_mc_samples == 0:
      out = metabatch_forward(values, episode, cfg, sample=False)
      return out.cent, out.kl, out.acc
    # MC integration (meta-test): average the query softmax over posterior draws.
    seeds = tf.random.experimental.stateless_split(seed, n_mc_samples)
    pred = tf.zeros(tf.shape(episode['yte']))
    cent = kl = tf.zeros(tf.shape(episode['yte'])[:1])
    for s in tf.range(n_mc_samples):
      out = metabatch_forward(values, episode, cfg, sample=True, seed=seeds[s])
      pred += out.pred / n_mc_samples
      cent += out.cent / n_mc_samples
      kl += out.kl / n_mc_samples
    correct = tf.equal(tf.argmax(pred, -1), tf.argmax(episode['yte'], -1))
    return cent, kl, tf.reduce_mean(tf.cast(correct, tf.float32), axis=-1)

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
