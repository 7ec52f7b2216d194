"""Build an imbalanced or long-tailed TDR dataset and write it as tfrecords."""
import json
import os
import sys

import numpy as np

from common.errors import UserError
from data.tdr import NUM_CLASSES, check_parent_dir, imbalance, sources

SUMMARY_FILE = 'summary.json'


def make_and_write(data_dir, dataset, source=None, seed=0, long_tail=False,
                   train_size=5000, validation_size=20, test_size=2000, ratio=0.9,
                   minority_labels=(2,), majority_labels=(3,), n0=5000, imf=1.0,
                   log=print):
  """Sample the splits, write {train,validation,test}.tfrecords and summary.json."""
  if source and not os.path.exists(source):
    raise UserError('--source not found: %s (no such file or folder)' % source)
  check_parent_dir(data_dir, '--data-dir')
  (x_train, y_train), (x_test, y_test) = sources.load(dataset, source)
  if long_tail:
    splits = imbalance.make_long_tail(y_train, y_test, NUM_CLASSES[dataset], n0, imf,
                                      validation_size, seed)
    labels = list(range(NUM_CLASSES[dataset]))
    config = {'mode': 'long_tail', 'n0': n0, 'imf': imf}
  else:
    splits = imbalance.make_imbalance(
        y_train, y_test, list(minority_labels), list(majority_labels), train_size,
        validation_size, test_size, ratio, seed)
    labels = list(minority_labels) + list(majority_labels)
    config = {'mode': 'imbalance', 'ratio': ratio,
              'minority_labels': list(minority_labels),
              'majority_labels': list(majority_labels)}
  asked = {'validation': validation_size}
  if not long_tail:
    asked.update(train=train_size, test=test_size)
  warning = imbalance.rounding_warning(asked, splits)
  if warning:
    print(warning, file=sys.stderr, flush=True)
  try:
    os.makedirs(data_dir, exist_ok=True)
  except OSError as err:
    raise UserError('cannot create --data-dir %s: %s' % (data_dir, err))
  from common.tf_env import quiet_tensorflow_import
  quiet_tensorflow_import()   # late: TensorFlow only once the splits are valid
  from data.tdr import tfrecords
  arrays = {'train': x_train, 'test': x_test}
  counts = {}
  for split, (src, idx, lab) in splits.items():
    path = tfrecords.split_path(data_dir, split)
    tfrecords.write(path, arrays[src][idx], lab)
    counts[split] = np.bincount(lab, minlength=len(labels)).tolist()
    log('%s: %d images, per class %s' % (path, len(lab), counts[split]))
  summary = dict(config, dataset=dataset, seed=seed, source=source or 'tfds',
                 image_shape=list(x_train.shape[1:]), original_labels=labels,
                 counts=counts, num_training_samples=int(sum(counts['train'])))
  from common.run_dir import os_errors, write_atomic
  with os_errors('cannot write %s' % os.path.join(data_dir, SUMMARY_FILE)):
    write_atomic(os.path.join(data_dir, SUMMARY_FILE), json.dumps(summary, indent=1))
  return summary
