"""The benches stay out of the suite; only their command lines and the FLOP counter
are checked here (cheap)."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = ['taml_speed.py', 'gmvae_speed.py', 'tdr_speed.py', 'original_tdr_speed.py',
            'random_tfrecords.py', 'conv_dtype.py']


@pytest.mark.parametrize('name', BENCHES)
def test_bench_help_exits_0(name):
  out = subprocess.run([sys.executable, os.path.join(REPO, 'bench', name), '--help'],
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  if name in BENCHES[:3]:
    assert '--original' in out.stdout and '--original_python' in out.stdout


def test_flop_count_of_conv_matmul_and_their_gradients():
  import tensorflow as tf
  from bench.flops import count_flops
  w = tf.Variable(tf.ones([3, 3, 2, 4]))
  m = tf.Variable(tf.ones([4 * 8 * 8, 5]))

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      h = tf.nn.conv2d(x, w, 1, 'SAME')                  # 2*3*8*8*4 * 3*3*2
      y = tf.matmul(tf.reshape(h, [3, -1]), m)          # 2*3*5*256
      loss = tf.reduce_sum(y)
    return tape.gradient(loss, [w, m])

  res = count_flops(step.get_concrete_function(tf.zeros([3, 8, 8, 2])))
  conv, mm = 2 * 3 * 8 * 8 * 4 * 9 * 2, 2 * 3 * 5 * 256
  # forward + filter gradient (the input gradient is built by autodiff but not run);
  # the matmul's two operand gradients (h's feeds the filter gradient); its forward
  # is dead: only the gradients are returned and d sum(y) / dy needs no y
  assert res['by_type'] == {'Conv2D': conv, 'Conv2DBackpropFilter': conv, 'MatMul': 2 * mm}
  assert res['flops'] == 2 * conv + 2 * mm and not res['unknown'] and not res['loops']


def test_op_profile_counts_each_kernel_of_a_step():
  import tensorflow as tf
  from bench.op_profile import format_profile, op_type, profile_ops
  assert op_type('model/conv/Conv2D:_MklNativeConv2D') == '_MklNativeConv2D'
  assert op_type('ExecutorState::Process') is None and op_type('Process') is None
  x, w, m = tf.ones([2, 16, 16, 3]), tf.ones([3, 3, 3, 8]), tf.ones([8 * 16 * 16, 4])

  @tf.function
  def step():
    return tf.reduce_sum(tf.matmul(tf.reshape(tf.nn.conv2d(x, w, 1, 'SAME'), [2, -1]), m))

  run = lambda: step().numpy()
  run()
  prof = profile_ops(run, calls=3, steps_per_call=1)
  per_step = {kind: n for kind, _, n in prof['rows']}
  convs = [k for k in per_step if k.endswith('Conv2D')]
  matmuls = [k for k in per_step if k.endswith('MatMul')]
  assert len(convs) == 1 and per_step[convs[0]] == 1, per_step
  assert len(matmuls) == 1 and per_step[matmuls[0]] == 1, per_step
  assert prof['kernel_us'] == pytest.approx(sum(r[1] for r in prof['rows']))
  table = format_profile(prof, top=1, title='toy').splitlines()
  assert table[1].startswith('toy: wall') and len(table) == 6   # blank, title, 2 header, 1 + rest


def test_tdr_bench_tiniest_config_prints_its_table():
  """~10 CPU seconds: LeNet, jit off, 10 timed steps per mode, FLOPs counted, profiled."""
  out = subprocess.run([sys.executable, os.path.join(REPO, 'bench', 'tdr_speed.py'),
                        '--models', 'lenet', '--jit', 'off', '--steps', '10', '--profile'],
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [l for l in out.stdout.splitlines() if l.startswith('| lenet |')]
  assert len(rows) == 3, out.stdout
  assert all(float(r.split('|')[7]) > 0 for r in rows)   # MFLOP / step
  kernels = [l.split('|')[1].strip() for l in out.stdout.splitlines()
             if l.startswith('| ') and 'Conv2D' in l]
  assert any(k.endswith('Conv2DBackpropInput') for k in kernels), out.stdout
