"""Bayesian TAML (Lee et al. 2020): Meta-SGD plus the balancing variables, each
drawn per task from the inference network's posterior, KL to N(0, 1).

omega weighs the per-class inner losses (class imbalance), gamma scales each
layer's step (task imbalance), z modulates the initialisation (out of
distribution).  The ablations switch on one variable each.
"""
from models.taml.methods.definition import Method

TAML = Method('taml', 'Bayesian TAML: Meta-SGD with omega, gamma and z',
              learned_step_sizes=True, balancing=('omega', 'gamma', 'z'))
TAML_OMEGA = Method('taml_omega', 'Bayesian TAML with omega only (class imbalance)',
                    learned_step_sizes=True, balancing=('omega',))
TAML_GAMMA = Method('taml_gamma', 'Bayesian TAML with gamma only (task imbalance)',
                    learned_step_sizes=True, balancing=('gamma',))
TAML_Z = Method('taml_z', 'Bayesian TAML with z only (out of distribution)',
                learned_step_sizes=True, balancing=('z',))
