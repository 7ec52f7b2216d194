"""MNIST as an extra out-of-distribution set (not in l2b): test.npy, 10 classes.

Converted exactly like l2b's Fashion-MNIST (see data/mnist_like.py).  Only the
two t10k files are used; `--source DIR` may be a folder with all four.
Run: `python get_data.py` here, or `python data/mnist/get_data.py` from the root.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import run_cli  # noqa: E402
from data import mnist_like  # noqa: E402

URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
MD5 = {
    mnist_like.IMAGES: '9fb629c4189551a2d022fa330f9573f3',
    mnist_like.LABELS: 'ec29112dd5afa0611ce80d1b7f02629c',
}


def main(argv=None):
  mnist_like.main(__file__, 'MNIST', URL, MD5, argv)


if __name__ == '__main__':
  run_cli(main)
