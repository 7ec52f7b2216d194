"""Which source images go where: the binary/multi-class imbalance maker and the
long-tail maker of the original `makeImbalanceDataset.py`, as pure index logic.

Every function returns {split: (source split, indices, new labels)} where the
source split is 'train' or 'test' of the source dataset; nothing is copied.
Splits are shuffled with a seeded `np.random.RandomState` (the original used the
unseeded global numpy generator).
"""
import numpy as np

from common.errors import UserError

SPLITS = ('train', 'validation', 'test')


def imbalance_sizes(train_size, ratio, n_minority, n_majority):
  """(per majority class, per minority class) training images, as the original."""
  major = int(train_size / (n_majority + n_minority * (1 - ratio)))
  return major, int(major * (1 - ratio))


def _check_labels(labels, y_train, what):
  present = set(np.unique(y_train).tolist())
  absent = [c for c in labels if c not in present]
  if absent:
    raise UserError('%s label(s) %s absent from the dataset (labels present: %s)'
                    % (what, absent, sorted(present)))


def _shuffled(parts, rng):
  """Concatenate [(indices, labels)] and shuffle them together."""
  idx = np.concatenate([p[0] for p in parts]).astype(np.int64)
  lab = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts])
  perm = rng.permutation(len(idx))
  return idx[perm], lab[perm]


def make_imbalance(y_train, y_test, minority_labels, majority_labels, train_size,
                   validation_size, test_size, ratio, seed=0):
  """Imbalanced train split, balanced validation (target) and test splits.

  Majority classes get int(train / (n_major + n_minor * (1 - ratio))) training
  images each, minority classes int(that * (1 - ratio)); validation takes
  validation_size / n_classes per class from the source train split right after
  the training images, test test_size / n_classes per class.  Images of a class
  are taken in source order; labels are re-indexed by position, minority first.
  """
  minority, majority = list(minority_labels), list(majority_labels)
  if not minority or not majority:
    raise UserError('give at least one minority and one majority label')
  overlap = sorted(set(minority) & set(majority))
  if overlap:
    raise UserError('minority and majority labels overlap: %s' % overlap)
  if len(set(minority)) != len(minority) or len(set(majority)) != len(majority):
    raise UserError('a label is repeated in --minority-labels or --majority-labels')
  if not 0 < ratio < 1:
    raise UserError('--ratio must be strictly between 0 and 1, got %g' % ratio)
  _check_labels(minority + majority, y_train, 'requested')
  classes = minority + majority
  n_major, n_minor = imbalance_sizes(train_size, ratio, len(minority), len(majority))
  n_val = int(validation_size / len(classes))
  n_test = int(test_size / len(classes))
  if n_minor < 1:
    raise UserError('--train-size %d at --ratio %g leaves no minority training image'
                    % (train_size, ratio))
  if n_val < 1 or n_test < 1:
    raise UserError('--validation-size and --test-size must give at least one image '
                    'per class (%d classes)' % len(classes))
  parts = {s: [] for s in SPLITS}
  for new, c in enumerate(classes):
    n_train = n_minor if c in minority else n_major
    tr = np.flatnonzero(y_train == c)
    te = np.flatnonzero(y_test == c)
    if len(tr) < n_train + n_val:
      raise UserError('label %d: %d train+validation images asked, the dataset has %d'
                      % (c, n_train + n_val, len(tr)))
    if len(te) < n_test:
      raise UserError('label %d: %d test images asked, the dataset has %d'
                      % (c, n_test, len(te)))
    parts['train'].append((tr[:n_train], new))
    parts['validation'].append((tr[n_train:n_train + n_val], new))
    parts['test'].append((te[:n_test], new))
  rng = np.random.RandomState(seed)
  src = {'train': 'train', 'validation': 'train', 'test': 'test'}
  return {s: (src[s],) + _shuffled(parts[s], rng) for s in SPLITS}


def rounding_warning(asked, splits):
  """One `warning:` line naming the splits that the original's per-class int()
  counts (kept: SPEC.md and the original fix them) made smaller than asked,
  e.g. --train-size 5000 at --ratio 0.9 -> 4545 + 454 = 4999; or None.
  `asked`: {split: size asked}; `splits`: as `make_imbalance` returns."""
  short = []
  for split, size in asked.items():
    labels = splits[split][2]
    if len(labels) != size:
      per_class = sorted(set(np.bincount(labels).tolist()) - {0}, reverse=True)
      short.append('%s %d of --%s-size %d (%s per class)' % (
          split, len(labels), split, size, ' or '.join(map(str, per_class))))
  if short:
    return ('warning: writing %s: per-class counts rounded down as the original '
            'makeImbalanceDataset.py does (kept, so the splits are the original\'s)'
            % ', '.join(short))
  return None


def long_tail_sizes(n0, imf, num_class):
  """n_i = int(n0 * (1/imf)^(i/(C-1))) training images of class i."""
  mu = (1.0 / imf) ** (1.0 / (num_class - 1))
  return [int(n0 * mu ** i) for i in range(num_class)]


def make_long_tail(y_train, y_test, num_class, n0, imf, validation_size, seed=0):
  """Long-tailed train split (original `LongTailDataset`), balanced validation.

  Class i keeps label i and gets n_i training images from its shuffled train
  images; validation takes validation_size / C per class from the END of the
  shuffled class; test takes every test image.  Fix: where n_i + validation
  would exceed the class (the original then used the same images for both),
  training keeps only the images the validation split does not take.
  """
  if imf < 1:
    raise UserError('--imf (imbalance factor n_max/n_min) must be >= 1, got %g' % imf)
  if n0 < 1:
    raise UserError('--n0 must be a positive number of images, got %d' % n0)
  _check_labels(list(range(num_class)), y_train, 'class')
  n_val = int(validation_size / num_class)
  if n_val < 1:
    raise UserError('--validation-size must give at least one image per class '
                    '(%d classes)' % num_class)
  rng = np.random.RandomState(seed)
  parts = {s: [] for s in SPLITS}
  for c, n_train in enumerate(long_tail_sizes(n0, imf, num_class)):
    tr = rng.permutation(np.flatnonzero(y_train == c))
    if n_train > len(tr):
      raise UserError('class %d: --n0 asks for %d training images, the dataset has %d'
                      % (c, n_train, len(tr)))
    n_train = min(n_train, len(tr) - n_val)
    if n_train < 1:
      raise UserError('class %d has too few images for %d validation images'
                      % (c, n_val))
    parts['train'].append((tr[:n_train], c))
    parts['validation'].append((tr[len(tr) - n_val:], c))
    parts['test'].append((np.flatnonzero(y_test == c), c))
  src = {'train': 'train', 'validation': 'train', 'test': 'test'}
  return {s: (src[s],) + _shuffled(parts[s], rng) for s in SPLITS}
