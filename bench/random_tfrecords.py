"""Random uint8 TDR tfrecords of CIFAR-10's shape, for speed runs (CIFAR-10 is not in
../shared/datasets; the step's cost does not depend on pixel values).

  python bench/random_tfrecords.py OUT_DIR [--train 5000 --validation 20 --test 1000]
Writes OUT_DIR/{train,validation,test}.tfrecords: 32x32x3 images, labels i % 10.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('out')
  p.add_argument('--train', type=int, default=5000)
  p.add_argument('--validation', type=int, default=20)
  p.add_argument('--test', type=int, default=1000)
  p.add_argument('--num_class', type=int, default=10)
  p.add_argument('--seed', type=int, default=0)
  a = p.parse_args()
  import numpy as np
  from data.tdr import tfrecords as tfr
  os.makedirs(a.out, exist_ok=True)
  rng = np.random.default_rng(a.seed)
  for split in ('train', 'validation', 'test'):
    n = getattr(a, split)
    tfr.write(tfr.split_path(a.out, split), rng.integers(0, 256, (n, 32, 32, 3), np.uint8),
              np.arange(n) % a.num_class)
    print('%s: %d records' % (tfr.split_path(a.out, split), n))


if __name__ == '__main__':
  main()
