"""VGG Flowers 102, in-distribution set of l2b's multi-dataset runs, 32x32.

As l2b: the 102 classes are split 71/15/16 by name (lists below; the numbers
are the 1-based labels of imagelabels.mat), every image of a class (ordered by
file name) resized to 32x32 RGB.  l2b forgot to divide these pixels by 255
(its arrays hold 0..255 while every other dataset is in [0,1]); we divide, and
`--no_rescale` restores the original 0..255 values.
Writes <out>/train.npy, valid.npy, test.npy (1-D object arrays: class sizes differ).
Run: `python get_data.py` here, or `python data/vgg_flower/get_data.py`.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402

from common.errors import UserError, run_cli  # noqa: E402
from data import download, images  # noqa: E402

URL = 'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/'
MD5 = {
    '102flowers.tgz': '52808999861908f626f3c1f4e79d11fa',
    'imagelabels.mat': 'e0620be6f572b9609742df49c70aed4d',
}
SPLITS = {
    'train': [
        '090.canna lily', '038.great masterwort', '080.anthurium',
        '030.sweet william', '029.artichoke', "012.colt's foot",
        '043.sword lily', '027.prince of wales feathers', '004.sweet pea',
        '064.silverbush', '031.carnation', '099.bromelia',
        '008.bird of paradise', '067.spring crocus', '095.bougainvillea',
        '077.passion flower', '078.lotus', '061.cautleya spicata',
        '088.cyclamen', '074.rose', '055.pelargonium', '032.garden phlox',
        '021.fire lily', '013.king protea', '079.toad lily', '070.tree poppy',
        '051.petunia', '069.windflower', '014.spear thistle',
        '060.pink-yellow dahlia?', '011.snapdragon', '039.siam tulip',
        '063.black-eyed susan', '037.cape flower', '036.ruby-lipped cattleya',
        '028.stemless gentian', '048.buttercup', '007.moon orchid',
        '093.ball moss', '002.hard-leaved pocket orchid', '018.peruvian lily',
        '024.red ginger', '006.tiger lily', '003.canterbury bells',
        '044.poinsettia', '076.morning glory', '075.thorn apple',
        '072.azalea', '052.wild pansy', '084.columbine', '073.water lily',
        '034.mexican aster', '054.sunflower', '066.osteospermum',
        '059.orange dahlia', '050.common dandelion', '091.hippeastrum',
        '068.bearded iris', '100.blanket flower', '071.gazania',
        '081.frangipani', '101.trumpet creeper', '092.bee balm',
        '022.pincushion flower', '033.love in the mist', '087.magnolia',
        '001.pink primrose', '049.oxeye daisy', '020.giant white arum lily',
        '025.grape hyacinth', '058.geranium',
    ],
    'valid': [
        '010.globe thistle', '016.globe-flower', '017.purple coneflower',
        '023.fritillary', '026.corn poppy', '047.marigold', '053.primula',
        '056.bishop of llandaff', '057.gaura', '062.japanese anemone',
        '082.clematis', '083.hibiscus', '086.tree mallow', '097.mallow',
        '102.blackberry lily',
    ],
    'test': [
        '005.english marigold', '009.monkshood', '015.yellow iris',
        '019.balloon flower', '035.alpine sea holly', '040.lenten rose',
        '041.barbeton daisy', '042.daffodil', '045.bolero deep blue',
        '046.wallflower', '065.californian poppy', '085.desert-rose',
        '089.watercress', '094.foxglove', '096.camellia',
        '098.mexican petunia',
    ],
}
_IMAGE = re.compile(r'(?:^|/)image_(\d{5})\.jpg$')


def main(argv=None):
  parser = download.script_parser(__file__, __doc__.split('\n')[0])
  parser.add_argument('--no_rescale', action='store_true',
                      help="keep pixels in 0..255 as l2b's files did")
  args = parser.parse_args(argv)
  if download.splits_done(args.out, list(SPLITS)):
    return
  paths = {name: download.fetch_archive(
      name, URL + name, args.out, md5=md5, verify=args.verify,
      source=download.pick_source(args.source, name))
           for name, md5 in MD5.items()}
  with download.reading(paths['imagelabels.mat']):
    labels = scipy.io.loadmat(paths['imagelabels.mat'])['labels'].reshape(-1)
  # image_00001.jpg is the first entry of `labels` (1-based class numbers).
  label_of = lambda m: (int(labels[int(_IMAGE.search(m).group(1)) - 1])
                        if _IMAGE.search(m) else None)
  by_class = images.decode_by_class(paths['102flowers.tgz'], label_of, (32, 32))
  scale = (lambda x: np.asarray(x, np.float32)) if args.no_rescale else \
      images.unit_float
  for split, classes in SPLITS.items():
    ids = [int(c[:3]) for c in classes]
    if any(i not in by_class for i in ids):
      raise UserError('%s lacks images of some classes (wrong archive?)'
                      % paths['102flowers.tgz'])
    download.save_split(os.path.join(args.out, split + '.npy'),
                        [scale(by_class[i]) for i in ids])


if __name__ == '__main__':
  run_cli(main)
