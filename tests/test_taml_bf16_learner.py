"""--learner_conv_dtype=bfloat16: every learner convolution of the compiled train
step, forward and both backprops at both orders, runs in bfloat16; the rest stays
float32; and the goldens' meta-gradient moves by bfloat16 rounding, not more.

The bounds below are bfloat16's rounding, for either kernel TensorFlow picks:
outer loss within 2u relative (u = 2^-8, bfloat16's unit roundoff), gradient
cosine above 0.9.  bench/bf16_learner_error.py on the shared goldens
(results/bfloat16_learner.md): oneDNN's native kernels (avx512_bf16) <= 1.05e-3
and >= 0.974; the generic ones of a CPU without bfloat16 instructions (AVX2)
<= 3.65e-3 and >= 0.945; float32 ~1e-8 and 1.000000.
"""
import numpy as np
import pytest
import tensorflow as tf

from bench.bf16_learner_error import golden_errors
from common import precision
from data.episodes import EpisodeSampler
from models.taml.config import TamlConfig
from models.taml.parameters import TamlParameters
from tests.test_golden_taml import STEMS
from training import taml_steps as steps

CONV_OPS = ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter')


def conv_dtypes(graph_def):
  """{op type: set of its T attrs} over the graph and all its functions."""
  nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
  found = {}
  for n in nodes:
    if n.op in CONV_OPS:
      found.setdefault(n.op, set()).add(tf.dtypes.as_dtype(n.attr['T'].type).name)
  return found


def toy_step(cfg):
  """One train step of `cfg` on a random 3-way metabatch of 2 tasks: the updated
  parameters, the step's loss and its graph."""
  rng = np.random.default_rng(0)
  sampler = EpisodeSampler({'mtr': [rng.random((5, 32, 32, 3), dtype=np.float32)
                                    for _ in range(4)]}, 'toy', seed=0)
  ep = {k: tf.constant(v) for k, v in sampler.sample('mtr', 2, 3, 3, 2).items()}
  params = TamlParameters(cfg)
  before = {n: v.numpy() for n, v in params.by_name.items()}
  step = steps.make_train_step(params, steps.make_optimizer(1e-3), cfg, 2)
  seed = tf.constant([0, 0], tf.int32)
  loss = float(step(ep, seed)['loss'])
  moved = any(not np.array_equal(before[n], v.numpy()) for n, v in params.by_name.items())
  return params, loss, moved, step.get_concrete_function(ep, seed).graph.as_graph_def()


@pytest.mark.parametrize('bn_grad', ['fused', 'exact'])
def test_every_learner_convolution_computes_in_bfloat16(bn_grad):
  cfg = TamlConfig(way=3, max_shot=3, query=2, n_steps=2, alpha_on=True, omega_on=True,
                   gamma_on=True, z_on=True, bn_grad=bn_grad, learner_conv_dtype='bfloat16')
  params, loss, moved, graph = toy_step(cfg)
  assert np.isfinite(loss) and moved
  found = conv_dtypes(graph)
  # The inference network's convolutions stay float32 (no --mixed_precision):
  # the bfloat16 ones must cover the learner's forward and both backprops.
  assert {op for op, dts in found.items() if 'bfloat16' in dts} == set(CONV_OPS), found
  assert all(v.dtype == tf.float32 for v in params.by_name.values())


def test_float32_default_has_no_bfloat16_convolution():
  cfg = TamlConfig(way=3, max_shot=3, query=2, n_steps=1)
  assert cfg.learner_conv_dtype == 'float32'
  graph = toy_step(cfg)[3]
  assert all(dts == {'float32'} for dts in conv_dtypes(graph).values())


def test_unknown_learner_dtype_is_refused():
  with pytest.raises(ValueError, match='learner_conv_dtype'):
    TamlConfig(learner_conv_dtype='float16')


@pytest.mark.skipif(not STEMS, reason='no taml_* fixtures in $GOLDENS_DIR')
@pytest.mark.parametrize('stem', STEMS)
def test_golden_meta_gradient_moves_by_bfloat16_rounding(stem):
  e = golden_errors(stem, 'bfloat16')
  # above float32's ~1e-8: the bfloat16 path is what ran; below 2u: rounding only
  assert 1e-6 < e['loss'] < 2 * 2.**-8, e
  assert 0.9 < e['cosine'] < 1 - 1e-5, e


@pytest.mark.parametrize('flags,warned', [('fpu avx2 avx512f', True),
                                          ('fpu avx512f avx512_bf16', False),
                                          ('fpu amx_bf16 amx_tile', False)])
def test_bfloat16_on_a_cpu_without_its_instructions_is_warned(tmp_path, flags, warned):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\nflags\t\t: %s\n\nprocessor\t: 1\nflags\t\t: %s\n'
                     % (flags, flags))
  if tf.config.list_physical_devices('GPU'):
    pytest.skip('a GPU runs bfloat16 natively: no warning to check')
  message = precision.bfloat16_cpu_warning('bfloat16', str(cpuinfo))
  assert (message is not None) == warned, message
  assert precision.bfloat16_cpu_warning('float32', str(cpuinfo)) is None
  assert precision.cpu_has_bfloat16(str(tmp_path / 'absent')) is None
