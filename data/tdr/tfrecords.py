"""TDR tfrecords: `data` (raw uint8 bytes, HWC order) and `label` (int64).

Writing, a one-pass check of a file (corrupt, truncated, wrong image size), and
the `tf.data` streams the trainer reads: the shuffled (optionally augmented)
train stream, the class-balanced validation (target) stream and the test stream.
The original reshaped the bytes as CHW and transposed, although they were
written HWC (scrambling CIFAR images); here they are read as written.
"""
import os

import numpy as np
import tensorflow as tf

from common.errors import UserError
from common.progress import progress

SPLIT_FILES = {s: s + '.tfrecords' for s in ('train', 'validation', 'test')}
SHUFFLE_BUFFER = 10000
PAD_SIZE = 40   # CIFAR train augmentation: pad to 40x40, random crop back, flip
FEATURES = {'data': tf.io.FixedLenFeature([], tf.string),
            'label': tf.io.FixedLenFeature([], tf.int64)}


def _example(image, label):
  return tf.train.Example(features=tf.train.Features(feature={
      'data': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[np.ascontiguousarray(image, np.uint8).tobytes()])),
      'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
  })).SerializeToString()


def write(path, images, labels):
  """Write uint8 HWC `images` with int `labels` to `path` (replaced)."""
  tmp = path + '.part'
  try:
    with tf.io.TFRecordWriter(tmp) as writer:
      for image, label in progress(zip(images, labels), total=len(labels), unit='img',
                                   desc=os.path.basename(path)):
        writer.write(_example(image, label))
    os.replace(tmp, path)
  except tf.errors.OpError as err:   # a full or read-only disk: one line, no .part left
    raise UserError('cannot write %s: %s' % (path, str(err).strip().splitlines()[0]))
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def split_path(data_dir, split):
  return os.path.join(data_dir, SPLIT_FILES[split])


def scan(path, image_shape):
  """Read the whole file once; return {'count', 'class_counts'}.

  Raises `UserError` for a missing, corrupt or truncated file, for records
  without `data`/`label`, and for images whose size is not `image_shape`.
  """
  if not os.path.isfile(path):
    raise UserError('tfrecords file not found: %s' % path)
  want = int(np.prod(image_shape))
  counts = np.zeros(0, np.int64)
  total = 0
  try:
    for batch in tf.data.TFRecordDataset(path).batch(4096):
      ex = tf.io.parse_example(batch, FEATURES)
      sizes = tf.strings.length(ex['data']).numpy()
      bad = sizes[sizes != want]
      if bad.size:
        raise UserError('%s holds images of %d bytes, but the model expects %s '
                        '(%d bytes): wrong dataset/model for these records'
                        % (path, bad[0], 'x'.join(map(str, image_shape)), want))
      labels = ex['label'].numpy()
      if labels.min() < 0:
        raise UserError('%s has a negative label' % path)
      c = np.bincount(labels)
      counts = np.pad(counts, (0, max(0, len(c) - len(counts))))
      counts[:len(c)] += c
      total += len(labels)
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
          tf.errors.OutOfRangeError) as err:
    msg = err.message.splitlines()[0] if err.message else type(err).__name__
    raise UserError('corrupt or truncated tfrecords file %s: %s' % (path, msg))
  if total == 0:
    raise UserError('tfrecords file %s holds no records' % path)
  return {'count': total, 'class_counts': counts.tolist()}


def parser(image_shape):
  """Serialized example -> (float32 HWC image of raw pixel values, int32 label)."""
  def parse(record):
    ex = tf.io.parse_single_example(record, FEATURES)
    image = tf.reshape(tf.io.decode_raw(ex['data'], tf.uint8), image_shape)
    return tf.cast(image, tf.float32), tf.cast(ex['label'], tf.int32)
  return parse


def batch_parser(image_shape):
  """A vector of serialized examples -> (float32 [B, H, W, C], int32 [B]): one
  parse for the whole batch instead of one per record (per-record parsing took
  a large share of a LeNet step's CPU)."""
  def parse(records):
    ex = tf.io.parse_example(records, FEATURES)
    n = records.shape[0] if records.shape[0] is not None else -1   # keep a static batch size
    images = tf.reshape(tf.io.decode_raw(ex['data'], tf.uint8), [n] + list(image_shape))
    return tf.cast(images, tf.float32), tf.cast(ex['label'], tf.int32)
  return parse


def augment(image, seed):
  """Pad to 40x40, random crop back to the input size, random left-right flip."""
  h, w, c = image.shape
  image = tf.image.resize_with_crop_or_pad(image, PAD_SIZE, PAD_SIZE)
  image = tf.image.stateless_random_crop(image, [h, w, c], seed=seed)
  return tf.image.stateless_random_flip_left_right(image, seed=seed[::-1])


def train_dataset(path, batch_size, image_shape, distort=False, seed=0, skip_batches=0,
                  shuffle='epoch'):
  """Endless shuffled train batches (fixed shape), optionally augmented; a pure
  function of `seed`, starting after its first `skip_batches` batches (resume).

  shuffle='epoch': each pass over the file in a fresh order (buffer of 10000
  records, then repeat).  shuffle='original': as the original input_fn, the file
  repeated endlessly in file order through a shuffle buffer of only
  3 x batch_size records (so a batch holds records from near one place of the
  file, and epochs blend into one another)."""
  skip = skip_batches * batch_size
  records = tf.data.TFRecordDataset(path)
  if shuffle == 'original':
    # The original mapped (parsed, augmented) before the shuffle; parsing is per
    # record, so shuffling the raw records first draws the same stream, and
    # lets a resumed run skip records without parsing them.
    ds = records.repeat().shuffle(3 * batch_size, seed=seed).skip(skip)
  elif shuffle == 'epoch':
    ds = records.shuffle(SHUFFLE_BUFFER, seed=seed).repeat().skip(skip)
  else:
    raise ValueError('shuffle must be epoch or original, got %r' % (shuffle,))
  if distort:
    parse = parser(image_shape)

    def parse_augment(i, record):
      image, label = parse(record)
      return augment(image, tf.stack([tf.cast(seed, tf.int64), i])), label
    ds = ds.enumerate(start=skip).map(parse_augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
  else:
    ds = ds.batch(batch_size, drop_remainder=True).map(batch_parser(image_shape))
  return ds.prefetch(tf.data.AUTOTUNE)


def target_dataset(path, batch_size, image_shape, num_class, seed=0, skip_batches=0,
                   order='balanced', distort=False):
  """Endless target (validation) batches, starting after `skip_batches` batches.

  order='balanced': cycling through the classes (`balanced_dataset`).
  order='original': the original's stream for the validation file,
  the same code path as its train stream (`train_dataset(shuffle='original')`:
  file order, repeat, shuffle buffer 3 x batch).  `distort`: augmented as the
  train images (the original's preprocess tested the dataset object's subset,
  'train' for both streams, so its CIFAR target images were padded, cropped and
  flipped)."""
  if order == 'balanced':
    return balanced_dataset(path, batch_size, image_shape, num_class, seed, skip_batches,
                            distort)
  if order != 'original':
    raise ValueError('order must be balanced or original, got %r' % (order,))
  # its own seed stream, so it differs from the train stream of the same file order
  return train_dataset(path, batch_size, image_shape, distort, seed + 7919, skip_batches,
                       shuffle='original')


def balanced_dataset(path, batch_size, image_shape, num_class, seed=0, skip_batches=0,
                     distort=False):
  """Endless target batches cycling through the classes (0, 1, ..., C-1, 0, ...),
  starting after the first `skip_batches` batches, optionally augmented."""
  records = tf.data.TFRecordDataset(path).map(parser(image_shape)).cache()
  per_class = [records.filter(lambda x, y, c=c: tf.equal(y, c))
               .shuffle(SHUFFLE_BUFFER, seed=seed + c).repeat()
               for c in range(num_class)]
  order = tf.data.Dataset.range(num_class).repeat()
  skip = skip_batches * batch_size
  ds = tf.data.Dataset.choose_from_datasets(per_class, order).skip(skip)
  if distort:
    ds = ds.enumerate(start=skip).map(
        lambda i, xy: (augment(xy[0], tf.stack([tf.cast(seed, tf.int64) + 7919, i])), xy[1]),
        num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_dataset(path, batch_size, image_shape, examples=0, seed=0, records=None):
  """examples=0: every record once, in file order (last batch may be smaller);
  `records` (the file's count, from `scan`) gives the stream its length, for
  the evaluation's progress bar.

  examples=N > 0: the original's evaluation, N // batch_size batches of the
  test file repeated endlessly through a shuffle buffer of 3 x batch_size
  records (the original: 2000 // eval_batch_size batches, unseeded, so a test
  set smaller than N is partly counted twice); here seeded with `seed`."""
  if examples:
    n = examples // batch_size
    if n < 1:
      raise ValueError('--eval-examples %d is smaller than the batch size %d'
                       % (examples, batch_size))
    return (tf.data.TFRecordDataset(path).repeat().shuffle(3 * batch_size, seed=seed)
            .batch(batch_size).take(n).map(batch_parser(image_shape))
            .prefetch(tf.data.AUTOTUNE))
  ds = tf.data.TFRecordDataset(path)
  if records is not None:
    ds = ds.apply(tf.data.experimental.assert_cardinality(records))
  return ds.batch(batch_size).map(batch_parser(image_shape)).prefetch(tf.data.AUTOTUNE)
