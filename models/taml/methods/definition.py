"""What one member of the TAML family is: the inner loop's parameters, step sizes,
balancing variables and prior, as data (no TensorFlow: main.py lists the names
before TensorFlow is imported).

The objective (models/taml/objective.py), the inner loop and the parameters read
a `Method`; the original's on/off flags (`--alpha_on --omega_on --gamma_on
--z_on`) spell one (`from_flags`).
"""
import dataclasses

LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'dense')   # the conv-4 learner's layers
BALANCING = ('omega', 'gamma', 'z')                       # balancing.VARIABLES
PRIORS = ('standard_normal',)                             # balancing.PRIORS


@dataclasses.dataclass(frozen=True)
class Method:
  """One inner-loop algorithm of the family.

  name: registry name (`--method`).
  adapted: learner layers the inner loop updates; the others keep the
    meta-learned initialisation for every task (learned in the outer loop only).
  learned_step_sizes: Meta-SGD's alpha, a meta-learned step per parameter;
    False: the fixed `--inner_lr`.
  balancing: the balancing variables drawn per task (Eq. 5-7), a subset of
    BALANCING; their KL to `prior` joins the outer loss (Eq. 8).
  prior: p in KL(q || p) of the balancing variables (balancing.PRIORS).
  summary: one line for --help and the records.
  """
  name: str
  summary: str
  adapted: tuple = LAYERS
  learned_step_sizes: bool = False
  balancing: tuple = ()
  prior: str = 'standard_normal'

  def __post_init__(self):
    unknown = [x for x in self.adapted if x not in LAYERS]
    unknown += [x for x in self.balancing if x not in BALANCING]
    assert not unknown, '%s: unknown layers / balancing variables %s' % (self.name, unknown)
    assert self.prior in PRIORS, '%s: unknown prior %r' % (self.name, self.prior)
    assert self.adapted, '%s adapts no layer' % self.name

  def adapts(self, key):
    """Whether the inner loop updates learner parameter `key` ('conv1_w', 'dense_b', ...)."""
    return key.rsplit('_', 1)[0] in self.adapted

  def flags(self):
    """The original's on/off flags that spell this method's variables."""
    on = dict(alpha_on=self.learned_step_sizes)
    on.update({name + '_on': name in self.balancing for name in BALANCING})
    return on


def from_flags(registry, alpha_on, omega_on, gamma_on, z_on):
  """The method the original's four flags spell: its registry entry, or (a
  combination the registry does not name) an unnamed one, e.g. 'maml+omega'."""
  balancing = tuple(n for n, on in zip(BALANCING, (omega_on, gamma_on, z_on)) if on)
  for method in registry.values():
    if (method.adapted == LAYERS and method.prior == 'standard_normal'
        and method.learned_step_sizes == alpha_on and method.balancing == balancing):
      return method
  name = '+'.join(('metasgd' if alpha_on else 'maml',) + balancing)
  return Method(name, 'flags: ' + name, learned_step_sizes=alpha_on, balancing=balancing)
