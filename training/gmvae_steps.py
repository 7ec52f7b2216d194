"""Compiled Meta-GMVAE training, evaluation and TensorBoard-image steps,
PyTorch-style Adam, replica sharding (the loop is training/gmvae.py).

`GMVAETrainer` holds the parameters (tf.Variables named by the original
`state_dict` keys), the Adam moments and a `tf.random.Generator`, all of which
go into the checkpoint, so a killed run resumes with the same random stream.
"""
import numpy as np
import tensorflow as tf

from models.gmvae import decoders, em, gmvae
from common import distribute
from models.gmvae.layers import LayerOps, bn_running_update, is_buffer

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def adam_l2_update(params, grads, m, v, step, lr, weight_decay,
                   betas=ADAM_BETAS, eps=ADAM_EPS):
  """One `torch.optim.Adam(lr, weight_decay)` step in place: the L2 term is added to
  the gradient before the moments (not decoupled as in AdamW).  `step` is the
  step number after this update (1 for the first).  Computes in the dtype of each
  parameter (float32, or float64 in the golden replays)."""
  b1, b2 = betas
  corrections = {}
  for name, grad in grads.items():
    p = params[name]
    if p.dtype not in corrections:
      t = tf.cast(step, p.dtype)
      corrections[p.dtype] = (1. - tf.pow(tf.constant(b1, p.dtype), t),
                              1. - tf.pow(tf.constant(b2, p.dtype), t))
    bias1, bias2 = corrections[p.dtype]
    lr_p = tf.cast(lr, p.dtype) if isinstance(lr, (tf.Tensor, tf.Variable)) else lr
    g = grad + weight_decay * p if weight_decay else grad
    m[name].assign(b1 * m[name] + (1. - b1) * g)
    v[name].assign(b2 * v[name] + (1. - b2) * tf.square(g))
    denom = tf.sqrt(v[name]) / tf.sqrt(bias2) + eps
    p.assign_sub((lr_p / bias1) * m[name] / denom)


def _var_name(name):
  return name.replace('.', '/')


def make_state(init):
  """Variables for initial values `init` (name -> array): (params, trainable names,
  Adam first moments, Adam second moments); BN buffers are not trainable."""
  trainable = [n for n in sorted(init) if not is_buffer(n)]
  params = {n: tf.Variable(v, trainable=not is_buffer(n), name=_var_name(n))
            for n, v in init.items()}
  zeros = lambda: {n: tf.Variable(tf.zeros_like(init[n]), trainable=False) for n in trainable}
  return params, trainable, zeros(), zeros()


class GMVAETrainer(tf.Module):
  """Parameters, optimizer state and the compiled steps of one GMVAE."""

  def __init__(self, cfg, batch_size, sample_size, lr, weight_decay, seed=0,
               jit_compile=False, strategy=None):
    super().__init__(name='gmvae')
    self.cfg = cfg
    self.lr, self.weight_decay = lr, weight_decay
    self.strategy = strategy or tf.distribute.get_strategy()
    self.batch_size = batch_size
    self.n_local = distribute.check_divisible(batch_size, self.strategy, '--batch-size')
    self.split = self.strategy.num_replicas_in_sync > 1
    # split: batch norm pools its statistics over every replica's images
    self.layer_ops = LayerOps(cross_replica=self.split)
    init = gmvae.init_params(cfg, seed)
    self.names = sorted(init)
    with self.strategy.scope():
      self.params, self.trainable_names, self.adam_m, self.adam_v = make_state(init)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    # Outside the scope: one stream on the host draws the whole metabatch's noise,
    # which the replicas slice (same numbers whatever the replica count).
    self.rng = tf.random.Generator.from_seed(seed)
    shape = (batch_size, sample_size) + cfg.input_shape
    self.train_step = tf.function(
        self._train_step, input_signature=[tf.TensorSpec(shape, tf.float32)],
        jit_compile=jit_compile)
    self.predict_step = tf.function(self._predict_step, jit_compile=jit_compile)

  def load_numpy(self, values):
    """Assign parameters/buffers from a dict name -> array (TF layouts)."""
    for name, value in values.items():
      self.params[name].assign(np.asarray(value, np.float32).reshape(self.params[name].shape))

  def numpy_params(self):
    return {n: v.numpy() for n, v in self.params.items()}

  def draw_train_noise(self, batch, sample):
    cfg = self.cfg
    mc, latent = cfg.train_mc_sample_size, cfg.latent_size
    eps = self.rng.normal([batch * sample, mc, latent])
    # a uniformly random K-subset of the S*mc samples per episode (np.random.choice(.., replace=False))
    init_idx = tf.math.top_k(self.rng.uniform([batch, sample * mc]),
                             cfg.component_size).indices
    return eps, init_idx

  def loss_and_grads(self, x, eps, init_idx):
    """forward() in training mode, gradients of rec + kl, and the BN batch statistics."""
    stats = {}
    with tf.GradientTape() as tape:
      out = gmvae.forward(self.params, self.cfg, x, eps, init_idx, True, stats, self.layer_ops)
    grads = tape.gradient(out['loss'], {n: self.params[n] for n in self.trainable_names})
    return out, grads, stats

  def _replica_loss_and_grads(self, x, eps, init_idx):
    """This replica's tasks: losses and gradients weighted by its share of the
    metabatch (so that they sum to the metabatch's), and the BN statistics."""
    if not self.split:
      out, grads, stats = self.loss_and_grads(x, eps, init_idx)
      return out['rec_loss'], out['kl_loss'], grads, stats
    n, sample = self.n_local, x.shape[1]
    eps = tf.reshape(eps, [self.batch_size, sample] + eps.shape[1:].as_list())
    x, eps, init_idx = (distribute.replica_slice(t, n) for t in (x, eps, init_idx))
    eps = tf.reshape(eps, [n * sample] + eps.shape[2:].as_list())
    out, grads, stats = self.loss_and_grads(x, eps, init_idx)
    share = n / self.batch_size
    grads = {k: g * share for k, g in grads.items()}
    return out['rec_loss'] * share, out['kl_loss'] * share, grads, stats

  def metabatch_gradients(self, x, eps, init_idx):
    """(rec_loss, kl_loss, gradients, BN statistics) of the whole metabatch,
    computed by the replicas and summed (call under `strategy.scope()`)."""
    rec, kl, grads, stats = self.strategy.run(self._replica_loss_and_grads,
                                              (x, eps, init_idx))
    total = lambda v: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
    # pooled statistics are the same on every replica: their mean is exact
    mean = lambda v: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
    return (total(rec), total(kl), {k: total(g) for k, g in grads.items()},
            {k: tuple(mean(s) for s in v) for k, v in stats.items()})

  def _train_step(self, x):
    eps, init_idx = self.draw_train_noise(x.shape[0], x.shape[1])
    with self.strategy.scope():
      rec, kl, grads, stats = self.metabatch_gradients(x, eps, init_idx)
      finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads.values()]
                             + [tf.math.is_finite(rec + kl)])
      if finite:   # a non-finite step changes nothing; the caller stops the run
        self.step.assign_add(1)
        adam_l2_update(self.params, grads, self.adam_m, self.adam_v, self.step, self.lr,
                       self.weight_decay)
        bn_running_update(self.params, stats)
    return rec, kl, finite

  def _predict_step(self, x_tr, y_tr, x_te):
    batch, n = tf.shape(x_tr)[0], tf.shape(x_tr)[1] + tf.shape(x_te)[1]
    eps = self.rng.normal([batch * n, self.cfg.test_mc_sample_size, self.cfg.latent_size])
    return gmvae.predict(self.params, self.cfg, x_tr, y_tr, x_te, eps)['y_te_pred']

  def accuracy(self, episodes):
    """Mean query accuracy per episode of one batch (x_tr, y_tr, x_te, y_te) -> [B]."""
    x_tr, y_tr, x_te, y_te = episodes
    pred = self.predict_step(tf.constant(x_tr, tf.float32), tf.constant(y_tr, tf.int32),
                             tf.constant(x_te, tf.float32)).numpy()
    return np.mean(pred == y_te, axis=-1)


def make_image_step(trainer):
  """`x [1, S, 28, 28, 1] -> (reconstructions [S, 28, 28, 1], mixture means decoded
  [K, 28, 28, 1])`: eval-mode batch norm, z = the posterior mean, the EM started from
  the first K points.  Reads the parameters only (no random draw, no update)."""
  cfg = trainer.cfg

  @tf.function
  def image_step(x):
    p = trainer.params
    eps = tf.zeros([x.shape[1], 1, cfg.latent_size])
    _, _, _, z = gmvae.sample_posterior(p, cfg, x, eps, training=False)
    _, rec = gmvae.reconstruction_loss(p, cfg, z, x, training=False)
    points = tf.reshape(z, [1, -1, cfg.latent_size])
    _, means = em.unsupervised_em(points, points[:, :cfg.component_size],
                                  cfg.unsupervised_em_iters, cfg.fix_pi)
    logits = decoders.omniglot_decoder(p, means[0], cfg.hidden_size, False,
                                       dtype=cfg.conv_compute_dtype)
    return rec[0, :, 0], tf.sigmoid(logits)

  return image_step
