"""Floating-point operations of a traced TensorFlow step, counted from its graph.

Counts the live (run) dense-algebra ops (Conv2D and its two backprops, MatMul, BatchMatMul)
at 2 FLOPs per multiply-add, from the static shapes of a concrete function
traced with fully known input shapes.  Element-wise ops, reductions, pooling
and batch norm are not counted (they are memory-bound; their share shows as
the distance between the achieved GFLOP/s and the machine's dense peak).
Bodies of called functions (PartitionedCall) are walked with the call's input
shapes; a loop body (While) is counted once and reported in `loops`, so the
caller multiplies it by its trip count.

  from bench.flops import count_flops
  res = count_flops(tf.function(f).get_concrete_function(*args))
  res['flops'], res['by_type'], res['unknown'], res['loops']
"""
import collections

import numpy as np


def _dims(shape):
  """Static dims of a TensorShape as ints, or None if any is unknown."""
  if shape.rank is None:
    return None
  dims = shape.as_list()
  return None if any(d is None for d in dims) else dims


def _op_flops(op):
  """FLOPs of one op, 0 if not counted, None if counted but shapes unknown."""
  t = op.type
  if t == 'Conv2D':
    out, w = _dims(op.outputs[0].shape), _dims(op.inputs[1].shape)
    if out is None or w is None:
      return None
    return 2 * int(np.prod(out)) * w[0] * w[1] * w[2]
  if t in ('Conv2DBackpropInput', 'Conv2DBackpropFilter'):
    dy = _dims(op.inputs[2].shape)
    w = _dims((op.inputs[1] if t == 'Conv2DBackpropInput' else op.outputs[0]).shape)
    if dy is None or w is None:
      return None
    return 2 * int(np.prod(dy)) * w[0] * w[1] * w[2]
  if t == 'MatMul':
    a, out = _dims(op.inputs[0].shape), _dims(op.outputs[0].shape)
    if a is None or out is None:
      return None
    k = a[0] if op.get_attr('transpose_a') else a[1]
    return 2 * out[0] * out[1] * k
  if t in ('BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3'):
    x, out = _dims(op.inputs[0].shape), _dims(op.outputs[0].shape)
    if x is None or out is None:
      return None
    k = x[-2] if op.get_attr('adj_x') else x[-1]
    return 2 * int(np.prod(out)) * k
  return 0


def _library(graph):
  lib = {}
  try:
    for f in graph.as_graph_def().library.function:
      lib[f.signature.name] = f
  except Exception:  # pragma: no cover - best effort
    pass
  return lib


def _live_ops(graph):
  """Ops the function runs: ancestors (data and control) of its outputs and
  control outputs.  Dead branches, such as the input gradient of a conv whose
  input needs none, are built by autodiff but pruned when the function runs."""
  seeds = [t.op for t in getattr(graph, 'outputs', [])] + list(
      getattr(graph, 'control_outputs', []))
  if not seeds:
    return graph.get_operations()
  seen, stack = set(), list(seeds)
  while stack:
    op = stack.pop()
    if op in seen:
      continue
    seen.add(op)
    stack.extend(t.op for t in op.inputs)
    stack.extend(op.control_inputs)
  return [op for op in graph.get_operations() if op in seen]


def _walk(graph, lib, res, depth=0):
  from tensorflow.python.framework import function_def_to_graph
  for op in _live_ops(graph):
    f = _op_flops(op)
    if f is None:
      res['unknown'][op.type] += 1
    elif f:
      res['flops'] += f
      res['by_type'][op.type] += f
    names = []
    if op.type in ('PartitionedCall', 'StatefulPartitionedCall'):
      names = [op.get_attr('f').name]
    elif op.type in ('While', 'StatelessWhile'):
      names = [op.get_attr('body').name]
      res['loops'].append(names[0])
    for name in names:
      if name not in lib or depth > 8:
        continue
      try:
        shapes = [i.shape for i in op.inputs]
        sub = function_def_to_graph.function_def_to_graph(lib[name], input_shapes=shapes)
      except Exception:
        sub = function_def_to_graph.function_def_to_graph(lib[name])
      _walk(sub, lib, res, depth + 1)


def count_flops(concrete_function):
  """{'flops': int, 'by_type': {op type: flops}, 'unknown': {op type: count},
  'loops': [loop body names counted once]} of a concrete function."""
  graph = concrete_function.graph
  res = {'flops': 0, 'by_type': collections.Counter(), 'unknown': collections.Counter(),
         'loops': []}
  _walk(graph, _library(graph), res)
  res['by_type'] = dict(res['by_type'])
  res['unknown'] = dict(res['unknown'])
  return res


def fmt_gflops(flops, seconds):
  """Achieved GFLOP/s, formatted ('-' when unknown)."""
  if not flops or not seconds:
    return '-'
  return '%.1f' % (flops / seconds / 1e9)


def cpu_name():
  """'<model name of /proc/cpuinfo>, N logical cores' (or 'CPU, N ...')."""
  import os
  try:
    with open('/proc/cpuinfo') as f:
      names = [l.split(':', 1)[1].strip() for l in f if l.startswith('model name')]
  except OSError:
    names = []
  return '%s, %d logical cores' % (names[0] if names else 'CPU', os.cpu_count())


def reference_gflops(n=2048, repeats=10):
  """GFLOP/s of TensorFlow's float32 n x n matmul on this machine (best of `repeats`):
  a practical ceiling for the dense ops counted above (what the step would reach if
  all its time were spent in large matmuls)."""
  import time
  import tensorflow as tf
  a = tf.random.uniform([n, n])
  b = tf.random.uniform([n, n])
  float(tf.reduce_sum(tf.matmul(a, b)))
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    float(tf.reduce_sum(tf.matmul(a, b)))
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best / 1e9


def reference_line(python=None):
  """One line naming the reference matmul GFLOP/s, run in a child process (its own
  TensorFlow, the benches' environment variables)."""
  import json
  import os
  import subprocess
  import sys
  out = subprocess.run([python or sys.executable, os.path.abspath(__file__), '--reference'],
                       capture_output=True, text=True)
  try:
    g = json.loads(out.stdout.strip().splitlines()[-1])['gflops']
  except (IndexError, ValueError, KeyError):
    return 'reference matmul: failed'
  return ('machine: %s; reference: float32 2048x2048 matmul in TensorFlow here, best of 10: '
          '%.0f GFLOP/s (a practical ceiling for the counted dense ops; load avg %.1f)'
          % (cpu_name(), g, os.getloadavg()[0]))


if __name__ == '__main__':
  import json
  import sys
  if sys.argv[1:] == ['--reference']:
    print(json.dumps({'gflops': reference_gflops()}))
