"""Targeted meta-learning / targeted data-driven regularisation (KDD 2020).

bilevel.py (BilevelModel, BatchNorm), lenet.py, convnet.py, resnet.py: models;
losses.py: the pure loss / look-ahead / class-weight math; config.py:
TensorFlow-free choices and checks.  The compiled steps are training/tdr_steps.py,
the loop training/tdr.py.
"""


def build_model(name, num_class, resnet_size=20, version='v1',
                bn_momentum=None, bn_epsilon=None):
  """The model `name` ('lenet', 'convnet' or 'resnet') for `num_class` classes."""
  if name == 'lenet':
    from models.tdr.lenet import BilevelLenet
    return BilevelLenet(num_class=num_class)
  if name == 'convnet':
    from models.tdr.convnet import BilevelConvNet
    return BilevelConvNet(num_class=num_class)
  from models.tdr.resnet import BilevelResNet
  extra = {k: v for k, v in (('bn_momentum', bn_momentum),
                             ('bn_epsilon', bn_epsilon)) if v is not None}
  return BilevelResNet(resnet_size, num_classes=num_class,
                       resnet_version=version, **extra)
