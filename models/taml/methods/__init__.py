"""The registry of the TAML family: `--method NAME` -> its definition.

A new method: one module here defining a `Method`, its name in METHOD_MODULES.
"""
import importlib

from models.taml.methods.definition import Method, from_flags

# Every Method defined in these modules (models/taml/methods/<module>.py) is registered.
METHOD_MODULES = ('maml', 'metasgd', 'taml', 'anil')


def _collect(modules):
  methods = {}
  for module in modules:
    defined = vars(importlib.import_module('models.taml.methods.' + module)).values()
    for method in defined:
      if isinstance(method, Method):
        assert method.name not in methods, 'two methods named %r' % method.name
        methods[method.name] = method
  return methods


METHODS = _collect(METHOD_MODULES)


def method_of(name, alpha_on=False, omega_on=False, gamma_on=False, z_on=False):
  """The registry's `name`, or (name empty) the method the four flags spell."""
  if name:
    return METHODS[name]
  return from_flags(METHODS, alpha_on, omega_on, gamma_on, z_on)
