"""What a run logged: the scalars of its TensorBoard event files, its results.jsonl.

Read generically, whatever the trainer: every event file under the run
directory, every summary value holding one number.  A series is named by the
event file's folder relative to the run (`tb`, `train`, `tb/val`, ...); a tag
whose first part names a split (`train/cent`, `val/omniglot/id_acc`) moves that
part into the series name (`tb/train`, `tb/val`), so the old layouts (one
folder, the split in the tag) and `<run>/tb/{train,val,test}` give the same
panels: one per tag, one line per split.
"""
import collections
import json
import os
import struct

from common.errors import UserError

SPLITS = ('train', 'val', 'eval', 'test')
EVENT_PREFIX = 'events.out.tfevents'


def event_files(run_path, skip=('figures',)):
  """Paths of the event files under `run_path` (folders in `skip` left out), sorted."""
  found = []
  for folder, subdirs, files in os.walk(run_path):
    subdirs[:] = sorted(d for d in subdirs if d not in skip)
    found += [os.path.join(folder, f) for f in sorted(files) if f.startswith(EVENT_PREFIX)]
  return found


def _records(path):
  """The records of a TFRecord file, read in Python (no TensorFlow import); a record
  torn by a writer that is still running ends the file."""
  with open(path, 'rb') as fh:
    while True:
      header = fh.read(12)   # uint64 length, uint32 masked crc of the length
      if len(header) < 12:
        return
      length, = struct.unpack('<Q', header[:8])
      data = fh.read(length)
      if len(data) < length or len(fh.read(4)) < 4:   # the data, its crc
        return
      yield data


def _events(path, log):
  from google.protobuf.message import DecodeError
  from tensorboard.compat.proto import event_pb2
  for data in _records(path):
    try:
      yield event_pb2.Event.FromString(data)
    except DecodeError:
      log('warning: %s holds a corrupt record; its later records are not plotted' % path)
      return


def _numbers(path, log):
  """(tag, step, wall_time, value) of every one-number summary value of one file."""
  from tensorboard.util import tensor_util
  for event in _events(path, log):
    for value in event.summary.value:
      if value.HasField('tensor'):
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1 or array.dtype.kind not in 'fiub':
          continue   # histograms, text, images
        number = float(array.reshape(()))
      elif value.HasField('simple_value'):
        number = float(value.simple_value)
      else:
        continue
      yield value.tag, event.step, event.wall_time, number


def series_and_tag(folder, tag):
  """(series, panel tag) of one summary value (see the module docstring)."""
  head, _, rest = tag.partition('/')
  if rest and head in SPLITS and os.path.basename(folder) not in SPLITS:
    folder = head if folder == '.' else folder + '/' + head
    tag = rest
  return folder, tag


def read_scalars(run_path, log):
  """dict tag -> dict series -> ([steps], [values]), steps ascending.

  A step logged twice (a resumed run repeats the steps after its last
  checkpoint) keeps the value written last.
  """
  points = collections.defaultdict(dict)   # (tag, series) -> step -> (wall_time, value)
  for path in event_files(run_path):
    folder = os.path.relpath(os.path.dirname(path), run_path)
    for tag, step, wall_time, number in _numbers(path, log):
      series, panel = series_and_tag(folder, tag)
      known = points[panel, series].get(step)
      if known is None or wall_time >= known[0]:
        points[panel, series][step] = (wall_time, number)
  out = collections.defaultdict(dict)
  for (panel, series), by_step in sorted(points.items()):
    steps = sorted(by_step)
    out[panel][series] = (steps, [by_step[s][1] for s in steps])
  return dict(out)


def read_results(run_path):
  """The records of `<run>/results.jsonl` (list of dicts; [] without the file).

  A last line that does not parse (torn by a writer that is still running) is
  skipped; any other line that does not parse is a `UserError` naming it.
  """
  path = os.path.join(run_path, 'results.jsonl')
  if not os.path.exists(path):
    return []
  try:
    with open(path) as fh:
      lines = fh.read().splitlines()
  except OSError as err:
    raise UserError('cannot read %s (%s)' % (path, err.strerror))
  records = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      if not isinstance(record, dict) or 'mean' not in record:
        raise ValueError('not an object with a "mean"')
    except ValueError as err:
      if number == len(lines):
        break   # torn last line
      raise UserError('%s line %d is not a result record (%s); fix or remove that line'
                      % (path, number, err))
    records.append(record)
  return records
