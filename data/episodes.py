"""Imbalanced few-shot episodes of Learning to Balance (l2b `Data.generate_episode`).

A task: `way` classes drawn without replacement; mode 1 tosses a coin between
one shot per class drawn from 1..max_shot (class imbalance) and one shot shared
by all classes (task imbalance); mode 2 is class imbalance only, mode 3 task
imbalance only.  Query size is fixed per class.  A class with fewer than
shot + query images gets shot = N_c - query.

Support sets of a metabatch are zero padded (x rows 0, y rows all-zero) to the
longest support in that metabatch, `n_rows` (the original's N_t).  For compiled
steps with one fixed shape we pad further to `pad_to` rows; those extra rows are
masked out downstream, so the numbers are the original's.

Random draws use `np.random.RandomState` with the same calls in the same order
as the original, so a seed gives the same episodes as the original under
`np.random.seed(seed)`.
"""
import numpy as np

from common.errors import require

SPLITS = ('mtr', 'mval', 'mte')


class EpisodeSampler:
  """Draws padded metabatches from per-class image arrays.

  Args:
    classes: dict split -> list of per-class arrays `[N_c, H, W, C]` (or any
      `[N_c, ...]`; rows are flattened).
    name: dataset name for error messages.
    seed: seed of the RandomState.
  """

  def __init__(self, classes, name, seed=0):
    self.name = name
    self.classes = {split: [np.reshape(c, [len(c), -1]) for c in per_class]
                    for split, per_class in classes.items()}
    self.rng = np.random.RandomState(seed)

  def check(self, split, way, query):
    """Clear errors for geometries this split cannot serve."""
    require(split in self.classes,
            '%s has no %s split (it has %s)' % (self.name, split, ', '.join(self.classes)))
    sizes = [len(c) for c in self.classes[split]]
    require(way <= len(sizes),
            '--way %d is larger than the %d classes of %s/%s' % (way, len(sizes), self.name, split))
    require(query < min(sizes),
            '--query %d leaves no support image: the smallest class of %s/%s has %d images'
            % (query, self.name, split, min(sizes)))

  def sample(self, split, n_tasks, way, max_shot, query, mode=1, pad_to=None):
    """A metabatch: dict xtr `[T, P, D]`, ytr `[T, P, way]`, xte `[T, way*query, D]`,
    yte `[T, way*query, way]` (float32) and n_rows (the original padded length).

    P = pad_to if given (must be >= n_rows), else n_rows.
    """
    data = self.classes[split]
    tasks = [self._task(data, way, max_shot, query, mode) for _ in range(n_tasks)]
    n_rows = max(len(xtr) for xtr, _, _, _ in tasks)
    rows = n_rows if pad_to is None else pad_to
    assert rows >= n_rows, 'pad_to %d shorter than a support set (%d)' % (rows, n_rows)
    dim = tasks[0][0].shape[1]
    xtr = np.zeros([n_tasks, rows, dim], np.float32)
    ytr = np.zeros([n_tasks, rows, way], np.float32)
    for t, (x, y, _, _) in enumerate(tasks):
      xtr[t, :len(x)] = x
      ytr[t, :len(y)] = y
    return {'xtr': xtr, 'ytr': ytr,
            'xte': np.stack([t[2] for t in tasks]).astype(np.float32),
            'yte': np.stack([t[3] for t in tasks]).astype(np.float32),
            'n_rows': np.float32(n_rows)}

  def _shots(self, way, max_shot, mode):
    rng = self.rng
    per_class = lambda: rng.choice(range(1, max_shot + 1), size=way, replace=True)
    shared = lambda: rng.choice(range(1, max_shot + 1), size=1).repeat(way)
    if mode == 1:
      return per_class() if rng.uniform(0, 1, 1) > 0.5 else shared()
    if mode == 2:
      return per_class()
    if mode == 3:
      return shared()
    raise ValueError('episode mode must be 1, 2 or 3, got %r' % mode)

  def _task(self, data, way, max_shot, query, mode):
    rng = self.rng
    classes = rng.choice(range(len(data)), size=way, replace=False)
    shots = self._shots(way, max_shot, mode)
    xtr, ytr, xte, yte = [], [], [], []
    for i, c in enumerate(classes):
      n_c = len(data[c])
      shot = shots[i] if n_c >= shots[i] + query else n_c - query
      idx = rng.choice(range(n_c), size=shot + query, replace=False)
      x_c = np.asarray(data[c][idx])
      label = np.eye(way, dtype=np.float32)[i]
      xtr.append(x_c[:shot])
      xte.append(x_c[shot:])
      ytr.append(np.tile(label, [shot, 1]))
      yte.append(np.tile(label, [query, 1]))
    return (np.concatenate(xtr), np.concatenate(ytr),
            np.concatenate(xte), np.concatenate(yte))
