"""--recompute_activations: the outer backward computes each inner step's block
activations again (learner.bn_relu_pool `recompute`) instead of keeping them.
The numbers are the kept ones (float64, compiled, both batch-norm second
derivatives, both geometries, the padded and the weighted support), and the
recomputation is really in the graph: one more convolution per block, inner step
and task for each gradient function that reads the activations (fused: the
forward block's; exact: also the second derivative's), none for the query pass."""
import numpy as np
import pytest
import tensorflow as tf

from models.taml import learner
from models.taml.config import TamlConfig
from models.taml.objective import metabatch_forward, outer_loss
from models.taml.parameters import TamlParameters
from tests.test_taml_weighted_padding import SHOTS, assert_same_gradients, unequal_metabatch


def compiled_loss_and_gradients(cfg, episode, values):
  """The outer loss, its gradient for every variable, and the Conv2D ops of the
  compiled forward + backward."""
  episode = {k: tf.constant(np.asarray(v, np.float64)) for k, v in episode.items()}

  @tf.function
  def loss_and_gradients(values):
    with tf.GradientTape() as tape:
      tape.watch(values)
      loss = outer_loss(metabatch_forward(values, episode, cfg, sample=True,
                                          seed=tf.constant([3, 4])))
    return loss, tape.gradient(loss, values)

  graph = loss_and_gradients.get_concrete_function(values).graph
  convolutions = sum(op.type == 'Conv2D' for op in graph.get_operations())
  loss, grads = loss_and_gradients(values)
  return loss, grads, convolutions


@pytest.mark.parametrize('side,bn_grad,fixed_support', [
    (32, 'fused', False), (32, 'exact', True), (84, 'exact', False)])
def test_recomputed_activations_give_the_kept_numbers(side, bn_grad, fixed_support):
  fields = dict(way=5, max_shot=10, query=2, n_steps=2, image_size=side, bn_grad=bn_grad,
                fixed_support=fixed_support, method='taml')
  kept_cfg = TamlConfig(**fields)
  params = TamlParameters(kept_cfg)
  rng = np.random.default_rng(1)
  values = {n: tf.constant(v.numpy().astype(np.float64) + 0.05 * rng.standard_normal(v.shape))
            for n, v in params.by_name.items()}
  episode = unequal_metabatch(side)
  if fixed_support:   # padded to way * max_shot rows, as data.episodes under --jit
    pad = kept_cfg.max_support - episode['xtr'].shape[1]
    episode['xtr'] = np.pad(episode['xtr'], ((0, 0), (0, pad), (0, 0)))
    episode['ytr'] = np.pad(episode['ytr'], ((0, 0), (0, pad), (0, 0)))
  ref_loss, ref_grads, kept = compiled_loss_and_gradients(kept_cfg, episode, values)
  loss, grads, recomputed = compiled_loss_and_gradients(
      TamlConfig(recompute_activations=True, **fields), episode, values)

  np.testing.assert_allclose(loss, ref_loss, rtol=1e-13)
  assert_same_gradients(grads, ref_grads, rtol=1e-12)

  readers = 2 if bn_grad == 'exact' else 1
  tasks = len(SHOTS[side])
  assert recomputed - kept == readers * learner.N_BLOCKS * fields['n_steps'] * tasks, (
      kept, recomputed)


def test_recompute_refuses_a_tap():
  """A tap changes the blocks' inputs; the recomputation would not repeat it."""
  tap = lambda h, bias, beta, row_mask: h
  with pytest.raises(ValueError, match='recompute'):
    learner.conv_block(tf.zeros([2, 4, 4, 1]), tf.zeros([3, 3, 1, 1]), tf.zeros([1]),
                       tf.zeros([1]), tap=tap, recompute=True)
