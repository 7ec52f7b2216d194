"""Episodes of Meta-GMVAE, shared by Omniglot and the miniImageNet features.

Training (both originals' `DataLoader(RandomSampler(replacement=True))` over the
shuffled pool of all training images): an episode is `sample_size` images drawn
uniformly with replacement from the whole training split, labels unused.
Evaluation (`Data.generate_test_episode`): `way` classes without replacement,
then per class `shot + query` distinct images; support rows are class-blocked
(shot images of class 0, then class 1, ...), queries likewise.
The draws use a `np.random.RandomState` with the original's calls in order.
"""
import numpy as np

from common.errors import require


def check_geometry(name, classes, way, shot, query):
  """Clear errors for episodes a split [K, N, ...] cannot serve."""
  k, n = classes.shape[:2]
  require(way <= k, '--way %d is larger than the %d classes of %s' % (way, k, name))
  require(shot + query <= n, 'shot + query = %d + %d is larger than the %d images per class '
          'of %s' % (shot, query, n, name))


def train_batch(pool, batch_size, sample_size, rng):
  """[batch_size, sample_size, ...] images drawn uniformly with replacement from pool [M, ...]."""
  idx = rng.randint(0, len(pool), size=batch_size * sample_size)
  return pool[idx].reshape((batch_size, sample_size) + pool.shape[1:])


def test_episodes(classes, way, shot, query, n_episodes, rng):
  """The original `generate_test_episode` on classes [K, N, ...]:
  (x_tr [E, way*shot, ...], y_tr [E, way*shot], x_te [E, way*query, ...], y_te [E, way*query])."""
  k, n = classes.shape[:2]
  x_tr, x_te = [], []
  for _ in range(n_episodes):
    chosen = rng.choice(range(k), size=way, replace=False)
    tr, te = [], []
    for c in chosen:
      idx = rng.choice(range(n), size=shot + query, replace=False)
      images = classes[c][idx]
      tr.append(images[:shot])
      te.append(images[shot:])
    x_tr.append(np.concatenate(tr))
    x_te.append(np.concatenate(te))
  y_tr = np.tile(np.repeat(np.arange(way), shot), (n_episodes, 1))
  y_te = np.tile(np.repeat(np.arange(way), query), (n_episodes, 1))
  return np.stack(x_tr), y_tr, np.stack(x_te), y_te


def evaluate(accuracy_fn, classes, way, shot, query, batch_size, n_episodes, rng,
             progress_bar=True, desc='eval'):
  """Mean accuracy and 95% interval (1.96 std / sqrt(n)) over n_episodes episodes,
  evaluated `batch_size` at a time as the original (its last batch is truncated)."""
  from common.progress import progress
  accs = []
  with progress(total=n_episodes, desc='%s %d-shot' % (desc, shot), unit='episode',
                leave=False, disable=not progress_bar) as bar:
    while len(accs) < n_episodes:
      batch = accuracy_fn(test_episodes(classes, way, shot, query, batch_size, rng))
      accs.extend(batch)
      bar.set_postfix(acc='%.4f' % np.mean(accs[:n_episodes]), refresh=False)
      bar.update(min(len(batch), n_episodes - bar.n))
  accs = np.asarray(accs[:n_episodes])
  return float(np.mean(accs)), float(1.96 * np.std(accs) / np.sqrt(n_episodes))
