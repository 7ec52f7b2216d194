"""One declaration per setting of a trainer: its flag, range check, the value
config.json records and which later runs must repeat it all follow from it.

  WAY = Setting('way', 'integer', 5, 'Classes per task.', at_least=2,
                checked=(TRAIN, TEST))

`define(SETTINGS)` (in the entry point) defines the absl flags and their range
validators (a value out of range is one `error:` line, common/errors.py);
`config(SETTINGS, values, TRAIN)` is what config.json records and a resumed run
must repeat; `config(SETTINGS, values, TEST)` what an evaluation of the run must.
"""
import dataclasses

from absl import flags

from common.dash_flags import calling_module, check_ranges

# The runs that must repeat a setting's value recorded in config.json.
TRAIN = 'train'   # a resumed training run (config.json records it)
TEST = 'test'     # an evaluation of a trained run (main.py meta_test, gmvae --test-only)

_DEFINE = {'integer': flags.DEFINE_integer, 'float': flags.DEFINE_float,
           'bool': flags.DEFINE_bool, 'string': flags.DEFINE_string,
           'enum': flags.DEFINE_enum, 'list': flags.DEFINE_list}


@dataclasses.dataclass(frozen=True)
class Setting:
  """name: the flag as --help shows it ('way', 'num-layers'; the other spelling is
  accepted too, common/dash_flags.py).  kind: a key of `_DEFINE`.  at_least /
  above / below: the range (None: unbounded); lower_bound: absl's own bound (its
  'is not a non-negative integer' message).  checked: the runs (TRAIN, TEST, or a
  trainer's own kind) that must repeat the value config.json holds under `key`
  (default: the name).  aliases: other names of the flag (the originals').
  model_field: the trainer's model config has a field of this name, set from the
  flag (models/taml/config.py `TamlConfig`).  default_per: {value of another
  flag: default} when the default depends on it (Meta-GMVAE: per --dataset, the
  originals' per-script defaults; the flag's own default is then None)."""
  name: str
  kind: str
  default: object
  help: str
  choices: tuple = None
  at_least: float = None
  above: float = None
  below: float = None
  lower_bound: float = None
  checked: tuple = ()
  key: str = None
  aliases: tuple = ()
  model_field: bool = False
  default_per: dict = None

  @property
  def config_key(self):
    return self.key or self.name

  @property
  def attribute(self):
    """The name as a Python attribute (`num-layers` -> `num_layers`)."""
    return self.name.replace('-', '_')


def define(settings, flag_values=flags.FLAGS, module_name=None):
  """Define the absl flags of `settings` (owned by the calling module, so --helpshort
  lists them there) with their range validators and aliases."""
  module_name = module_name or calling_module()
  for s in settings:
    extra = {'enum_values': list(s.choices)} if s.kind == 'enum' else {}
    if s.lower_bound is not None:
      extra['lower_bound'] = s.lower_bound
    _DEFINE[s.kind](name=s.name, default=s.default, help=s.help, flag_values=flag_values,
                    module_name=module_name, **extra)
    for alias in s.aliases:
      flags.DEFINE_alias(alias, s.name, flag_values=flag_values, module_name=module_name)
  bounds = lambda field: {s.name: getattr(s, field) for s in settings
                          if getattr(s, field) is not None}
  check_ranges(at_least=bounds('at_least'), above=bounds('above'), below=bounds('below'),
               flag_values=flag_values)


def names(settings, run):
  """Flag names of the settings `run` (TRAIN, TEST, ...) must repeat."""
  return tuple(s.name for s in settings if run in s.checked)


def config(settings, value_of, run):
  """{config.json key: value} of the settings `run` must repeat; `value_of(name)`
  gives a flag's value."""
  return {s.config_key: value_of(s.name) for s in settings if run in s.checked}


def model_fields(settings, value_of):
  """{field: value} of the settings that are fields of the trainer's model config."""
  return {s.attribute: value_of(s.name) for s in settings if s.model_field}


def default_for(setting, value):
  """The default of `setting` when the flag it depends on has `value`."""
  return (setting.default_per or {}).get(value, setting.default)


def by_name(settings):
  return {s.name: s for s in settings}
