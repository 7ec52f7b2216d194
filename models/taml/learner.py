"""The conv-4 learner of Learning to Balance, as a pure function of its parameters.

Parameters are plain tensors in a dict keyed by the original variable names
(`conv1_w` ... `conv4_w`, `conv1_b` ..., `dense_w`, `dense_b`), so the inner loop
can differentiate through them and swap them freely (MAML's "fast weights").

Shapes: x `[N, H*W*C]` rows (flattened NHWC images), logits `[N, way]`.
"""
import contextlib
import threading

import tensorflow as tf

N_BLOCKS = 4
BN_EPSILON = 1e-3
CONV_KEYS = tuple('conv%d_%s' % (l, p) for l in range(1, N_BLOCKS + 1) for p in 'wb')
DENSE_KEYS = ('dense_w', 'dense_b')
LEARNER_KEYS = CONV_KEYS + DENSE_KEYS
CHANNEL_AXES = (0, 1, 2)   # batch-norm reductions: over N, H, W per channel


def layer_of(key):
  """Index 0..4 of the layer a learner parameter belongs to (dense = 4)."""
  return N_BLOCKS if key.startswith('dense') else int(key[4]) - 1


def counted_rows(x, row_mask=None):
  """Rows of `x` that enter the batch-norm statistics: N, or sum(row_mask) (scalar)."""
  if row_mask is None:
    return tf.cast(tf.shape(x)[0], x.dtype)
  return tf.reduce_sum(row_mask)


def channel_sum(x, row_mask=None):
  """Per-channel sum of `x` `[N, H, W, C]` over N, H, W, each row weighted by
  `row_mask` (`[N]`; None: all 1): `[C]`.  Rows are summed per image first,
  then weighted, so no full-size product with the weights is formed."""
  if row_mask is None:
    return tf.reduce_sum(x, axis=CHANNEL_AXES)
  return tf.linalg.matvec(tf.reduce_sum(x, axis=[1, 2]), row_mask, transpose_a=True)


def row_weighted(v, row_mask=None):
  """Per-channel `v` `[C]` times each row's weight, `[N, 1, 1, C]` (v itself if None)."""
  return v if row_mask is None else tf.reshape(row_mask, [-1, 1, 1, 1]) * v


def batch_norm_moments(x, row_mask=None, rows=None):
  """Per-channel mean, biased variance and element count of `x` `[N, H, W, C]`.

  ALWAYS the current batch's statistics, as the original's contrib batch norm
  in training mode: over N, H, W, row i weighted by `row_mask[i]` (None: all
  1).  A 0/1 mask selects rows; a weight k counts its row k times
  (objective.weighted_support).  `rows`: `counted_rows`, if the caller has it
  already (one per learner pass, not one per block).
  """
  if rows is None:
    rows = counted_rows(x, row_mask)
  height, width = x.shape[1:3]
  pixels = (tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), x.dtype) if None in (height, width)
            else float(height * width))   # static in the learner: no ops
  count = rows * pixels
  mean = channel_sum(x, row_mask) / count
  # squared_difference: one pass, the centred tensor is never stored
  return mean, channel_sum(tf.math.squared_difference(x, mean), row_mask) / count, count


def batch_norm_statistics(x, row_mask=None, rows=None):
  """`batch_norm_moments` plus the centred x: mean, x - mean, variance, count."""
  mean, var, count = batch_norm_moments(x, row_mask, rows)
  return mean, x - mean, var, count


BN_GRADS = ('fused', 'exact')   # TamlConfig.bn_grad, --bn_grad


def tf1_fused_second_order(u, u_beta):
  """What the original graph differentiated the batch-norm backward into: nothing.

  l2b's contrib `batch_norm` (fused) runs inside `tf.map_fn`, a control-flow v1
  while loop.  The gradient of its `FusedBatchNormGrad` op
  (`_FusedBatchNormGradGrad`: tensorflow/python/ops/nn_grad.py in 1.12, with
  `tf.gradients`; nn_fused_batch_norm_grad.py in 2.15, with a GradientTape)
  rebuilds the backward from `op.inputs` and differentiates it.
  Inside the loop's gradient, control flow v1 (`WhileContext.AddValue` ->
  `GradLoopState.GetRealValue`) feeds those rebuilt ops stack pops of the
  forward values instead of the values themselves, so neither input is
  reached and all three gradients come back None: the backward (dL/dx from
  dL/dy and x) is a constant to the outer gradient.  Measured: the original
  graph under TF 2.15 and 2.19 compat.v1 equals a stop_gradient on it.
  """
  del u, u_beta
  return None, None


_BACKWARD = threading.local()


@contextlib.contextmanager
def inner_backward():
  """Marks the gradient taken inside the inner loop (`inner_loop`): there the
  blocks' gradient functions use the forward's activations, which exist at
  that moment anyway; every other call of them is the outer backward, where a
  recomputing block (`bn_relu_pool`'s `recompute`) computes them again."""
  depth = getattr(_BACKWARD, 'inner', 0)
  _BACKWARD.inner = depth + 1
  try:
    yield
  finally:
    _BACKWARD.inner = depth


def _in_inner_backward():
  return getattr(_BACKWARD, 'inner', 0) > 0


def bn_relu_pool(x, bias, beta, row_mask=None, rows=None, bn_grad='exact', recompute=None):
  """maxpool(relu(BN(x + bias) + beta)): `[N, H, W, C] -> [N, H/2, W/2, C]` (2x2 VALID).

  Batch norm (offset beta only, eps 1e-3, batch statistics, see
  `batch_norm_statistics`) is a per-channel increasing affine map and the
  ReLU is increasing, so both commute with max-pooling: the pool is taken
  first and the rest applied to a quarter of the elements.  Rounding is
  monotonic, so the values are the original's normalise-ReLU-pool ones bit
  for bit.

  Both derivatives the meta-gradient needs are written out rather than
  recorded op by op: the first (`backward`, what the inner loop
  differentiates) and the second (its vector-Jacobian product, what the outer
  gradient takes through every inner step).  Autodiff of the formula would
  materialise broadcasts, negations and zero gradients of full-size tensors
  at both orders and keep three full-size tensors per block and inner step
  alive for the outer gradient instead of one.  The pool's gradient goes to
  each window's largest raw value, the exact maximum (the original picks the
  first of values that float32 rounding tied after normalising).  The conv
  bias has no gradient path at all (None): the batch mean absorbs it (the
  original's gradient there is float32 round-off, goldens/README).  NOT
  `tf.nn.moments`: it stops the mean's gradient inside the variance, which
  keeps first but changes second derivatives (goldens/README, "Batch-norm
  formulation").

  `bn_grad` picks the second derivative, never the values nor the first
  derivative: 'exact' (`second_order` below, the true one) or 'fused'
  (`tf1_fused_second_order`, what the original graph computed); any other
  value is a ValueError.

  `recompute`: None, or a function returning `x` again (the conv output):
  the outer backward then computes x, its pool and y again instead of keeping
  them from the forward of every inner step (`--recompute_activations`; the
  same numbers, less memory, one more convolution per block and inner step
  for each gradient function that reads them: one under 'fused', two under
  'exact').
  """
  if bn_grad not in BN_GRADS:
    raise ValueError('bn_grad must be one of %s, not %r' % (BN_GRADS, bn_grad))
  axes = tf.constant(CHANNEL_AXES)   # one constant for the unweighted reductions below
  plain_sum = lambda t: tf.reduce_sum(t, axis=axes)
  weighted_sum = lambda t: channel_sum(t, row_mask)
  weighted = lambda v: row_weighted(v, row_mask)
  pool_args = dict(ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='VALID')
  # No path from the bias, at any order: batch norm subtracts it again.
  shifted = lambda t: t + tf.stop_gradient(bias)

  @tf.custom_gradient
  def block(h, beta):
    mean, var, n = batch_norm_moments(h, row_mask, rows)
    r = tf.math.rsqrt(var + BN_EPSILON)

    def normalised(h):
      pooled = tf.nn.max_pool2d(h, 2, 2, 'VALID')
      return pooled, (pooled - mean) * r   # y: normalised, quarter size

    pooled, y = normalised(h)
    out = tf.nn.relu(y + beta)

    def activations(after):
      """h, its pool and y: the forward's, or computed again once `after`
      exists (the control dependency orders it into the outer backward and
      keeps it a separate op from the forward's)."""
      if recompute is None or _in_inner_backward():
        return h, pooled, y
      with tf.control_dependencies([after]):
        again = shifted(recompute())
      return (again,) + normalised(again)

    def backward_at(pooled, y):
      """The block's backward at an h with this pool and y (`activations`)."""

      @tf.custom_gradient
      def backward(g_out, h):
        """(dL/dh, dL/dbeta) for dL/dout = g_out.  Per channel, with S the pool's
        selection (y = (S h - mean) r), m the row weights, g = dL/dy:
          dL/dh = S^T(g r) + m (c dL/dvar + dL/dmean),  c = h - mean,
          dL/dmean = -r a / n,  dL/dvar = -r^2 b / n,  a = sum g = dL/dbeta,  b = sum g y.
        (g already carries the weights of its rows, so a and b are plain sums.)"""
        g = tf.raw_ops.ReluGrad(gradients=g_out, features=out)
        a, b = plain_sum(g), plain_sum(g * y)
        rn = r / n
        r2n = r * rn
        r2nb = r2n * b
        through_pool = tf.raw_ops.MaxPoolGrad(orig_input=h, orig_output=pooled, grad=g * r,
                                              **pool_args)
        # (h - mean) r2nb + rn a with the mean folded into the per-channel term: one pass fewer
        dh = through_pool - (h * weighted(r2nb) + weighted(rn * a - mean * r2nb))

        def second_order(u, u_beta):
          """The lines above differentiated by hand (the ReLU and the pool
          routing are constant), with U1 = sum m u, U2 = sum m u c and
          W = sum (S u) g per channel.  Full-size tensors are recomputed from h,
          not kept from the inner step."""
          h, pooled, y = activations(u)
          su = tf.raw_ops.MaxPoolGradGrad(orig_input=h, orig_output=pooled, grad=u, **pool_args)
          u1 = weighted_sum(u)
          u1n = u1 / n
          # U2 = sum m u (h - mean) with the mean taken out per channel: c is never stored
          u2, w = weighted_sum(u * h) - mean * u1, plain_sum(su * g)
          p = rn * u2   # r U2 / n
          dg = r * (su - u1n - p * y) + u_beta
          # d/dh through r (dr/dh = -r^3 m c / n), the mean, S h and U2:
          r3n = r * r2n
          per_c = r3n * (w - 3. * b * p - a * u1n)
          const = r2n * (a * p + b * u1n)
          # const - c per_c - u r2nb - S^T(g r3n U2), as one AddN of three
          # products (signs in the per-channel factors) plus the per-channel term
          minus_through_pool = tf.raw_ops.MaxPoolGrad(orig_input=h, orig_output=pooled,
                                                      grad=g * -(r3n * u2), **pool_args)
          products = tf.math.add_n([h * weighted(-per_c), u * weighted(-r2nb), minus_through_pool])
          return (tf.raw_ops.ReluGrad(gradients=dg, features=out),
                  products + weighted(const + mean * per_c))

        return (dh, a), (second_order if bn_grad == 'exact' else tf1_fused_second_order)

      return backward

    def gradient(g_out):
      h, pooled, y = activations(g_out)
      return backward_at(pooled, y)(g_out, h)

    return out, gradient

  return block(shifted(x), beta)


def convolution(x, w, dtype=None):
  """3x3 SAME convolution in x's dtype, or in bfloat16 when `dtype` is
  'bfloat16' (None / 'float32': full precision, so a float64 replay stays
  float64), returned in x's dtype.  Under bfloat16 its backprops, at both
  orders, compute in bfloat16 too (Cast's gradient casts back), while batch
  norm and the updates stay in x's."""
  if dtype is None or tf.as_dtype(dtype) != tf.bfloat16:
    return tf.nn.conv2d(x, w, 1, 'SAME')
  return tf.cast(tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), 1, 'SAME'), x.dtype)


def conv_block(x, w, b, beta, row_mask=None, rows=None, bn_grad='exact', tap=None,
               conv_dtype=None, recompute=False):
  """3x3 SAME conv + bias -> batch norm -> ReLU -> 2x2 VALID max-pool (the
  original's order; computed pool first, see `bn_relu_pool`).  `tap`,
  `conv_dtype`, `recompute`: see `learner_forward`."""
  conv = lambda: convolution(x, w, conv_dtype)
  h = conv()
  if tap is not None:
    if recompute:
      raise ValueError('recompute: the outer backward would compute the blocks without the tap')
    h = tap(h, b, beta, row_mask)
  return bn_relu_pool(h, b, beta, row_mask, rows, bn_grad, conv if recompute else None)


def learner_forward(params, betas, x, image_shape, row_mask=None, bn_grad='exact', tap=None,
                    conv_dtype=None, recompute=False):
  """Logits of the conv-4 learner.

  Args:
    params: dict of learner tensors (LEARNER_KEYS).
    betas: list of the 4 batch-norm offsets `[32]`, shared by all tasks.
    x: `[N, H*W*C]` flattened NHWC images.
    image_shape: `(H, W, C)`.
    row_mask: `[N]` float weight of each row in the batch-norm statistics:
      0/1 selects rows, k counts a row k times (None: all rows, once).
    bn_grad: second derivative of the batch norm, 'exact' or 'fused' (the
      original graph's, `tf1_fused_second_order`); values and first
      derivatives are the same.
    tap: None, or `tap(h, bias, beta, row_mask) -> h` called while tracing
      with the inputs of each block's batch norm (h: the conv output before
      its bias); the block computes on the h it returns.  The golden tests
      record and perturb the blocks' values with it; None adds no op.
    conv_dtype: None, or the dtype the four convolutions compute in
      ('bfloat16': `--learner_conv_dtype`, opt-in; `convolution`).
    recompute: the outer backward computes each block's conv output, pool
      and y again rather than keeping them (`bn_relu_pool`); for the support
      passes of the inner loop (`--recompute_activations`).  Needs tap None.
  Returns:
    `[N, way]` logits.
  """
  h = tf.reshape(x, [-1] + list(image_shape))
  rows = counted_rows(h, row_mask)
  for l in range(N_BLOCKS):
    h = conv_block(h, params['conv%d_w' % (l + 1)], params['conv%d_b' % (l + 1)],
                   betas[l], row_mask, rows, bn_grad, tap, conv_dtype, recompute)
  h = tf.reshape(h, [tf.shape(h)[0], -1])
  return tf.matmul(h, params['dense_w']) + params['dense_b']


def softmax_cross_entropy(labels, logits):
  """Per-row softmax CE of `[N, way]` logits: `tf.nn.softmax_cross_entropy_with_logits`'s
  kernel without its rank-generic reshapes (~20 graph nodes per call, and their
  gradients at both orders, for the same numbers)."""
  return tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels)[0]


def feature_size(image_size, n_channel):
  """Flattened learner features: 2*2*32 at 32x32, 5*5*32 at 84x84."""
  side = image_size
  for _ in range(N_BLOCKS):
    side //= 2
  return side * side * n_channel
