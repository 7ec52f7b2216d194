"""Load the ORIGINAL Targeted-Meta-Learning `main.py` (MLOPTPSU, TF compat.v1 +
tf.estimator) from its own folder, for the drivers that run it from outside this
repository (bench/original_tdr_speed.py, results/original_tdr_train.py).  Needs a
TensorFlow <= 2.15 environment with tf.estimator; nothing of the original is copied.
"""
import importlib.util
import os
import sys
import types


def load_main(src):
  """The original main.py of folder `src` as a module (its model, utils, load_dataset
  importable beside it).  matplotlib is stubbed: load_dataset imports it for a demo."""
  src = os.path.abspath(src)
  if not os.path.isfile(os.path.join(src, 'main.py')):
    sys.exit('error: --src must hold the original main.py')
  for name in ('matplotlib', 'matplotlib.pyplot'):
    sys.modules.setdefault(name, types.ModuleType(name))
  sys.modules['matplotlib'].pyplot = sys.modules['matplotlib.pyplot']
  sys.path.insert(0, src)
  spec = importlib.util.spec_from_file_location('tdr_original_main', os.path.join(src, 'main.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def hparams(train_steps, dataset='mnist', num_class=2, num_layers=20, train_batch_size=50,
            num_training_samples=5000, evaluate=False, eval_freq=1000, log_freq=100):
  """The hyper-parameters the original's argparse gives main() with its defaults
  (and the derived num_batches_per_epoch, as its __main__ computes it)."""
  return dict(num_layers=num_layers, train_steps=train_steps, train_batch_size=train_batch_size,
              eval_batch_size=50, momentum=0.9, weight_decay=2e-3, learning_rate=0.01,
              data_format=None, batch_norm_decay=0.997, batch_norm_epsilon=1e-5,
              dataset=dataset, num_class=num_class, version='v1', eval=evaluate,
              eval_freq=eval_freq, log_freq=log_freq, num_training_samples=num_training_samples,
              num_batches_per_epoch=int(num_training_samples / train_batch_size))
