"""One evaluator for trained TDR LeNets of both sides: the port's checkpoint folders
(`checkpoints/model-<step>/`) and the ORIGINAL code's Estimator checkpoints
(`model.ckpt-<step>`, read with `tf.train.load_checkpoint` and mapped onto the
port's LeNet by variable name, as tests/test_golden_tdr.py maps the goldens).

`score` gives the metrics on the whole test set and on the original's own
evaluation protocol (2000 // 50 batches of the test file repeated through a
shuffle buffer of 150: `data.tdr.tfrecords.eval_dataset(examples=2000)`, seeded
as tdr_main.py seeds it: global seed `seed`, op seed seed * 1000003 + step), so both
sides' models of one seed are scored on the very same examples, and a port run's
own final evaluation is reproduced exactly.
"""
import numpy as np
import tensorflow as tf

from common.checkpoints import read_folder
from data.tdr import IMAGE_SHAPES, tfrecords as tfr
from models.tdr import build_model
from training.tdr_steps import confusion_metrics

ORIGINAL_SCOPE = 'base_model/bilevel_lenet/'   # the original's variable scope of its LeNet
ORIGINAL_CLASS_WEIGHTS = 'base_model/class_weight'
EVAL_BATCH = 50           # the original's --eval-batch-size
ORIGINAL_EVAL_EXAMPLES = 2000
SHAPE = IMAGE_SHAPES['mnist']


def _lenet(num_class):
  model = build_model('lenet', num_class)
  model.ensure_built(SHAPE)
  return model


def layer_key(variable):
  """'conv2d/kernel': the layer and weight name, the part both sides share."""
  return '/'.join(variable.path.split('/')[-2:])


def port_lenet(folder, num_class=2):
  """(model, class weights) of a port checkpoint folder; every model variable must be in it."""
  model = _lenet(num_class)
  class_weights = tf.Variable(tf.zeros([num_class, 1]))
  read_folder(folder, tf.train.Checkpoint(model=model, class_weights=class_weights),
              check=lambda status: status.assert_existing_objects_matched().expect_partial())
  return model, class_weights.numpy()[:, 0]


def original_lenet(prefix, num_class=2):
  """(model, class weights) of the original's checkpoint `prefix` (.../model.ckpt-<step>)."""
  reader = tf.train.load_checkpoint(prefix)
  model = _lenet(num_class)
  for var in model.variables:
    value = reader.get_tensor(ORIGINAL_SCOPE + layer_key(var))
    if tuple(value.shape) != tuple(var.shape):
      raise ValueError('%s: %s has shape %s, the port %s' % (
          prefix, ORIGINAL_SCOPE + layer_key(var), value.shape, tuple(var.shape)))
    var.assign(value)
  return model, reader.get_tensor(ORIGINAL_CLASS_WEIGHTS)[:, 0]


def _metrics(model, dataset, num_class):
  cm = np.zeros([num_class] * 2, np.int64)
  for x, y in dataset:
    pred = tf.argmax(model.logits(x, training=False), axis=-1, output_type=tf.int32)
    cm += tf.math.confusion_matrix(y, pred, num_classes=num_class).numpy()
  return confusion_metrics(cm)


def score(model, test_path, seed, step, num_class=2, examples=ORIGINAL_EVAL_EXAMPLES):
  """{'whole': metrics on every test record once, 'original_2000': the original's protocol}."""
  tf.random.set_seed(seed)   # tdr_main.py's global seed: the shuffle's seed is (global, op)
  return {
      'whole': _metrics(model, tfr.eval_dataset(test_path, EVAL_BATCH, SHAPE), num_class),
      'original_2000': _metrics(model, tfr.eval_dataset(
          test_path, EVAL_BATCH, SHAPE, examples, seed=seed * 1000003 + step),
          num_class),
  }
