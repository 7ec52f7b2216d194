"""The TAML family's definitions (models/taml/methods): the flags map onto them,
and ANIL (the head adapted, the body shared) is what its definition says."""
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from data.episodes import EpisodeSampler
from training import taml_steps as steps
from models.taml.config import TamlConfig
from models.taml.inner_loop import inner_loop, step_sizes
from models.taml.learner import CONV_KEYS, DENSE_KEYS, learner_forward, softmax_cross_entropy
from models.taml.methods import METHODS, from_flags
from models.taml.methods.definition import LAYERS
from models.taml.objective import initial_learner, metabatch_forward, support_pass
from models.taml.parameters import TamlParameters, split_groups
from tests.taml_cli import SMALL, cifar_like, error_lines, run_main

FLAGS = ('alpha_on', 'omega_on', 'gamma_on', 'z_on')
NAMED = {(False, False, False, False): 'maml', (True, False, False, False): 'metasgd',
         (True, True, True, True): 'taml', (True, True, False, False): 'taml_omega',
         (True, False, True, False): 'taml_gamma', (True, False, False, True): 'taml_z'}
GEOMETRY = dict(way=3, max_shot=4, query=2, n_steps=2, image_size=32)


def episode(seed=0, dtype=tf.float32):
  rng = np.random.default_rng(seed)
  classes = [rng.random((8, 32, 32, 3), dtype=np.float32) for _ in range(5)]
  ep = EpisodeSampler({'mtr': classes}, 'toy', seed=seed).sample(
      'mtr', 2, GEOMETRY['way'], GEOMETRY['max_shot'], GEOMETRY['query'])
  return {k: tf.cast(v, dtype) for k, v in ep.items()}


def test_every_flag_combination_is_a_method_with_those_flags():
  for combo in itertools.product((False, True), repeat=4):
    method = from_flags(METHODS, *combo)
    assert method.flags() == dict(zip(FLAGS, combo))
    assert method.adapted == LAYERS
    assert method.name == NAMED.get(combo, method.name)
    assert (method.name in METHODS) == (combo in NAMED), method.name
  assert from_flags(METHODS, False, True, False, True).name == 'maml+omega+z'


def test_a_method_name_sets_the_flags_and_refuses_contrary_ones():
  for name, method in METHODS.items():
    cfg = TamlConfig(method=name)
    assert {k: getattr(cfg, k) for k in FLAGS} == method.flags()
    assert cfg.algorithm is method
    assert TamlConfig(method=name, **method.flags()).algorithm is method
  # no name: the flags speak, as the original's command lines
  assert TamlConfig(alpha_on=True, z_on=True).algorithm is METHODS['taml_z']
  with pytest.raises(ValueError, match='anil'):
    TamlConfig(method='anil', alpha_on=True)
  with pytest.raises(ValueError, match='unknown method'):
    TamlConfig(method='protomaml')


def test_anil_has_maml_parameters_and_adapts_the_head_only():
  anil, maml = TamlConfig(method='anil', **GEOMETRY), TamlConfig(method='maml', **GEOMETRY)
  assert anil.architecture() == maml.architecture()
  names = set(TamlParameters(anil).by_name)
  assert names == set(TamlParameters(maml).by_name)
  assert not any(n.startswith('alpha/') for n in names)
  adapted = step_sizes(anil.algorithm, {}, anil.inner_lr, anil.way)
  assert sorted(adapted) == sorted(DENSE_KEYS)
  assert sorted(step_sizes(maml.algorithm, {}, 0.5, 3)) == sorted(CONV_KEYS + DENSE_KEYS)


def adapt(cfg, values, ep, steps_of, task=0):
  """The adapted learner of `task` under per-key steps `steps_of(cfg)`."""
  theta, _, betas, _ = split_groups(values)
  n_rows = tf.cast(ep['n_rows'], ep['ytr'].dtype)
  x, y, weights = support_pass(ep['xtr'][task], ep['ytr'][task], n_rows, cfg)
  return inner_loop(initial_learner(theta, cfg), steps_of(cfg), betas, x, y, n_rows,
                    cfg.n_steps, cfg.image_shape, row_mask=weights, bn_grad=cfg.bn_grad)


def method_steps(cfg):
  return step_sizes(cfg.algorithm, {}, cfg.inner_lr, cfg.way)


def test_anil_inner_loop_leaves_the_body_and_the_outer_gradient_reaches_it():
  cfg = TamlConfig(method='anil', **GEOMETRY)
  ep = episode(1)
  values = TamlParameters(cfg, seed=2).values()
  with tf.GradientTape() as tape:
    tape.watch(values)
    adapted = adapt(cfg, values, ep, method_steps)
    init = initial_learner(split_groups(values)[0], cfg)
    logits = learner_forward(adapted, split_groups(values)[2], ep['xte'][0], cfg.image_shape)
    loss = tf.reduce_mean(softmax_cross_entropy(ep['yte'][0], logits))
  for key in CONV_KEYS:   # the body: no inner update
    np.testing.assert_array_equal(adapted[key], init[key], err_msg=key)
  for key in DENSE_KEYS:  # the head: adapted away from its zero start
    assert np.abs(adapted[key].numpy() - init[key].numpy()).max() > 1e-4, key
  grads = tape.gradient(loss, values)
  for key in ('theta/conv1_w', 'theta/conv4_w', 'conv1_bn/beta'):   # learned in the outer loop
    assert grads[key] is not None and np.abs(grads[key].numpy()).max() > 0, key
  maml = TamlConfig(method='maml', **GEOMETRY)
  moved = adapt(maml, values, ep, method_steps)
  assert np.abs(moved['conv2_w'].numpy() - init['conv2_w'].numpy()).max() > 0


def body_masked_maml_steps(cfg):
  """MAML's steps with every body (conv) step zero."""
  return {k: (v if k in DENSE_KEYS else 0. * v) for k, v in method_steps(cfg).items()}


def test_anil_equals_maml_with_the_body_step_masked_float64():
  anil, maml = TamlConfig(method='anil', **GEOMETRY), TamlConfig(method='maml', **GEOMETRY)
  ep = episode(3, tf.float64)
  values = {k: tf.cast(v, tf.float64) for k, v in TamlParameters(anil, seed=4).values().items()}
  learned = [k for k in values if k.startswith(('theta/', 'conv'))]

  def masked_maml_cent(vals):
    betas = split_groups(vals)[2]
    cents = []
    for t in range(2):
      params = adapt(maml, vals, ep, body_masked_maml_steps, task=t)
      logits = learner_forward(params, betas, ep['xte'][t], maml.image_shape)
      cents.append(tf.reduce_mean(softmax_cross_entropy(ep['yte'][t], logits)))
    return tf.stack(cents)

  def objective_and_gradients(fn):
    with tf.GradientTape() as tape:
      tape.watch(values)
      cent = fn(values)
      loss = tf.reduce_mean(cent)
    grads = tape.gradient(loss, values)
    # the conv biases have no gradient path at all (learner.bn_relu_pool)
    return cent.numpy(), {k: grads[k].numpy() for k in learned if grads[k] is not None}

  cent_anil, grads_anil = objective_and_gradients(
      lambda v: metabatch_forward(v, ep, anil, sample=False).cent)
  cent_masked, grads_masked = objective_and_gradients(masked_maml_cent)
  np.testing.assert_allclose(cent_anil, cent_masked, rtol=1e-9, atol=0)
  assert sorted(grads_anil) == sorted(grads_masked) and len(grads_anil) == 8   # 4 kernels, 4 betas
  for key in grads_anil:
    np.testing.assert_allclose(grads_anil[key], grads_masked[key], rtol=1e-9, atol=1e-15,
                               err_msg=key)
  cent_maml = metabatch_forward(values, ep, maml, sample=False).cent.numpy()
  assert np.abs(cent_maml - cent_anil).max() > 1e-6, 'ANIL must differ from MAML'


def test_anil_train_step_learns_the_body():
  cfg = TamlConfig(method='anil', **GEOMETRY)
  params = TamlParameters(cfg, seed=5)
  before = {k: v.numpy() for k, v in params.by_name.items()}
  train_step = steps.make_train_step(params, steps.make_optimizer(1e-3), cfg, 2)
  out = train_step(episode(6), tf.constant([0, 1]))
  assert np.isfinite(out['loss'].numpy()) and float(out['kl']) == 0.
  for key in ('theta/conv1_w', 'theta/conv4_w', 'conv4_bn/beta'):
    assert np.abs(params.by_name[key].numpy() - before[key]).max() > 0, key
  for key in before:   # the inference network: no balancing variable reads it
    if key.startswith('encoder/'):
      np.testing.assert_array_equal(params.by_name[key].numpy(), before[key], err_msg=key)


def test_main_method_flag_records_adopts_and_refuses(tmp_path):
  data = cifar_like(str(tmp_path / 'data'))
  savedir = tmp_path / 'run'
  common = ['--data_dir', data, '--savedir', savedir]
  proc = run_main('--mode', 'meta_train', *common, '--n_train_iters', 2, '--val_freq', 2,
                  *SMALL, '--method', 'anil', '--alpha_on', check=False)
  assert proc.returncode != 0
  assert error_lines(proc) == ['error: --method anil means --noalpha_on: drop --alpha_on']
  run_main('--mode', 'meta_train', *common, '--n_train_iters', 2, '--val_freq', 2, *SMALL,
           '--method', 'anil')
  config = json.loads((savedir / 'config.json').read_text())
  assert config['method'] == 'anil' and not any(config[k] for k in FLAGS)
  run_main('--mode', 'meta_test', *common, *SMALL[:4], *SMALL[6:])   # adopts --method anil
  records = [json.loads(l) for l in (savedir / 'results.jsonl').read_text().splitlines()]
  assert {(r['kind'], r['method'], r['model']) for r in records} == {
      ('val', 'anil', 'anil'), ('test', 'anil', 'anil')}
  proc = run_main('--mode', 'meta_test', *common, *SMALL[:4], *SMALL[6:], '--method', 'maml',
                  check=False)
  assert proc.returncode != 0
  [line] = error_lines(proc)
  assert 'other settings' in line and "method: 'anil' -> 'maml'" in line
