"""The pure math of targeted data-driven regularisation (no model, no state).

Inner (base) loss, target loss, one-step look-ahead, class-weight update and the
piecewise learning rate, each written once and shared by the compiled training
step, the golden tests and the benchmark.
"""
import tensorflow as tf

CLASS_WEIGHT_LR = 0.1       # the original's hard-coded outer step size
CLASS_WEIGHT_MAX = 100.0    # upper clip of the class weights
NORMALISE_EPS = 2e-12       # added to the sum before normalising the weights
LR_EPOCHS = (91, 136, 182)  # epochs where the base learning rate drops
LR_FACTORS = (1.0, 0.1, 0.01, 0.001)


def initial_class_weights(num_class):
  """[C, 1] float32 weights, 1/C each (the original's start)."""
  return tf.fill([num_class, 1], 1.0 / num_class)


def cross_entropy(logits, labels):
  """Per-example softmax cross entropy against integer labels."""
  onehot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1],
                      dtype=logits.dtype)
  return tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits)


def l2_penalty(params, weight_decay):
  """weight_decay * sum_v ||v||^2 / 2 over every tensor in `params`."""
  return weight_decay * tf.add_n([tf.nn.l2_loss(p) for p in params])


def example_weights(labels, class_weights):
  """w[y_i] for each example, as the original's one_hot @ class_weights."""
  onehot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(class_weights)[0],
                      dtype=class_weights.dtype)
  return tf.squeeze(tf.matmul(onehot, class_weights), axis=1)


def inner_loss(logits, labels, class_weights, params, weight_decay):
  """mean_i(w[y_i] * CE_i) + weight decay on the base model's weights."""
  weighted = example_weights(labels, class_weights) * cross_entropy(logits, labels)
  return tf.reduce_mean(weighted) + l2_penalty(params, weight_decay)


def target_loss(logits, labels, params, weight_decay):
  """Mean CE of the look-ahead model on the target batch + decay on its weights."""
  return (tf.reduce_mean(cross_entropy(logits, labels))
          + l2_penalty(params, weight_decay))


def lookahead(params, grads, learning_rate):
  """One plain SGD step p - lr * g for every weight (all layers at once)."""
  return [p - learning_rate * g for p, g in zip(params, grads)]


def class_weight_update(class_weights, grad, lr=CLASS_WEIGHT_LR,
                        max_weight=CLASS_WEIGHT_MAX):
  """clip(w - lr * grad, 0, max) normalised to sum 1."""
  new = tf.clip_by_value(class_weights - lr * grad, 0.0, max_weight)
  return new / (tf.reduce_sum(new) + NORMALISE_EPS)


def lr_boundaries(num_training_samples, batch_size):
  """Steps where the learning rate drops (epochs 91, 136, 182)."""
  per_epoch = int(num_training_samples / batch_size)
  return [per_epoch * e for e in LR_EPOCHS]


def piecewise_lr(step, base_lr, boundaries):
  """tf.compat.v1.train.piecewise_constant: lr0 while step <= b0, then x0.1 ..."""
  step = tf.cast(step, tf.int64)
  drops = tf.add_n([tf.cast(step > b, tf.int32) for b in boundaries]) \
      if boundaries else tf.constant(0)
  factors = tf.constant(LR_FACTORS[:len(boundaries) + 1], tf.float32)
  return base_lr * tf.gather(factors, drops)


def accuracy(logits, labels):
  """Fraction of argmax predictions equal to the labels."""
  pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
  return tf.reduce_mean(tf.cast(tf.equal(pred, tf.cast(labels, tf.int32)), tf.float32))
