"""How far --learner_conv_dtype=bfloat16 moves TAML's numbers: the goldens' outer
loss and meta-gradient, float32 and bfloat16 convolutions, against the original's
float64 replay.

  GOLDENS_DIR=../shared/goldens python bench/bf16_learner_error.py

Per fixture: relative error of the outer loss, the largest per-variable relative
L2 error of the meta-gradient (||g - g*|| / ||g*||, structurally zero conv-bias
gradients left out), and the cosine between the whole port and golden
meta-gradient vectors.  --bn_grad exact (the f64 replays' derivative).
"""
import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def golden_errors(stem, conv_dtype, folder=None):
  """{'loss': rel. error, 'grad': max per-variable rel. L2 error, 'cosine': ...}
  of one float32 replay of fixture `stem` with the learner's convolutions in
  `conv_dtype`, against `<stem>_f64.npz`."""
  import tensorflow as tf
  from models.taml.objective import metabatch_forward, outer_loss
  from models.taml.parameters import TamlParameters
  from tests import golden
  from tests.test_golden_taml import STRUCTURALLY_ZERO, episode, fixture_config
  d = golden.load(stem, ('_grads',), folder)   # fixture_config reads which heads it has
  want = golden.load_f64(stem, folder)
  cfg = dataclasses.replace(fixture_config(d), learner_conv_dtype=conv_dtype)
  params = TamlParameters(cfg)
  names = [n for n in params.by_name if 'grad/' + n in want and n not in STRUCTURALLY_ZERO]
  for n, v in params.by_name.items():
    v.assign(d[n].astype('float32'))

  @tf.function
  def loss_and_gradients(ep):
    with tf.GradientTape() as tape:
      loss = outer_loss(metabatch_forward(params.values(), ep, cfg, sample=False))
    return loss, tape.gradient(loss, [params.by_name[n] for n in names])

  loss, grads = loss_and_gradients(episode(d))
  ref = [want['grad/' + n].astype(np.float64).ravel() for n in names]
  port = [np.zeros_like(r) if g is None else np.asarray(tf.convert_to_tensor(g), np.float64).ravel()
          for g, r in zip(grads, ref)]
  rel = [np.linalg.norm(p - r) / np.linalg.norm(r) for p, r in zip(port, ref)]
  p, r = np.concatenate(port), np.concatenate(ref)
  return {'loss': abs(float(loss) - float(want['outer_loss'])) / abs(float(want['outer_loss'])),
          'grad': max(rel), 'worst': names[int(np.argmax(rel))],
          'cosine': float(p @ r / (np.linalg.norm(p) * np.linalg.norm(r)))}


def main():
  argparse.ArgumentParser(description=__doc__.split('\n')[0]).parse_args()
  from tests import golden
  from models.taml.config import LEARNER_CONV_DTYPES
  from tests.test_golden_taml import COMPANIONS
  print('| fixture | convolutions | outer loss rel. error | max grad rel. L2 error (variable) '
        '| gradient cosine |')
  print('|---|---|---|---|---|')
  for stem in golden.stems('taml_', COMPANIONS):
    for dtype in LEARNER_CONV_DTYPES:
      e = golden_errors(stem, dtype)
      print('| %s | %s | %.2e | %.2e (%s) | %.6f |' % (stem, dtype, e['loss'], e['grad'],
                                                      e['worst'], e['cosine']), flush=True)


if __name__ == '__main__':
  main()
