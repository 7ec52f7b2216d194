"""`--bn_grad fused` is the original graph's second-order gradient through its
batch norm, `--bn_grad exact` the true one, at the level of one learner block.

The reference is the original's construction itself, built here with
tf.compat.v1 under control flow v1: a fused batch norm (`FusedBatchNormV3`,
offset only, eps 1e-3, batch statistics) inside `tf.map_fn`, the inner
gradient taken by `tf.gradients` in the loop body and the outer one through the
loop.  TensorFlow's gradient of `FusedBatchNormGrad` re-derives the backward
from its inputs; inside the loop's gradient those inputs are stack pops, so it
returns None (`learner.tf1_fused_second_order`).  The same graph with the tasks
in a Python loop differentiates correctly and is the exact reference.
"""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from models.taml import learner

TASKS, ROWS, SIDE, LR = 2, 8, 10, 0.1


def inputs():
  """Per-task images, both blocks' weights, offset and output cotangents (float32:
  the fused kernel has no float64 CPU kernel)."""
  rng = np.random.default_rng(11)
  normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
  return dict(x=normal(TASKS, ROWS, SIDE, SIDE, 3), w1=normal(3, 3, 3, 4), b1=normal(4),
              w2=normal(3, 3, 4, 4), beta=normal(4), v1=normal(ROWS, 5, 5, 4),
              v2=normal(ROWS, 2, 2, 4))


def task_objective(block, x, c):
  """Adapted loss of one task after one inner step on (w1, beta), plus the inner
  gradients' squares (so their own second derivatives count too)."""
  def loss(w1, beta):   # two blocks (the second on odd 5x5: VALID drops a row)
    h = block(x, w1, c['b1'], beta)
    return tf.reduce_sum(block(h, c['w2'], c['b1'], beta) * c['v2']) + tf.reduce_sum(h * c['v1'])
  return loss, lambda g_w, g_beta: (tf.reduce_sum(tf.square(g_w)) + tf.reduce_sum(tf.square(g_beta)))


def original_block(x, w, b, beta):
  """l2b's block: conv + bias, contrib's fused batch norm (scale 1), ReLU, max-pool."""
  h = tf.nn.conv2d(x, w, 1, 'SAME') + b
  y, _, _ = tf.compat.v1.nn.fused_batch_norm(h, tf.ones_like(beta), beta,
                                             epsilon=learner.BN_EPSILON, is_training=True)
  return tf.nn.max_pool2d(tf.nn.relu(y), 2, 2, 'VALID')


def original_graph(values, loop):
  """[sum of adapted losses, outer grad w1, outer grad beta] from a TF1 graph."""
  graph = tf.Graph()
  with graph.as_default():
    c = {k: tf.constant(v) for k, v in values.items()}

    def one_task(x):
      loss, penalty = task_objective(original_block, x, c)
      g_w, g_beta = tf.compat.v1.gradients(loss(c['w1'], c['beta']), [c['w1'], c['beta']])
      return loss(c['w1'] - LR * g_w, c['beta'] - LR * g_beta) + penalty(g_w, g_beta)

    if loop == 'map_fn':
      per_task = tf.compat.v1.map_fn(one_task, c['x'])
    else:
      per_task = tf.stack([one_task(c['x'][t]) for t in range(TASKS)])
    total = tf.reduce_sum(per_task)
    grads = tf.compat.v1.gradients(total, [c['w1'], c['beta']])
    with tf.compat.v1.Session(graph=graph) as sess:
      return sess.run([total] + grads)


def port(values, bn_grad):
  c = {k: tf.constant(v) for k, v in values.items()}
  block = lambda x, w, b, beta: learner.conv_block(x, w, b, beta, bn_grad=bn_grad)

  @tf.function
  def run():
    watched = [c['w1'], c['beta']]
    with tf.GradientTape() as outer:
      outer.watch(watched)
      total = 0.
      for t in range(TASKS):
        loss, penalty = task_objective(block, c['x'][t], c)
        with tf.GradientTape() as inner:
          inner.watch(watched)
          value = loss(*watched)
        g_w, g_beta = inner.gradient(value, watched)
        total += loss(c['w1'] - LR * g_w, c['beta'] - LR * g_beta) + penalty(g_w, g_beta)
    return [total] + outer.gradient(total, watched)

  return [t.numpy() for t in run()]


@pytest.fixture
def control_flow_v1(monkeypatch):
  """tf.compat.v1.disable_control_flow_v2(), undone after the test."""
  monkeypatch.setattr(control_flow_util, 'ENABLE_CONTROL_FLOW_V2', False)


RTOL = 1e-4   # float32, the goldens' rule: max|diff| <= 1e-4 * max|reference|
NAMES = ('adapted loss', 'outer grad w1', 'outer grad beta')


def relative_errors(got, want):
  return [float(np.abs(g - w).max() / np.abs(w).max()) for g, w in zip(got, want)]


@pytest.mark.parametrize('loop, bn_grad', [('map_fn', 'fused'), ('python', 'exact')])
def test_block_second_order_is_the_original_graphs(control_flow_v1, loop, bn_grad):
  """fused == the fused kernel inside tf.map_fn (control flow v1); exact == the
  same kernel with the tasks unrolled, where TensorFlow's gradient is the true one."""
  values = inputs()
  errors = relative_errors(port(values, bn_grad), original_graph(values, loop))
  assert max(errors) <= RTOL, dict(zip(NAMES, errors))


def test_block_variants_differ_only_at_second_order(control_flow_v1):
  """Same values and inner gradients in both modes (the same ops: bit for bit);
  the outer gradients differ far beyond the tolerance, so the test above tells
  the two modes apart.  (The adapted loss of the compiled step may differ by
  float32 round-off: the two graphs are rewritten differently.)"""
  values = inputs()
  c = {k: tf.constant(v) for k, v in values.items()}
  first_order = {}
  for bn_grad in ('fused', 'exact'):
    loss, _ = task_objective(
        lambda x, w, b, beta: learner.conv_block(x, w, b, beta, bn_grad=bn_grad), c['x'][0], c)
    with tf.GradientTape() as tape:
      tape.watch([c['w1'], c['beta']])
      value = loss(c['w1'], c['beta'])
    first_order[bn_grad] = [value] + tape.gradient(value, [c['w1'], c['beta']])
  for a, b in zip(first_order['fused'], first_order['exact']):
    np.testing.assert_array_equal(a, b)
  errors = relative_errors(port(values, 'fused'), port(values, 'exact'))
  assert errors[0] <= 1e-6 and min(errors[1:]) > 100 * RTOL, dict(zip(NAMES, errors))


def test_unknown_bn_grad_is_refused():
  with pytest.raises(ValueError, match='bn_grad'):
    learner.conv_block(tf.zeros([2, 4, 4, 1]), tf.zeros([3, 3, 1, 1]), tf.zeros([1]),
                       tf.zeros([1]), bn_grad='fast')
