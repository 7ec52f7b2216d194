"""Experiment presets: absl flagfiles under configs/ (one `--name=value` or `--bool_flag`
per line, `#` comments), read by the entry points through `--flagfile` and by the
benches and result scripts through `preset_args` / `preset_values`.

  python main.py --mode meta_train --savedir runs/c --flagfile=configs/taml/cifar_taml.flags \
      --flagfile=configs/taml/l2b_train_cifar.flags

A flagfile names the flags as the entry point defines them (main.py: `--max_shot`;
tdr_main.py, gmvae_main.py: `--num-layers`): absl reads it after the command line's
dash / underscore spellings were normalised (common/dash_flags.py).
"""
import os

from absl import flags

from common.dash_flags import normalise_argv
from common.errors import UserError
from common.settings import define

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, 'configs')


def preset_path(name):
  """configs/<name> (e.g. 'taml/cifar_taml.flags'), which must exist."""
  path = os.path.join(CONFIGS, name)
  if not os.path.isfile(path):
    raise UserError('no preset %s (configs/ holds %s)' % (path, ', '.join(sorted(
        os.path.relpath(os.path.join(d, f), CONFIGS) for d, _, fs in os.walk(CONFIGS)
        for f in fs if f.endswith('.flags')))))
  return path


def preset_args(*names):
  """The flags of the presets `names`, one argv item each (for a command line, or
  for the originals' argparse scripts, which take `--name=value` and `--flag`)."""
  out = []
  for name in names:
    with open(preset_path(name)) as fh:
      out += [line.strip() for line in fh
              if line.strip() and not line.strip().startswith(('#', '//'))]
  return out


def parse(settings, argv):
  """{flag name: value} of `argv` parsed with the declarations `settings`, as the
  entry point parses it (its --flagfile presets expanded, relative to the current
  folder); every declared flag, defaults included."""
  values = flags.FlagValues()
  define(settings, flag_values=values, module_name='preset')
  rest = values(normalise_argv(['preset'] + list(argv), values))
  if rest[1:]:
    raise UserError('unexpected arguments: %s' % ' '.join(rest[1:]))
  return {s.name: values[s.name].value for s in settings}


def preset_values(settings, *names):
  """`parse` of the presets `names` alone: what they set, and the defaults."""
  return parse(settings, preset_args(*names))
