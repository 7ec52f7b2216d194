"""The flags every entry point shares: devices, strategy, precision, XLA and the run
lifecycle.  One name (each entry point spells it in its own style, `--cpu_devices`
in main.py, `--cpu-devices` in tdr_main.py / gmvae_main.py; both spellings work in
all three, common/dash_flags.py), one default and one behaviour.

  --gpu_id           sets CUDA_VISIBLE_DEVICES, as the originals (`select_gpu`)
  --strategy         default | mirrored | multi_worker (common/distribute.py)
  --num_devices      mirrored: how many devices
  --cpu_devices      the CPU split into logical devices (CPU runs of mirrored)
  --connect_timeout  multi_worker: seconds to wait for the workers
  --mixed_precision  bfloat16 where the trainer allows it (common/precision.py)
  --jit              XLA-compile the training steps (--jit_compile: the same flag)
  --save_minutes, --keep_checkpoints, --override_config (common/lifecycle.py)
"""
import dataclasses
import os

from common.dash_flags import calling_module
from common.distribute import STRATEGIES
from common.lifecycle import define_flags as define_lifecycle_flags
from common.settings import TRAIN, Setting, define as define_settings

GPU_ENV = 'CUDA_VISIBLE_DEVICES'

RUNTIME = (
    Setting('gpu_id', 'integer', None, 'Sets CUDA_VISIBLE_DEVICES, as the originals. Unset: 0 '
            '(the originals\' default), unless CUDA_VISIBLE_DEVICES is already set or '
            'several devices are used (--strategy mirrored/multi_worker, tdr_main.py\'s '
            '--num-gpus other than 1): then the environment is kept.', at_least=0),
    Setting('strategy', 'enum', 'default', 'default: one device (tdr_main.py: left unset, '
            '--num-gpus picks, as the original: mirrored over that many GPUs when > 1); '
            'mirrored: the tasks (TDR: the batches) of a step split over all visible GPUs '
            '(or --cpu_devices); multi_worker: over the workers of TF_CONFIG.',
            choices=STRATEGIES),
    Setting('num_devices', 'integer', 0, 'mirrored: use this many devices (0: all visible).',
            at_least=0),
    Setting('cpu_devices', 'integer', 0, 'Split the CPU into this many logical devices (CPU '
            'runs of --strategy mirrored; 0: leave it whole).', at_least=0),
    Setting('connect_timeout', 'integer', 120, 'multi_worker: seconds to wait for the other '
            'workers (and for any collective) before failing.', at_least=1),
    Setting('mixed_precision', 'bool', False, 'bfloat16 where the trainer allows it (GPU '
            'runs): TAML the inference network (the learner and its inner loop stay float32), '
            'TDR the Keras model (mixed_bfloat16: weights, batch-norm statistics, losses and '
            'class weights stay float32), Meta-GMVAE the Omniglot conv encoder/decoder (the '
            'set transformer, EM and losses stay float32).'),
    Setting('jit', 'bool', False, 'XLA-compile the training steps (slower on CPU; TAML pads '
            'every support to way * max_shot rows for it).', aliases=('jit_compile',)),
)


def runtime_settings(dashed, recorded=None):
  """The RUNTIME settings spelled for an entry point (dashed: `--cpu-devices`);
  recorded: {underscored name: config.json key} of those a resume must repeat."""
  recorded = recorded or {}
  spell = (lambda n: n.replace('_', '-')) if dashed else (lambda n: n)
  out = []
  for s in RUNTIME:
    key = recorded.get(s.name)
    out.append(dataclasses.replace(
        s, name=spell(s.name), aliases=tuple(spell(a) for a in s.aliases),
        help=s.help if not dashed else dash_help(s.help),
        checked=(TRAIN,) if key else (), key=key))
  return tuple(out)


def dash_help(text):
  """A help text with the runtime flags it names in the dashed spelling."""
  for s in RUNTIME:
    text = text.replace('--' + s.name, '--' + s.name.replace('_', '-'))
  return text


def define(settings, dashed, keep, periodic, checked='Resume'):
  """Define `settings` (from `runtime_settings`) and the lifecycle flags, owned by
  the calling entry point."""
  module = calling_module()
  define_settings(settings, module_name=module)
  define_lifecycle_flags(dashed=dashed, keep=keep, periodic=periodic, checked=checked,
                         module_name=module)


def select_gpu(gpu_id, one_device, environ=os.environ):
  """The originals' `os.environ['CUDA_VISIBLE_DEVICES'] = str(args.gpu_id)`; call
  before TensorFlow starts.

  An explicit --gpu_id (not None) always sets it, as the originals.  Left unset
  (the originals then set 0), an existing CUDA_VISIBLE_DEVICES is kept, and so is
  the environment of a run on several devices (`one_device` False)."""
  if gpu_id is not None:
    environ[GPU_ENV] = str(gpu_id)
  elif GPU_ENV not in environ and one_device:
    environ[GPU_ENV] = '0'
