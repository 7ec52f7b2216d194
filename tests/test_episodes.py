"""The imbalanced episode sampler (l2b `Data.generate_episode`)."""
import numpy as np
import pytest

from common.errors import UserError
from data.episodes import EpisodeSampler


def make_sampler(n_classes=8, sizes=None, seed=0, side=4):
  sizes = sizes or [12] * n_classes
  rng = np.random.default_rng(1)
  classes = [rng.random((n, side, side, 3), dtype=np.float32) + c for c, n in enumerate(sizes)]
  return EpisodeSampler({'mtr': classes}, 'toy', seed=seed), classes


def decode(ep, t):
  """Per class: (n support rows, n query rows, set of source classes)."""
  ytr, yte = ep['ytr'][t], ep['yte'][t]
  return ytr.sum(0).astype(int), yte.sum(0).astype(int)


def test_shapes_padding_and_labels():
  sampler, _ = make_sampler()
  ep = sampler.sample('mtr', 6, way=5, max_shot=6, query=3)
  n_rows = int(ep['n_rows'])
  assert ep['xtr'].shape == (6, n_rows, 4 * 4 * 3) and ep['ytr'].shape == (6, n_rows, 5)
  assert ep['xte'].shape == (6, 15, 48) and ep['yte'].shape == (6, 15, 5)
  sizes = ep['ytr'].sum((1, 2))
  assert sizes.max() == n_rows and sizes.min() >= 5
  for t in range(6):
    n = int(sizes[t])
    assert np.all(ep['ytr'][t, :n].sum(1) == 1)          # one-hot rows first
    assert not ep['ytr'][t, n:].any() and not ep['xtr'][t, n:].any()   # zero padding
    shots, queries = decode(ep, t)
    assert np.all(shots >= 1) and np.all(shots <= 6) and np.all(queries == 3)
    # query labels are class-blocked: 3 of class 0, then class 1, ...
    assert np.array_equal(ep['yte'][t].argmax(1), np.repeat(np.arange(5), 3))


def test_images_come_from_one_class_per_label_without_repeats():
  sampler, classes = make_sampler()
  ep = sampler.sample('mtr', 4, way=5, max_shot=6, query=3)
  for t in range(4):
    for label in range(5):
      rows = np.concatenate([ep['xtr'][t][ep['ytr'][t].argmax(1) == label][:int(ep['ytr'][t, :, label].sum())],
                             ep['xte'][t][ep['yte'][t].argmax(1) == label]])
      source = np.floor(rows.min(1))        # images of class c lie in [c, c+1)
      assert len(set(source)) == 1
      assert len(np.unique(rows, axis=0)) == len(rows)


def test_fixed_padding_keeps_n_rows():
  sampler, _ = make_sampler()
  ep = sampler.sample('mtr', 3, way=5, max_shot=6, query=3, pad_to=30)
  assert ep['xtr'].shape[1] == 30 and int(ep['n_rows']) <= 30
  assert not ep['ytr'][:, int(ep['n_rows']):].any()


@pytest.mark.parametrize('mode', [2, 3])
def test_modes(mode):
  sampler, _ = make_sampler(seed=3)
  shots = [decode(sampler.sample('mtr', 1, 5, 6, 3, mode=mode), 0)[0] for _ in range(40)]
  equal = [len(set(s)) == 1 for s in shots]
  if mode == 3:
    assert all(equal)                  # task imbalance only: one shared shot
  else:
    assert sum(equal) < 5              # class imbalance: shots differ per class


def test_mode_1_mixes_shared_and_per_class_shots():
  sampler, _ = make_sampler(seed=5)
  shared = [len(set(decode(sampler.sample('mtr', 1, 5, 6, 3), 0)[0])) == 1 for _ in range(200)]
  assert 0.35 < np.mean(shared) < 0.65


def test_small_class_gets_shot_n_minus_query():
  sampler, _ = make_sampler(n_classes=5, sizes=[5, 30, 30, 30, 30])
  for _ in range(20):
    ep = sampler.sample('mtr', 1, way=5, max_shot=20, query=3, mode=3)
    shots, _ = decode(ep, 0)
    labels = ep['yte'][0].argmax(1)
    source = np.floor(ep['xte'][0].min(1)).astype(int)    # class c lies in [c, c+1)
    small = labels[source == 0][0]                         # label of the 5-image class
    shared = max(shots[l] for l in range(5) if l != small)
    assert shots[small] == (shared if shared + 3 <= 5 else 5 - 3)


def test_seed_reproduces_episodes():
  a, _ = make_sampler(seed=7)
  b, _ = make_sampler(seed=7)
  ea, eb = a.sample('mtr', 4, 5, 6, 3), b.sample('mtr', 4, 5, 6, 3)
  for k in ea:
    np.testing.assert_array_equal(ea[k], eb[k])


def test_bad_geometry_is_a_clear_error():
  sampler, _ = make_sampler(n_classes=4, sizes=[12, 12, 12, 3])
  with pytest.raises(UserError, match='--way 5 is larger than the 4 classes'):
    sampler.check('mtr', 5, 2)
  with pytest.raises(UserError, match='--query 3 leaves no support image'):
    sampler.check('mtr', 3, 3)
  with pytest.raises(UserError, match='has no mte split'):
    sampler.check('mte', 3, 1)
