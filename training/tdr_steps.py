"""The compiled TDR training steps (the loop is training/tdr.py; together they
replace the original Estimator).

Per step: momentum SGD on the weighted inner loss (as MomentumOptimizer:
accum = m * accum + g; w -= lr * accum, lr piecewise); its batch norm runs
the fused kernel unless `fused_base_batch_norm=False` (bilevel.fused_batch_norm).  Every
`class_weight_freq` steps, before that step's update, the class weights take one
clipped, normalised step on their own train and target batches (the original's
WeightUpdateHook1 runs its own session.run, hence draws fresh batches).
`logged_draws=N` also drops, at every N-th step, the batches the original's logging
drew there (see `advance`), so the update and training batches come from the same
places of the stream as the original's.
Everything runs under a `tf.distribute` strategy (default: one device).
"""
import numpy as np
import tensorflow as tf

from models.tdr import bilevel, losses

MEAN = tf.distribute.ReduceOp.MEAN


def class_recalls(cm):
  """(recall, support) per class of confusion matrix `cm` [true, predicted];
  recall 0 for a class with no examples."""
  cm = np.asarray(cm, np.float64)
  support = cm.sum(axis=1)
  return np.divide(np.diag(cm), support, out=np.zeros(len(cm)), where=support > 0), support


def confusion_metrics(cm):
  """Accuracy (+ minority/majority recall and minority precision for 2 classes)."""
  cm = np.asarray(cm, np.float64)
  total = cm.sum()
  out = {'accuracy': float(np.trace(cm) / total) if total else 0.0}
  recalls, support = class_recalls(cm)
  out['mean_class_recall'] = float(recalls[support > 0].mean()) if total else 0.0
  if len(cm) == 2:  # class 0 = minority (minority labels come first)
    predicted0 = cm[:, 0].sum()
    out['recall_minor'] = float(recalls[0])
    out['recall_major'] = float(recalls[1])
    out['precision_minor'] = float(cm[0, 0] / predicted0) if predicted0 else 0.0
  return out


def logging_drops(step, class_weight_freq, reweight, logged_draws):
  """(train, target) batches the original's logging drew at base step `step`, with
  `logged_draws` its --log-freq (0: none): at a logged step its class-weight hook
  ran the update a second time, to print the weights (one train, one target batch,
  if an update was due), and its logging hook fetched the target loss in the
  training run (one target batch)."""
  if not logged_draws or step % logged_draws:
    return 0, 0
  second_update = int(bool(reweight) and step % class_weight_freq == 0)
  return second_update, second_update + 1


def batches_drawn(step, class_weight_freq, reweight, logged_draws=0):
  """(train, target) batches `TDRTrainer.advance` drew before base step `step`: one
  per base step, one of each per class-weight update (steps 0, f, 2f, ...), and the
  `logging_drops`."""
  updates = -(-step // class_weight_freq) if reweight else 0
  drops = [logging_drops(s, class_weight_freq, reweight, logged_draws)
           for s in range(0, step, logged_draws)] if logged_draws else []
  return (step + updates + sum(t for t, _ in drops),
          updates + sum(v for _, v in drops))


class TDRTrainer(tf.Module):
  """Model, class weights, momentum slots, step counter and the compiled steps."""

  def __init__(self, model, num_class, image_shape, learning_rate=0.01, momentum=0.9,
               weight_decay=2e-3, boundaries=(), reweight=True,
               class_weight_lr=losses.CLASS_WEIGHT_LR, class_weight_freq=10,
               strategy=None, jit=False, fused_base_batch_norm=True, logged_draws=0):
    super().__init__(name='tdr_trainer')
    self.strategy = strategy or tf.distribute.get_strategy()
    self.num_class = num_class
    self.learning_rate = float(learning_rate)
    self.momentum = float(momentum)
    self.weight_decay = float(weight_decay)
    self.boundaries = [int(b) for b in boundaries]
    self.reweight = reweight
    self.class_weight_lr = float(class_weight_lr)
    self.class_weight_freq = int(class_weight_freq)
    self.fused_base_batch_norm = bool(fused_base_batch_norm)
    self.logged_draws = int(logged_draws)
    with self.strategy.scope():
      model.ensure_built(image_shape)
      self.model = model
      self.class_weights = tf.Variable(losses.initial_class_weights(num_class),
                                       trainable=False, name='class_weight')
      self.slots = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                                name='momentum_%d' % i)
                    for i, v in enumerate(model.trainable_variables)]
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    # XLA cannot compile the iterator op, so only the per-replica math is jitted
    wrap = (lambda f: tf.function(f, jit_compile=True)) if jit else (lambda f: f)
    self._replica_train_fn = wrap(self._replica_train)
    self._replica_class_weight_fn = wrap(self._replica_class_weight)
    self.train_step = tf.function(self._train_step)
    self.train_steps = tf.function(self._train_steps)
    self.class_weight_step = tf.function(self._class_weight_step)
    self.eval_step = tf.function(self._eval_step, reduce_retracing=True)

  def checkpoint(self):
    """Model, class weights, momentum slots, step.  tf.train.Checkpoint saves what
    it reaches through the model's object graph, and Keras 3 does not show it
    layers held in a Python list (BilevelResNet.resnet_layers) or the dropout
    layers' seed states: those variables are listed explicitly
    (`model_variables`), so a resumed run gets every weight back.  A model fully
    reached (LeNet) keeps the checkpoint layout it always had."""
    reached = {id(t) for t in tf.train.TrackableView(self.model).descendants()}
    missed = [v for v in self.model.variables if id(v) not in reached]
    extra = {'model_variables': missed} if missed else {}
    return tf.train.Checkpoint(model=self.model, class_weights=self.class_weights,
                               slots=self.slots, step=self.step, **extra)

  def current_step(self):
    """The step counter as a Python int (also for mirrored variables)."""
    return int(self.step.numpy())

  def _mean(self, value):
    return self.strategy.reduce(MEAN, value, axis=None)

  def lr(self):
    return losses.piecewise_lr(self.step, self.learning_rate, self.boundaries)

  def _replica_train(self, x, y):
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape, bilevel.fused_batch_norm(self.fused_base_batch_norm):
      logits = self.model.logits(x, training=True)
      loss = losses.inner_loss(logits, y, self.class_weights, variables,
                               self.weight_decay)
    grads = tape.gradient(loss, variables)
    return grads, loss, losses.accuracy(logits, y)

  def _train_step(self, iterator):
    """One momentum-SGD step of the base model on the next train batch."""
    x, y = next(iterator)
    grads, loss, acc = self.strategy.run(self._replica_train_fn, (x, y))
    lr = self.lr()
    for var, slot, grad in zip(self.model.trainable_variables, self.slots, grads):
      slot.assign(self.momentum * slot + self._mean(grad))
      var.assign_sub(lr * slot)
    self.step.assign_add(1)
    return {'loss': self._mean(loss), 'accuracy': self._mean(acc), 'learning_rate': lr}

  def _train_steps(self, iterator, n):
    """`n` (>= 1) base steps in one call: no Python round trip per step.  The
    metrics of the last step, and `first_loss`, the loss of the first (it judges
    the weights the block started from)."""
    out = self._train_step(iterator)
    first_loss = out['loss']
    for _ in tf.range(n - 1):
      out = self._train_step(iterator)
    return dict(out, first_loss=first_loss)

  def advance(self, train_iterator, val_iterator, n):
    """The class-weight update if due at this step, then `n` base steps.

    Returns (base-step metrics of the last step, class-weight metrics or None).
    Callers keep `n` within one class-weight period (see `block_end`).
    """
    target = None
    step = self.current_step()
    if self.reweight and step % self.class_weight_freq == 0:
      target = self.class_weight_step(train_iterator, val_iterator)
    train_drops, target_drops = logging_drops(step, self.class_weight_freq, self.reweight,
                                              self.logged_draws)
    for _ in range(train_drops):
      next(train_iterator)
    for _ in range(target_drops):
      next(val_iterator)
    return self.train_steps(train_iterator, tf.constant(n, tf.int64)), target

  def batches_drawn(self, step):
    """(train, target) batches the streams gave up to base step `step` (`batches_drawn`)."""
    return batches_drawn(step, self.class_weight_freq, self.reweight, self.logged_draws)

  def block_end(self, step, stop, *every):
    """First step after `step` that ends a class-weight period, a multiple of
    one of `every`, or `stop`."""
    periods = (list(every) + ([self.class_weight_freq] if self.reweight else [])
               + ([self.logged_draws] if self.logged_draws else []))
    return min([stop] + [(step // p + 1) * p for p in periods])

  def _replica_class_weight(self, x, y, xv, yv):
    # With replicas, the look-ahead takes the whole batch's mean gradient; the
    # all-reduce's gradient is itself all-reduced, so the mean over replicas of
    # the class-weight gradients is the single-device one.
    mean_over_replicas = None
    if self.strategy.num_replicas_in_sync > 1:
      mean_over_replicas = lambda grads: tf.distribute.get_replica_context().all_reduce(
          MEAN, grads)
    out = self.model.bilevel_pass(self.class_weights, x, y, xv, yv,
                                  self.learning_rate, self.weight_decay,
                                  reduce_gradients=mean_over_replicas)
    return (out['class_weight_grad'], out['target_loss'],
            losses.accuracy(out['target_logits'], yv))

  def _class_weight_step(self, train_iterator, val_iterator):
    """Update the class weights from the look-ahead's target loss."""
    (x, y), (xv, yv) = next(train_iterator), next(val_iterator)
    grad, t_loss, t_acc = self.strategy.run(self._replica_class_weight_fn,
                                            (x, y, xv, yv))
    self.class_weights.assign(losses.class_weight_update(
        self.class_weights, self._mean(grad), self.class_weight_lr))
    return {'target_loss': self._mean(t_loss), 'target_accuracy': self._mean(t_acc)}

  def _eval_step(self, x, y):
    pred = tf.argmax(self.model.logits(x, training=False), axis=-1, output_type=tf.int32)
    return tf.math.confusion_matrix(y, pred, num_classes=self.num_class)

  def confusion_matrix(self, dataset):
    """[true, predicted] counts of the base model (training=False) over `dataset`."""
    cm = np.zeros([self.num_class] * 2, np.int64)
    for x, y in dataset:
      cm += self.eval_step(x, y).numpy()
    return cm

  def evaluate(self, dataset):
    """Metrics of the base model (training=False) over every batch of `dataset`."""
    return confusion_metrics(self.confusion_matrix(dataset))
