"""results/tdr_scores.py, the one evaluator of the TDR original-vs-port table: it
reads a port run's checkpoint and reproduces that run's own evaluation, and it maps
an original-format (TF1 name-based) checkpoint onto the port's LeNet."""
import json

import numpy as np
import tensorflow as tf

from results import tdr_scores
from tests.test_tdr_cli import run


def test_port_checkpoint_reproduces_the_runs_own_evaluation(toy_data, tmp_path):
  job = tmp_path / 'job'
  proc = run('tdr_main.py', '--data-dir', toy_data / 'data', '--dataset', 'mnist',
             '--job-dir', job, '--train-steps', 30, '--eval-freq', 10, '--log-freq', 10,
             '--num-gpus', 0, '--seed', 3, '--noprogress', '--eval-examples', 100,
             '--eval-batch-size', 50)
  assert proc.returncode == 0, proc.stderr[-3000:]
  own = json.loads((job / 'metrics.json').read_text())
  model, class_weights = tdr_scores.port_lenet(str(job / 'checkpoints' / 'model-30'))
  np.testing.assert_allclose(class_weights, own['class_weights'], rtol=1e-6)
  test = str(toy_data / 'data' / 'test.tfrecords')
  scores = tdr_scores.score(model, test, 3, 30, examples=100)
  for key in ('accuracy', 'recall_minor', 'precision_minor'):   # the same examples, exactly
    assert scores['original_2000'][key] == own[key], (key, scores, own)
  assert set(scores['whole']) == set(scores['original_2000'])


def test_original_checkpoint_is_mapped_by_name(tmp_path):
  """A checkpoint written as the original's Estimator writes it (tf.compat.v1 Saver,
  variables under base_model/bilevel_lenet/) gives the port's LeNet those weights."""
  port = tdr_scores._lenet(2)
  rng = np.random.RandomState(0)
  values = {tdr_scores.ORIGINAL_SCOPE + tdr_scores.layer_key(v):
            rng.normal(size=v.shape).astype(np.float32) for v in port.variables}
  values[tdr_scores.ORIGINAL_CLASS_WEIGHTS] = np.array([[0.7], [0.3]], np.float32)
  prefix = str(tmp_path / 'model.ckpt-7')
  with tf.Graph().as_default():
    for name, value in values.items():
      tf.compat.v1.get_variable(name, initializer=value)
    tf.compat.v1.get_variable('global_step', initializer=np.int64(7))
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      saver.save(sess, prefix)
  model, class_weights = tdr_scores.original_lenet(prefix)
  np.testing.assert_array_equal(class_weights, np.float32([0.7, 0.3]))
  for var in model.variables:
    np.testing.assert_array_equal(
        var.numpy(), values[tdr_scores.ORIGINAL_SCOPE + tdr_scores.layer_key(var)])
  x = rng.randint(0, 256, (4, 28, 28, 1)).astype(np.float32)
  for var in port.variables:
    var.assign(values[tdr_scores.ORIGINAL_SCOPE + tdr_scores.layer_key(var)])
  np.testing.assert_array_equal(model.logits(x).numpy(), port.logits(x).numpy())
