"""Meta-SGD (Li et al. 2017): every layer adapted, a meta-learned step per parameter."""
from models.taml.methods.definition import Method

META_SGD = Method('metasgd', 'Meta-SGD: every layer adapted, learned step sizes alpha',
                  learned_step_sizes=True)
