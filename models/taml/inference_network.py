"""The inference network q(omega, gamma, z | support set) of Bayesian TAML.

One network shared by all tasks; it reads only the support set.  Per class it
pools element-wise statistics of the image embeddings (mean, variance, set
size), then pools again over classes ("statistics pooling", Sec. 3.3 and
Fig. 3 of the paper), and emits Gaussian posteriors:
  omega `[way]` from the class-level summaries (class imbalance),
  gamma `[5]` and z `[256]` from the task-level summary (task imbalance, OOD).

Parameters are plain tensors keyed by the original names without the
`encoder/` prefix (`conv1/kernel`, `dense1/bias`, ...).
"""
import tensorflow as tf

EMBED_DIM = 64     # dense1
CLASS_DIM = 128    # dense2
TASK_DIM = 32      # dense3
INTERACT_DIM = 4   # interact1 / interact2: dense 3 -> 4 over (mean, var, N)
HEAD_DIM = 64      # dense_omega / dense_gamma / dense_z
N_GAMMA = 5        # conv1..4, dense


def _dense(params, name, x):
  return tf.matmul(x, params[name + '/kernel']) + params[name + '/bias']


def _conv_relu_pool(params, name, x):
  x = tf.nn.conv2d(x, params[name + '/kernel'], 1, 'SAME') + params[name + '/bias']
  return tf.nn.max_pool2d(tf.nn.relu(x), 2, 2, 'VALID')


def statistics_pooling(x, mask, set_size):
  """Element-wise mean, population variance and set size of masked sets.

  Args:
    x: `[..., N, D]` elements.
    mask: `[..., N, K]` membership of each element in each of K sets (0/1).
    set_size: `[..., K]` normalised cardinality of each set.
  Returns:
    `[..., K, D, 3]` = stack(mean, var, set_size) along the last axis.
  """
  count = tf.reduce_sum(mask, axis=-2)[..., None]                    # [..., K, 1]
  mean = tf.linalg.matmul(mask, x, transpose_a=True) / count          # [..., K, D]
  sq_dev = tf.square(x[..., None, :, :] - mean[..., :, None, :])      # [..., K, N, D]
  var = tf.reduce_sum(sq_dev * tf.linalg.matrix_transpose(mask)[..., None], -2) / count
  size = tf.broadcast_to(set_size[..., None], tf.shape(mean))
  return tf.stack([mean, var, size], axis=-1)


def posterior_params(params, xtr, ytr, image_shape, max_shot, omega_from_summary):
  """Means and pre-softplus scales of q(omega), q(gamma), q(z) for one metabatch.

  Args:
    params: encoder tensors.
    xtr: `[T, N, H*W*C]` support rows (zero padded).
    ytr: `[T, N, way]` one-hot labels, padding rows all-zero (excluded here).
    image_shape: `(H, W, C)`.
    max_shot: normalises the class size, N_c = (n_c - 1) / (max_shot - 1).
    omega_from_summary: multi-dataset variant, omega reads s_c directly.
  Returns:
    dict name -> (mu, pre_sigma): omega `[T, way]`, gamma `[T, 5]`, z `[T, 256]`.
  """
  n_tasks, n_rows, way = tf.unstack(tf.shape(ytr))
  h = tf.reshape(xtr, [-1] + list(image_shape))
  h = _conv_relu_pool(params, 'conv1', h)
  h = _conv_relu_pool(params, 'conv2', h)
  h = tf.reshape(h, [n_tasks * n_rows, -1])
  h = tf.reshape(_dense(params, 'dense1', h), [n_tasks, n_rows, EMBED_DIM])

  # Statistics pooling 1: per class, padding rows have no class.
  n_class = tf.reduce_sum(ytr, axis=1)                                # [T, way]
  class_size = (n_class - 1.) / (max_shot - 1.)
  s = statistics_pooling(h, ytr, class_size)                          # [T, way, 64, 3]
  s = tf.nn.relu(_dense(params, 'interact1', s))
  s = tf.reshape(s, [n_tasks, way, EMBED_DIM * INTERACT_DIM])          # s_c [256]

  # Statistics pooling 2: over the classes of the task.
  v = tf.nn.relu(_dense(params, 'dense2', s))
  v = _dense(params, 'dense3', v)                                     # [T, way, 32]
  all_classes = tf.ones([n_tasks, way, 1], ytr.dtype)
  task_size = tf.reduce_mean(class_size, axis=-1, keepdims=True)       # [T, 1]
  v = statistics_pooling(v, all_classes, task_size)[:, 0]             # [T, 32, 3]
  v = tf.nn.relu(_dense(params, 'interact2', v))
  v = tf.reshape(v, [n_tasks, TASK_DIM * INTERACT_DIM])                # v [128]

  def head(name, x):
    hidden = tf.nn.relu(_dense(params, 'dense_' + name, x))
    source = x if (name == 'omega' and omega_from_summary) else hidden
    return _dense(params, 'mu_' + name, source), _dense(params, 'sigma_' + name, source)

  mu_omega, sigma_omega = head('omega', s)
  return {
      'omega': (mu_omega[..., 0], sigma_omega[..., 0]),
      'gamma': head('gamma', v),
      'z': head('z', v),
  }
