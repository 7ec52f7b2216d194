"""The `--mixed_precision` switch: which parts of a model may compute in bfloat16.

bfloat16 keeps float32's exponent range, so no loss scaling is needed (float16
would need it for every trainer's custom update).  Each trainer says which of
its parts may use it.  TAML's learner and its second-order inner loop stay
float32 under it: there float32 rounding alone already flips ReLU decisions
(tests/test_golden_taml.py), and bfloat16's 8-bit mantissa moves the
meta-gradient by up to ~30 % per variable.  TAML's own opt-in for that is
--learner_conv_dtype=bfloat16 (its convolutions only; results/bfloat16_learner.md).
Meta-GMVAE keeps its EM and losses in float32; TDR uses Keras' mixed_bfloat16
policy with float32 weights, batch-norm statistics, losses and class weights.
"""
import tensorflow as tf

MIXED = 'bfloat16'
FULL = 'float32'


BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')   # oneDNN's native bfloat16 kernels


def cpu_has_bfloat16(cpuinfo='/proc/cpuinfo'):
  """True if the CPU has bfloat16 instructions (BFLOAT16_CPU_FLAGS), False if
  not, None where /proc/cpuinfo cannot tell (not Linux)."""
  try:
    with open(cpuinfo) as fh:
      flags = next((line.split(':', 1)[1].split() for line in fh
                    if line.startswith('flags')), None)
  except OSError:
    return None
  return None if flags is None else any(f in flags for f in BFLOAT16_CPU_FLAGS)


def bfloat16_cpu_warning(dtype, cpuinfo='/proc/cpuinfo'):
  """The warning a bfloat16 computation on this machine deserves, or None:
  without a GPU and without bfloat16 instructions TensorFlow runs generic
  bfloat16 kernels, slower than float32 and rounding more (measured:
  results/bfloat16_learner.md)."""
  if (dtype != MIXED or tf.config.list_physical_devices('GPU')
      or cpu_has_bfloat16(cpuinfo) is not False):
    return None
  return ('bfloat16 convolutions on a CPU without %s run TensorFlow\'s generic kernels: '
          'slower than float32 and less accurate (results/bfloat16_learner.md); use float32 '
          'here' % ' / '.join(BFLOAT16_CPU_FLAGS))


def compute_dtype(mixed_precision):
  return MIXED if mixed_precision else FULL


def cast_floats(tree, dtype):
  """Every floating tensor of a nest cast to `dtype` (others unchanged)."""
  def cast(x):
    x = tf.convert_to_tensor(x)
    return tf.cast(x, dtype) if x.dtype.is_floating else x
  return tf.nest.map_structure(cast, tree)


def run_in(dtype, fn, *args):
  """`fn(*args)` computed in `dtype`, its floating outputs returned as float32."""
  if dtype == FULL:
    return fn(*args)
  return cast_floats(fn(*cast_floats(args, dtype)), FULL)
