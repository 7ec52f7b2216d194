"""Accept the original argparse spellings for absl flags.

The TDR (and GMVAE) originals use dashed flags (`--data-dir`) and argparse
`nargs='+'` lists (`--minority-labels 2 4`).  The flags are defined here with
their dashed names; `normalise_argv` also maps underscore spellings
(`--data_dir`) onto them (and, for main.py's underscored flags, dashed ones) and joins space-separated list values with commas,
so both spellings work, and a boolean flag followed by `True` / `False` (the
originals' argparse spelling, README's `--use-distortion-for-training False`)
takes that value.
"""
import sys

from absl import flags


# `--use-distortion-for-training False`: a boolean flag followed by one of these
BOOL_WORDS = ('true', 'false')


def calling_module(depth=2):
  """absl's module name for the code `depth` frames up (the entry point defining its
  flags; `__main__` is named by sys.argv[0]), so --helpshort lists the flags there."""
  caller = sys._getframe(depth).f_globals['__name__']
  return sys.argv[0] if caller == '__main__' else caller


def _resolve(name, known):
  if name in known:
    return name
  for spelled in (name.replace('_', '-'), name.replace('-', '_')):
    if spelled in known:
      return spelled
    if spelled.startswith('no') and spelled[2:].lstrip('-_') in known:
      return 'no' + spelled[2:].lstrip('-_')  # --no_use_x / --nouse_x -> --nouse-x
  return name


def normalise_argv(argv, flag_values=flags.FLAGS):
  """argv with every known flag spelled as defined and list values joined."""
  known = set(flag_values)
  out, i = list(argv[:1]), 1
  while i < len(argv):
    arg = argv[i]
    if arg == '--':
      out += argv[i:]
      break
    if not arg.startswith('--'):
      out.append(arg)
      i += 1
      continue
    name, eq, value = arg[2:].partition('=')
    name = _resolve(name, known)
    is_list = name in known and isinstance(flag_values[name], flags.MultiFlag) is False \
        and isinstance(flag_values[name].parser, flags.ListParser)
    if is_list and not eq:
      values, j = [], i + 1
      while j < len(argv) and not argv[j].startswith('-'):
        values.append(argv[j])
        j += 1
      if values:
        out.append('--%s=%s' % (name, ','.join(values)))
        i = j
        continue
    is_bool = name in known and isinstance(flag_values[name], flags.BooleanFlag)
    if is_bool and not eq and i + 1 < len(argv) and argv[i + 1].lower() in BOOL_WORDS:
      out.append('--%s=%s' % (name, argv[i + 1].lower()))   # argparse's `--flag False`
      i += 2
      continue
    out.append('--' + name + eq + value)
    i += 1
  return out


def reject_extra_args(argv):
  """`UserError` for positional arguments left after flag parsing (a typo)."""
  from common.errors import UserError
  if len(argv) > 1:
    raise UserError('unexpected arguments: %s' % ' '.join(argv[1:]))


def check_ranges(at_least=None, above=None, below=None, flag_values=flags.FLAGS):
  """Range validators for numeric flags: {name: bound} for value >= bound, value >
  bound and value < bound.  A value out of range is a flag-parse error, which the
  entry points print as one `error:` line (common/errors.py).  Unset (None) values
  pass: their defaults are filled in later."""
  for table, test, word in ((at_least, lambda v, b: v >= b, '>='),
                            (above, lambda v, b: v > b, '>'),
                            (below, lambda v, b: v < b, '<')):
    for name, bound in (table or {}).items():
      flags.register_validator(
          name, lambda v, b=bound, t=test: v is None or t(v, b),
          'must be %s %s' % (word, bound), flag_values=flag_values)
