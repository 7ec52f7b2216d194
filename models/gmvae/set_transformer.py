"""Set-attention blocks as in the original (adapted there from juho-lee/set_transformer).

MAB(Q, K): project Q, K, V; split the features into `num_heads` contiguous
chunks; attention logits divided by sqrt of the FULL width (not the head
width); O = projected Q + A V (residual on the projected query); then
O + ReLU(fc_o(O)); no layer norm.  SAB(X) = MAB(X, X).
"""
import math

import tensorflow as tf

from models.gmvae.layers import LAYER_OPS, dense, init_linear

NUM_HEADS = 4
LINEARS = ('fc_q', 'fc_k', 'fc_v', 'fc_o')


def _heads(x, num_heads):
  shape = tf.shape(x)
  width = x.shape[-1]
  return tf.reshape(x, [shape[0], shape[1], num_heads, width // num_heads])


def mab(p, name, q, k, num_heads=NUM_HEADS, ops=LAYER_OPS):
  """q [B, N, dq], k [B, M, dk] -> [B, N, dim_V] (`ops.relu` after fc_o)."""
  q = dense(p, name + '.fc_q', q)
  key, value = dense(p, name + '.fc_k', k), dense(p, name + '.fc_v', k)
  width = q.shape[-1]
  qh, kh, vh = (_heads(t, num_heads) for t in (q, key, value))
  logits = tf.einsum('bnhd,bmhd->bhnm', qh, kh) / math.sqrt(width)
  attn = tf.nn.softmax(logits, axis=-1)
  out = qh + tf.einsum('bhnm,bmhd->bnhd', attn, vh)
  out = tf.reshape(out, tf.shape(q))
  return out + ops.relu(name + '.fc_o', dense(p, name + '.fc_o', out))


def sab(p, name, x, num_heads=NUM_HEADS, ops=LAYER_OPS):
  """SAB named `name` (its MAB is `name.mab`)."""
  return mab(p, name + '.mab', x, x, num_heads, ops)


def init_sab(rng, params, name, dim_in, dim_out):
  for lin in LINEARS:
    init_linear(rng, params, '%s.mab.%s' % (name, lin), dim_out if lin == 'fc_o' else dim_in,
                dim_out)
