"""The GMVAE's ReLU and max-pool decisions, recorded and imposed (golden tests only).

`DecisionOps` is the `ops` argument of models/gmvae (layers.LayerOps) for one
stage of a replay.  It records (eagerly) the input of every ReLU and max-pool:
`record[('relu' | 'max_pool:<padding>', layer name)] = tensor`, a layer seen
again keyed '<name>#2', '<name>#3' ...  These are the model's only discrete
decisions in the forward and backward pass; the golden tests compare them
between a float32 and a float64 run to name the units whose decision flips.

`imposed` {same key: array} replaces decisions: a ReLU takes its gate from a
boolean array shaped like its input (x * gate: the same value and gradient as
relu where the gate is x > 0), a max-pool its winner per 2x2 window from an int
array [N, H', W', C] (index into the window, row-major, layers.pool_windows).
"""
import tensorflow as tf

from models.gmvae.layers import LayerOps, pool_windows


class DecisionOps(LayerOps):
  """Plain-kernel layers that record, and optionally impose, every decision."""

  def __init__(self, imposed=None):
    super().__init__()
    self.record, self.imposed, self.counts = {}, dict(imposed or {}), {}

  def _decide(self, kind, name, x):
    """Records x under this call's key; returns the imposed decision or None."""
    n = self.counts[(kind, name)] = self.counts.get((kind, name), 0) + 1
    key = kind, name if n == 1 else '%s#%d' % (name, n)
    self.record[key] = x
    return self.imposed.get(key)

  def relu(self, name, x):
    gate = self._decide('relu', name, x)
    if gate is None:
      return super().relu(name, x)
    return x * tf.cast(tf.constant(gate), x.dtype)

  def max_pool(self, name, x, padding):
    winner = self._decide('max_pool:' + padding, name, x)
    if winner is None:
      return super().max_pool(name, x, padding)
    return tf.gather(pool_windows(x, padding), tf.constant(winner), batch_dims=4)
