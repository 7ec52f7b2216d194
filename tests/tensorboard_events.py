"""What a run wrote to TensorBoard, read back from its event files."""
import collections
import os

import tensorflow as tf


def read_split(run_dir, split):
  """kind ('scalars', 'histograms', 'images') -> tag -> [(step, value)] of every event
  file in `<run_dir>/tb/<split>/`."""
  folder = os.path.join(str(run_dir), 'tb', split)
  out = collections.defaultdict(lambda: collections.defaultdict(list))
  for name in sorted(os.listdir(folder)):
    if not name.startswith('events.out'):
      continue
    for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
      for value in event.summary.value:
        kind = value.metadata.plugin_data.plugin_name
        out[kind][value.tag].append((event.step, tf.make_ndarray(value.tensor)))
  return out


def tb_splits(run_dir):
  return sorted(os.listdir(os.path.join(str(run_dir), 'tb')))
