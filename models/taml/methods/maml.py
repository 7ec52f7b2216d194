"""MAML (Finn et al. 2017): every layer adapted with the fixed step --inner_lr."""
from models.taml.methods.definition import Method

MAML = Method('maml', 'MAML: every layer adapted, fixed step --inner_lr')
