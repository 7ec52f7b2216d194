"""Every setting of main.py (Bayesian TAML / MAML / Meta-SGD), declared once
(common/settings.py): flag, range, TamlConfig field, and whether a resumed
meta_train (TRAIN: config.json records it) or a meta_test (TEST) must repeat it.

Names and defaults are those of the original l2b main.py, plus --data_dir,
--seed and the loop frequencies the original hard-codes.  No TensorFlow here:
main.py defines its flags from this before TensorFlow is imported.
"""
from common.runtime_flags import runtime_settings
from common.settings import TEST, TRAIN, Setting
from models.taml.config import LEARNER_CONV_DTYPES
from models.taml.methods import METHODS

BOTH = (TRAIN, TEST)

SETTINGS = (
    # --- the original's flags, same names and defaults ---
    Setting('mode', 'enum', 'meta_train', 'What to run.', choices=('meta_train', 'meta_test')),
    Setting('savedir', 'string', None, 'Run directory: logs, checkpoints, TensorBoard.'),
    Setting('save_freq', 'integer', 10000, 'Checkpoint every this many iterations.', at_least=1),
    Setting('n_train_iters', 'integer', 50000, 'Meta-training iterations.', at_least=1),
    # argparse let the original's runfiles abbreviate it; absl needs the alias.
    Setting('n_test_episodes', 'integer', 1000, 'Meta-test tasks per dataset.', at_least=1,
            aliases=('n_test_episode',)),
    Setting('id_dataset', 'string', 'cifar', 'In-distribution dataset(s), comma separated.',
            checked=BOTH),
    Setting('ood_dataset', 'string', 'svhn', 'Out-of-distribution dataset(s), comma separated.',
            checked=(TRAIN,)),
    Setting('way', 'integer', 5, 'Classes per task.', at_least=2, checked=BOTH, model_field=True),
    Setting('max_shot', 'integer', 50, 'Largest shot per class (smallest is 1).', at_least=2,
            checked=BOTH, model_field=True),
    Setting('query', 'integer', 15, 'Query images per class.', at_least=1, checked=(TRAIN,),
            model_field=True),
    Setting('n_steps', 'integer', 5, 'Inner gradient steps.', at_least=1, checked=(TRAIN,),
            model_field=True),
    Setting('inner_lr', 'float', 0.5, 'Inner step size when --alpha_on is off.', above=0,
            checked=BOTH, model_field=True),
    Setting('metabatch', 'integer', 4, 'Tasks per meta-iteration.', at_least=1,
            checked=(TRAIN,)),
    Setting('meta_lr', 'float', 1e-3, 'Outer (Adam) learning rate.', above=0, checked=(TRAIN,)),
    Setting('alpha_on', 'bool', False, 'Meta-SGD: learn a step size per parameter.',
            checked=BOTH, model_field=True),
    Setting('omega_on', 'bool', False, 'Balancing variable omega (class imbalance).',
            checked=BOTH, model_field=True),
    Setting('gamma_on', 'bool', False, 'Balancing variable gamma (task imbalance).',
            checked=BOTH, model_field=True),
    Setting('z_on', 'bool', False, 'Balancing variable z (out-of-distribution).',
            checked=BOTH, model_field=True),
    Setting('n_mc_samples', 'integer', 0, 'MC samples at meta-test (0: posterior mean).',
            at_least=0),
    # --- additions ---
    Setting('method', 'enum', None, 'Algorithm of the family (models/taml/methods): %s.  Sets '
            '--alpha_on, --omega_on, --gamma_on, --z_on to its own; unset: the method those '
            'flags spell.' % '; '.join(m.summary for m in METHODS.values()),
            choices=tuple(METHODS), checked=BOTH),
    Setting('data_dir', 'string', 'data', 'Folder holding <dataset>/{train,valid,test}.npy.'),
    Setting('seed', 'integer', 0, 'Seed of the initialisation, episodes and posterior draws.',
            at_least=0, checked=(TRAIN,)),
    Setting('val_freq', 'integer', 10000, 'Validate (and keep the best model) every this many '
            'iterations.', at_least=1, checked=(TRAIN,)),
    Setting('n_val_tasks', 'integer', 3000, 'Validation tasks per dataset.', at_least=1,
            checked=(TRAIN,)),
    Setting('log_freq', 'integer', 100, 'Log training averages every this many iterations.',
            at_least=1),
    Setting('balance_freq', 'integer', 1000, 'Print the omega / gamma tables every this many '
            'iterations.', at_least=1, checked=(TRAIN,)),
    Setting('hist_freq', 'integer', 1000, 'TensorBoard weight histograms every this many '
            'iterations (and at every validation, so short runs have them too).', at_least=1),
    Setting('episode_mode', 'enum', '1', '1: class and task imbalance, 2: class only, '
            '3: task only.', choices=('1', '2', '3'), checked=(TRAIN,)),
    Setting('bn_counts_padding', 'bool', True, 'Support batch norm counts the zero-padding '
            'rows, as the original.', checked=BOTH, model_field=True),
    Setting('bn_grad', 'enum', 'fused', "Batch norm's second derivative in the meta-gradient: "
            "'fused' = the original graph's (fused kernel in tf.map_fn: the batch-norm "
            "backward held constant; the papers' numbers), 'exact' = the true second "
            "derivative.", choices=('fused', 'exact'), checked=(TRAIN,), model_field=True),
    Setting('weighted_padding', 'bool', True, "The support pass computes each task's labelled "
            'rows and ONE of its zero-padding rows, weighted in the batch-norm statistics by the '
            'padding rows it stands for: the numbers of computing every padding row (as the '
            'original does; --noweighted_padding) for less work.  Under --jit every row is '
            'computed (one static shape).', model_field=True),
    Setting('learner_conv_dtype', 'enum', 'float32', "dtype the learner's four convolutions "
            'and their backprops compute in; bfloat16 is opt-in, faster where oneDNN has '
            'bfloat16 kernels (AMX, avx512_bf16), and moves the numbers off the '
            "original's (results/bfloat16_learner.md).  Batch norm, losses and updates stay "
            'float32.', choices=LEARNER_CONV_DTYPES, model_field=True),
    Setting('recompute_activations', 'bool', False, "The meta-gradient's backward computes "
            "each inner step's block activations (conv output, pool) again instead of keeping "
            'them from the forward: the same numbers for less peak memory (most at 84x84 with '
            "--bn_grad exact) and one (fused) or two (exact) more convolutions per block and inner "
            "step "
            '(results/speed_vs_originals.md).', model_field=True),
)
# --- devices, strategy, precision, XLA (common/runtime_flags.py) ---
RUNTIME = runtime_settings(dashed=False, recorded={'jit': 'jit_compile',
                                                   'mixed_precision': 'mixed_precision'})
ALL = SETTINGS + RUNTIME

# What a config.json written before a flag existed meant.
LEGACY_VALUES = {'bn_grad': 'exact', 'method': None}
