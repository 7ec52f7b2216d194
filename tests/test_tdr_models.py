"""TDR models and training step: subclassing, look-ahead, schedule, optimizer,
distribution."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import keras

from common.errors import UserError
from models.tdr import build_model, losses
from models.tdr.bilevel import BatchNorm, BilevelModel, fused_batch_norm
from training.tdr_steps import TDRTrainer, confusion_metrics
from tests.conftest import REPO


class ReadmeNet(BilevelModel):
  """A user model written the way the original README shows (plus a BatchNorm)."""

  def __init__(self, num_class=2):
    super(ReadmeNet, self).__init__()
    self.num_class = num_class
    self.conv1 = tf.keras.layers.Conv2D(filters=4, kernel_size=3, activation=tf.nn.relu)
    self.bn = BatchNorm()
    self.dropout1 = tf.keras.layers.Dropout(0.25)
    self.flatten = tf.keras.layers.Flatten()
    self.fc3 = tf.keras.layers.Dense(units=self.num_class)

  def call(self, input, training=True):
    del training
    out = input / 128 - 1
    for layer in self.layers:
      out = layer(out)
    return out


def batch(n, shape, num_class, seed=0):
  rng = np.random.RandomState(seed)
  return (rng.randint(0, 256, (n,) + shape).astype(np.float32),
          (np.arange(n) % num_class).astype(np.int32))


@pytest.mark.parametrize('make, shape', [
    (lambda: ReadmeNet(3), (12, 12, 1)),
    (lambda: build_model('convnet', 3), (28, 28, 1)),
    (lambda: build_model('resnet', 3, 8, 'bv1'), (32, 32, 3)),
    (lambda: build_model('resnet', 3, 8, 'bv2'), (32, 32, 3)),
])
def test_subclass_gets_lookahead(make, shape):
  model = make()
  model.ensure_built(shape)
  x, y = batch(6, shape, 3)
  xv, yv = batch(3, shape, 3, seed=1)
  before = [v.numpy() for v in model.variables]
  cw = tf.constant(losses.initial_class_weights(3))
  out = model.bilevel_pass(cw, x, y, xv, yv, 0.01, 2e-3)
  g = out['class_weight_grad'].numpy()
  assert g.shape == (3, 1) and np.all(np.isfinite(g)) and np.abs(g).max() > 0
  np.testing.assert_allclose(out['new_class_weights'].numpy().sum(), 1, rtol=1e-5)
  for v, b in zip(model.variables, before):   # functional: nothing assigned
    if 'seed' not in v.path:
      np.testing.assert_array_equal(v.numpy(), b)
  # the look-ahead weights really are used by the target pass
  params = [tf.convert_to_tensor(v) for v in model.trainable_variables]
  same, _ = model.functional_call(params, xv, training=False)
  np.testing.assert_allclose(same.numpy(), model(xv, training=False).numpy(), atol=1e-5)
  moved, _ = model.functional_call(out['perturbed'], xv, training=False)
  np.testing.assert_allclose(moved.numpy(), out['target_logits'].numpy(), atol=1e-5)


def test_batch_norm_moments_and_moving_stats():
  bn = BatchNorm(momentum=0.9, epsilon=1e-5)
  x = tf.random.stateless_normal((4, 3, 3, 2), seed=(1, 2)) * 3 + 1
  y = bn(x, training=True).numpy()
  mean, var = x.numpy().mean((0, 1, 2)), x.numpy().var((0, 1, 2))
  np.testing.assert_allclose(y, (x.numpy() - mean) / np.sqrt(var + 1e-5), atol=1e-5)
  np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)


def test_fused_batch_norm_matches_the_moments_formulation_at_first_order():
  x = tf.random.stateless_normal((6, 5, 5, 3), seed=(3, 4)) * 2 + 0.5
  g_out = tf.random.stateless_normal((6, 5, 5, 3), seed=(5, 6))
  layers, results = [], []
  for fused in (False, True):
    bn = BatchNorm(momentum=0.9, epsilon=1e-5)
    bn.build(x.shape)
    bn.gamma.assign([1.5, 0.5, 2.0])
    bn.beta.assign([0.1, -0.2, 0.3])
    with tf.GradientTape() as tape, fused_batch_norm(fused):
      tape.watch(x)
      y = bn(x, training=True)
      loss = tf.reduce_sum(y * g_out)
    results.append([y] + tape.gradient(loss, [x, bn.gamma, bn.beta]))
    layers.append(bn)
  for a, b in zip(*results):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)
  for name in ('moving_mean', 'moving_variance'):   # the biased variance, as the original
    np.testing.assert_allclose(getattr(layers[1], name).numpy(),
                               getattr(layers[0], name).numpy(), rtol=1e-6)
  traced = tf.function(lambda t: layers[0](t, training=True)).get_concrete_function(x)
  assert not any(op.startswith('FusedBatchNorm') for op in _op_types(traced))   # context left


def _op_types(concrete):
  graph = concrete.graph.as_graph_def()
  return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def test_base_step_fused_kernel_only_there_and_same_update():
  """The base step (first order) runs the fused kernel, the class-weight step (second
  order) never.  From the same weights the fused step's update differs from the
  original formulation's by float32 rounding: no more than the same step on the
  same batch in another example order differs (measured: about equal; a factor 4
  allowed)."""
  x, y = batch(8, (32, 32, 3), 3, seed=1)
  perm = np.random.RandomState(1).permutation(8)
  keras.utils.set_random_seed(3)
  models = [build_model('resnet', 3, 8, 'v1') for _ in range(3)]
  for m in models:
    m.ensure_built((32, 32, 3))
    m.set_weights(models[0].get_weights())
  start = [v.numpy() for v in models[0].variables]
  runs = [(False, x, y), (True, x, y), (False, x[perm], y[perm])]
  trainers = [TDRTrainer(m, 3, (32, 32, 3), learning_rate=0.1, fused_base_batch_norm=f)
              for m, (f, _, _) in zip(models, runs)]
  streams = [iter(tf.data.Dataset.from_tensors((xx, yy)).repeat()) for _, xx, yy in runs]
  kernels = lambda f: any(op.startswith('FusedBatchNorm') for op in _op_types(f))
  assert kernels(trainers[1].train_step.get_concrete_function(streams[1]))
  assert not kernels(trainers[0].train_step.get_concrete_function(streams[0]))
  assert not kernels(trainers[1].class_weight_step.get_concrete_function(streams[1], streams[1]))
  for t, it in zip(trainers, streams):
    t.train_step(it)
  for trainable in (True, False):   # weights; moving statistics
    index = [i for i, v in enumerate(models[0].variables) if v.trainable == trainable]
    updates = [np.concatenate([(m.variables[i].numpy() - start[i]).ravel() for i in index])
               for m in models]
    distance = lambda a: np.linalg.norm(a - updates[0]) / np.linalg.norm(updates[0])
    assert 0 < distance(updates[2]) < 1e-3
    assert distance(updates[1]) <= 4 * distance(updates[2]), (trainable, distance(updates[1]),
                                                              distance(updates[2]))


@pytest.mark.parametrize('name, shape, num_class, size', [
    ('resnet', (32, 32, 3), 3, 8), ('convnet', (28, 28, 1), 2, None), ('lenet', (28, 28, 1), 2, None)])
def test_checkpoint_restores_every_model_variable(tmp_path, name, shape, num_class, size):
  """ResNet keeps its layers in a list and ConvNet has dropout seed states, which the
  object graph does not reach; every variable must still come back on resume."""
  x, y = batch(8, shape, num_class)
  trainers = []
  for seed in (1, 2):   # different initial weights
    keras.utils.set_random_seed(seed)
    trainers.append(TDRTrainer(build_model(name, num_class, size or 20, 'v1'), num_class, shape))
  trainers[0].train_step(iter(tf.data.Dataset.from_tensors((x, y)).repeat()))
  path = trainers[0].checkpoint().write(str(tmp_path / 'ckpt'))
  trainers[1].checkpoint().read(path).assert_existing_objects_matched()
  for a, b in zip(trainers[0].model.variables, trainers[1].model.variables):
    np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
  keys = [k for k, _ in tf.train.list_variables(path)]
  assert any(k.startswith('model_variables/') for k in keys) == (name != 'lenet')


def test_resnet_size_and_structure():
  with pytest.raises(UserError, match='6n\\+2'):
    build_model('resnet', 10, 21)
  model = build_model('resnet', 10, 20, 'v1')
  model.ensure_built((32, 32, 3))
  convs = [v for v in model.trainable_variables if v.path.endswith('kernel')]
  assert len(convs) == 1 + 3 * (1 + 2 * 3) + 1   # stem, 3 stages x (shortcut + 3 blocks x 2), dense


def test_schedule_and_class_weight_update():
  b = losses.lr_boundaries(5000, 50)
  assert b == [9100, 13600, 18200]
  lrs = [float(losses.piecewise_lr(s, 0.01, b)) for s in (0, 9100, 9101, 13601, 18201)]
  np.testing.assert_allclose(lrs, [0.01, 0.01, 0.001, 1e-4, 1e-5], rtol=1e-6)
  new = losses.class_weight_update(tf.constant([[0.5], [0.5]]), tf.constant([[-10.], [10.]]))
  np.testing.assert_allclose(new.numpy(), [[1.0], [0.0]], atol=1e-6)


def test_momentum_step_matches_tf1_momentum():
  model = build_model('lenet', 2)
  trainer = TDRTrainer(model, 2, (28, 28, 1), learning_rate=0.1, momentum=0.9,
                       weight_decay=2e-3, reweight=False)
  x, y = batch(8, (28, 28, 1), 2)
  it = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
  w0 = [v.numpy() for v in model.trainable_variables]
  with tf.GradientTape() as tape:
    loss = losses.inner_loss(model(x), y, trainer.class_weights,
                             model.trainable_variables, 2e-3)
  g0 = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
  out = trainer.train_step(it)
  np.testing.assert_allclose(float(out['loss']), float(loss), rtol=1e-6)
  for v, w, g in zip(model.trainable_variables, w0, g0):
    np.testing.assert_allclose(v.numpy(), w - 0.1 * g, atol=1e-6)
  assert int(trainer.step) == 1


def test_confusion_metrics_binary():
  m = confusion_metrics([[3, 1], [2, 4]])   # rows: true class, class 0 = minority
  assert m['accuracy'] == 0.7 and m['recall_minor'] == 0.75
  assert abs(m['recall_major'] - 4 / 6) < 1e-12 and m['precision_minor'] == 0.6


def test_mirrored_strategy_matches_one_device(tmp_path):
  """--num-gpus > 1 maps onto MirroredStrategy: two logical CPUs stand in for GPUs."""
  script = textwrap.dedent('''
    import sys, numpy as np, tensorflow as tf, keras
    sys.path.insert(0, %r)
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from models.tdr import build_model
    from training.tdr_steps import TDRTrainer
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, (8, 28, 28, 1)).astype(np.float32); y = np.arange(8) %% 2
    res = []
    for strategy in (tf.distribute.OneDeviceStrategy('/cpu:0'),
                     tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])):
      keras.utils.set_random_seed(0)
      with strategy.scope():
        model = build_model('lenet', 2)
      t = TDRTrainer(model, 2, (28, 28, 1), strategy=strategy)
      ds = tf.data.Dataset.from_tensors((x, y)).repeat()
      it = iter(strategy.experimental_distribute_dataset(ds))
      t.advance(it, it, 3)    # class-weight step, then 3 base steps in one call
      res.append(np.concatenate([v.numpy().ravel() for v in model.trainable_variables]))
    print('MAXDIFF', np.abs(res[0] - res[1]).max(), 'REPLICAS', strategy.num_replicas_in_sync)
    # the whole loop (logs, checkpoint, evaluation) under the mirrored strategy
    from data.tdr import tfrecords as tfr
    from common.run_dir import RunDirectory
    from training.tdr import TDRRun
    job = %r
    tfr.write(job + '/test.tfrecords', x.astype(np.uint8), y)
    streams = lambda train_batches, target_batches: (it, it)
    run = TDRRun(t, streams, tfr.eval_dataset(job + '/test.tfrecords', 4, (28, 28, 1)),
                 RunDirectory(job, '--job-dir'), t.current_step() + 4, log_freq=2,
                 eval_freq=2, log=lambda s: None, progress_bar=False)
    run.train()
    out = run.test()
    print('FITSTEP', out['step'])
  ''' % (str(REPO), str(tmp_path)))
  proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                        timeout=300, env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith('MAXDIFF')][0].split()
  assert line[3] == '2'
  assert float(line[1]) < 1e-3   # class weights differ slightly (per-replica look-ahead)
  assert 'FITSTEP 7' in proc.stdout


@pytest.mark.parametrize('reweight,logged_draws', [(True, 0), (True, 20), (False, 20)])
def test_batches_drawn_counts_every_draw_of_advance(reweight, logged_draws):
  """After any number of steps the streams are exactly `batches_drawn` batches in:
  each batch carries its index in its pixels (a resume skips that many)."""
  def indexed(batch_size):
    return iter(tf.data.Dataset.range(10 ** 6).map(lambda i: (
        tf.fill([batch_size, 28, 28, 1], tf.cast(i, tf.float32)),
        tf.cast(tf.range(batch_size) % 2, tf.int32))))
  keras.utils.set_random_seed(0)
  t = TDRTrainer(build_model('lenet', 2), 2, (28, 28, 1), reweight=reweight,
                 class_weight_freq=10, logged_draws=logged_draws)
  train, target = indexed(4), indexed(2)
  step = 0
  for stop in (10, 20, 23, 40, 50, 61):
    while step < stop:
      n = t.block_end(step, stop, 20) - step
      t.advance(train, target, n)
      step += n
    drawn = t.batches_drawn(step)
    # peeking consumes one batch of each; the next advance's counts then differ by one
    got = int(next(train)[0][0, 0, 0, 0]), int(next(target)[0][0, 0, 0, 0])
    assert got == drawn, (step, got, drawn)
    train, target = indexed(4), indexed(2)
    for _ in range(drawn[0]):
      next(train)
    for _ in range(drawn[1]):
      next(target)
  if logged_draws and reweight:   # steps 0, 20, 40, 60 each dropped one train, two targets
    assert t.batches_drawn(61) == (61 + 7 + 4, 7 + 8)
