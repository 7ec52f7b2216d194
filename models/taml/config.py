"""What defines a TAML model and its episodes (saved beside every checkpoint)."""
import dataclasses

from models.taml.methods import METHODS, method_of

# --learner_conv_dtype's values: full precision (the default), or bfloat16 convolutions.
LEARNER_CONV_DTYPES = ('float32', 'bfloat16')


@dataclasses.dataclass(frozen=True)
class TamlConfig:
  way: int = 5
  max_shot: int = 50
  query: int = 15
  n_steps: int = 5
  inner_lr: float = 0.5
  alpha_on: bool = False
  omega_on: bool = False
  gamma_on: bool = False
  z_on: bool = False
  # Registry name (models/taml/methods); '' = the method the four flags above
  # spell (the original's interface).  A name sets the four flags to its own.
  method: str = ''
  image_size: int = 32          # 32 (cifar & co.) or 84 (mimgnet)
  n_channel: int = 32
  multi_dataset: bool = False   # omega reads s_c directly (original `s_on`)
  # The original's support-pass batch norm counts the zero-padding rows of the
  # metabatch; False excludes them (a fix, off by default to match the paper).
  bn_counts_padding: bool = True
  # Second derivative of the inner-loop batch norm (learner.bn_relu_pool):
  # 'fused' = the original graph's (its fused kernel inside tf.map_fn holds the
  # batch-norm backward constant, the papers' numbers), 'exact' = the true one.
  bn_grad: str = 'fused'
  # Pad every support set to way * max_shot rows (one static shape, for XLA);
  # otherwise to the metabatch's longest support, as the original, with the
  # row dimension left dynamic (still one trace).
  fixed_support: bool = False
  # The support pass computes each task's labelled rows plus ONE zero row
  # weighted by the padding rows it stands for (objective.weighted_support):
  # the padded pass's numbers for less work.  False computes every padding row
  # (the original's work; also what fixed_support's static shape does).
  weighted_padding: bool = True
  # --mixed_precision: the inference network computes in bfloat16; the learner
  # and its second-order inner loop always stay float32 (common/precision.py).
  encoder_dtype: str = 'float32'
  # --learner_conv_dtype=bfloat16 (opt-in, never the default): the learner's
  # convolutions and their backprops compute in bfloat16, all else in float32.
  # Faster where oneDNN has bfloat16 kernels (AMX, avx512_bf16); it moves the
  # numbers off the original's (results/bfloat16_learner.md).
  learner_conv_dtype: str = 'float32'
  # --recompute_activations: the outer backward computes each inner step's
  # block activations again instead of keeping them (learner.bn_relu_pool):
  # the same numbers, less peak memory, one (fused) or two (exact) more
  # convolutions per block and inner step.
  recompute_activations: bool = False

  def __post_init__(self):
    if self.learner_conv_dtype not in LEARNER_CONV_DTYPES:
      raise ValueError('learner_conv_dtype is one of %s, not %r'
                       % (', '.join(LEARNER_CONV_DTYPES), self.learner_conv_dtype))
    if not self.method:
      return
    if self.method not in METHODS:
      raise ValueError('unknown method %r (one of %s)' % (self.method, ', '.join(METHODS)))
    spelled = METHODS[self.method].flags()
    given = {k: getattr(self, k) for k in spelled}
    if any(given.values()) and given != spelled:
      raise ValueError('method %r is %s, not %s' % (self.method, spelled, given))
    for k, v in spelled.items():
      object.__setattr__(self, k, v)

  @property
  def algorithm(self):
    """The `methods.Method` this config runs."""
    return method_of(self.method, self.alpha_on, self.omega_on, self.gamma_on, self.z_on)

  @property
  def image_shape(self):
    return (self.image_size, self.image_size, 3)

  @property
  def balancing_on(self):
    return {name: name in self.algorithm.balancing for name in ('omega', 'gamma', 'z')}

  @property
  def max_support(self):
    """Support rows of a compiled step: way * max_shot if fixed, else dynamic."""
    return self.way * self.max_shot if self.fixed_support else None

  # Fields that change the parameters or their meaning: a checkpoint written
  # under other values cannot be restored.
  ARCHITECTURE_FIELDS = ('way', 'alpha_on', 'omega_on', 'gamma_on', 'z_on',
                         'image_size', 'n_channel', 'multi_dataset')

  def architecture(self):
    return {k: getattr(self, k) for k in self.ARCHITECTURE_FIELDS}
