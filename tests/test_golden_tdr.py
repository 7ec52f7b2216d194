"""Golden tests: the port against numbers recorded from the original TDR code.

Everything (weights, inputs, shapes, class count) is read from the fixtures in
GOLDENS_DIR; the model config comes from the file name (tdr_lenet,
tdr_resnet<size>_<version>).  Rule from the fixtures' README:
max|port - golden| <= 1e-4 * max(max|golden|, floor), floor = the largest
gradient magnitude of the fixture for gradient keys that are exactly zero.
"""
import re

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import GOLDENS_DIR
from models.tdr import build_model

STEMS = ('tdr_lenet', 'tdr_resnet8_v1', 'tdr_resnet8_v2')
RTOL = 1e-4
LR, WEIGHT_DECAY = 0.01, 2e-3   # the fixtures' params (README, section 3)
CW_KEY = 'base_model/class_weight'


def load_fixture(stem):
  files = sorted(GOLDENS_DIR.glob(stem + '.npz')) + sorted(GOLDENS_DIR.glob(stem + '_*.npz'))
  assert files, 'no fixture %s*.npz in %s' % (stem, GOLDENS_DIR)
  merged = {}
  for path in files:
    with np.load(path, allow_pickle=False) as f:
      merged.update({k: f[k] for k in f.files})
  return merged


def model_for(stem, num_class):
  if stem == 'tdr_lenet':
    return build_model('lenet', num_class)
  size, version = re.fullmatch(r'tdr_resnet(\d+)_(b?v[12])', stem).groups()
  return build_model('resnet', num_class, int(size), version)


def suffix(path, n=2):
  return '/'.join(path.split('/')[-n:])


def run_port(g, stem):
  """Load the fixture's weights into the port and run one bilevel pass."""
  num_class = g[CW_KEY].shape[0]
  model = model_for(stem, num_class)
  model.ensure_built(g['train_features'].shape[1:])
  keys = [k for k in g if k.startswith('base_model/') and k != CW_KEY]
  assert len(keys) == len(model.variables), 'variable count differs from the fixture'
  for key, var in zip(keys, model.variables):
    assert suffix(key) == suffix(var.path), (key, var.path)
    assert tuple(var.shape) == g[key].shape, key
    var.assign(g[key])
  out = model.bilevel_pass(tf.constant(g[CW_KEY]), g['train_features'],
                           g['train_labels'].astype(np.int32), g['val_features'],
                           g['val_labels'].astype(np.int32), LR, WEIGHT_DECAY)
  trainable = [k for k, v in zip(keys, model.variables) if v.trainable]
  port = {
      'base_model_loss_reduced': out['base_loss'],
      'target_loss': out['target_loss'],
      'class_weight_gradient': out['class_weight_grad'],
      'update_class_weights': out['new_class_weights'],
      'target_probabilities': tf.nn.softmax(out['target_logits']),
  }
  for key, grad, new in zip(trainable, out['base_grads'], out['perturbed']):
    path = key[len('base_model/'):]
    port['base_grad/' + key] = grad
    port['perturbed/bilevel_model/' + path] = new
  classes = tf.argmax(out['target_logits'], axis=-1)
  return {k: np.asarray(v) for k, v in port.items()}, np.asarray(classes)


def mismatches(port, golden):
  """Keys whose difference breaks the tolerance rule, with the numbers."""
  grad_keys = [k for k in golden if k.startswith('base_grad/') or k == 'class_weight_gradient']
  floor = max(np.abs(golden[k]).max() for k in grad_keys)
  bad = []
  for key, value in port.items():
    want = golden[key]
    assert value.shape == want.shape, key
    scale = np.abs(want).max()
    if scale == 0 and key in grad_keys:
      scale = floor
    err = np.abs(value - want).max()
    if not err <= RTOL * scale:
      bad.append('%s: max diff %.3g > %.3g' % (key, err, RTOL * scale))
  return bad


@pytest.fixture(scope='module', params=STEMS)
def case(request):
  golden = load_fixture(request.param)
  port, classes = run_port(golden, request.param)
  return request.param, golden, port, classes


def test_every_key_checked(case):
  _, golden, port, _ = case
  outputs = {k for k in golden if k.startswith(('perturbed/', 'base_grad/'))} | {
      'base_model_loss_reduced', 'target_loss', 'class_weight_gradient',
      'update_class_weights', 'target_probabilities'}
  assert outputs == set(port)


def test_matches_golden(case):
  _, golden, port, classes = case
  assert mismatches(port, golden) == []
  np.testing.assert_array_equal(classes, golden['target_classes'].astype(np.int64))


def test_changed_golden_fails(case):
  """The comparison is not vacuous: a changed fixture value is caught."""
  _, golden, port, _ = case
  for key in ('class_weight_gradient', 'target_loss', sorted(
      k for k in port if k.startswith('base_grad/'))[0]):
    changed = dict(golden)
    changed[key] = golden[key] + np.float32(1e-3) * (np.abs(golden[key]).max() + 1e-6)
    assert mismatches(port, changed), key
