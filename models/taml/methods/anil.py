"""ANIL (Raghu et al. 2020, "Rapid learning or feature reuse?"): the inner loop
adapts only the final classifier layer; the conv body is shared by every task
and learned in the outer loop only.  Fixed step --inner_lr, as MAML.

The head starts every task at zero, as the family's (models/taml/objective.py
`initial_learner`), so ANIL here adapts a zero-initialised linear head on
meta-learned features.
"""
from models.taml.methods.definition import Method

ANIL = Method('anil', 'ANIL: only the dense head adapted, fixed step --inner_lr',
              adapted=('dense',))
