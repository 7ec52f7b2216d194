"""Fashion-MNIST, out-of-distribution set of l2b's multi-dataset runs: test.npy.

Run: `python get_data.py` here, or `python data/fashion-mnist/get_data.py`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from common.errors import run_cli  # noqa: E402
from data import mnist_like  # noqa: E402

URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'
MD5 = {
    mnist_like.IMAGES: 'bef4ecab320f06d8554ea6380940ec79',
    mnist_like.LABELS: 'bb300cfdad3c16e7a12a480ee83cd310',
}


def main(argv=None):
  mnist_like.main(__file__, 'Fashion-MNIST', URL, MD5, argv)


if __name__ == '__main__':
  run_cli(main)
