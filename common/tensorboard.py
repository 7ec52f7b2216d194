"""One TensorBoard layout for the three trainers: `<run>/tb/{train,val,test}/`.

  board = RunBoard(run_dir, strategy)
  board.scalars('train', {'loss': 0.3}, step)
  with board.as_default('val', step):
    tf.summary.image(...)

Each split's writer is created on first use (a run that never tests has no
tb/test/); on non-chief workers of a multi-worker run every writer is a no-op.
Tags carry no split prefix: the folder is the split.
"""
from common import distribute

TB_DIR = 'tb'
SPLITS = ('train', 'val', 'test')


class RunBoard:

  def __init__(self, run_dir, strategy=None):
    self.run_dir, self.strategy = run_dir, strategy
    self._writers = {}

  def writer(self, split):
    assert split in SPLITS, split
    if split not in self._writers:
      self._writers[split] = distribute.summary_writer(self.strategy,
                                                       self.run_dir.join(TB_DIR, split))
    return self._writers[split]

  def as_default(self, split, step):
    return self.writer(split).as_default(step=step)

  def scalars(self, split, values, step):
    """name -> number, one scalar each at `step`."""
    import tensorflow as tf
    with self.as_default(split, step):
      for name, value in values.items():
        tf.summary.scalar(name, value)

  def flush(self):
    for writer in self._writers.values():
      writer.flush()
