"""Every setting of gmvae_main.py, declared once (common/settings.py): flag, range,
default per --dataset (the originals' argparse defaults, per script), and which
runs must repeat it: a resumed Meta-GMVAE run (TRAIN), a --test-only re-test
(TEST), a resumed SimCLR run (SIMCLR); config.json records it under its
underscored name.  No TensorFlow here: gmvae_main.py defines its flags from this
before TensorFlow is imported.
"""
from common.runtime_flags import runtime_settings
from common.settings import TEST, TRAIN, Setting

SIMCLR = 'simclr'   # a resumed SimCLR run
DATASETS = ('omniglot', 'mimgnet', 'simclr')
MODEL = (TRAIN, TEST)   # defines the trained model: a --test-only run must match it


def per_dataset(name, kind, defaults, checked, at_least=1, above=None, key=None):
  """A flag whose default depends on --dataset (unset: None, filled in by gmvae_main.py)."""
  help_text = 'default: ' + ', '.join('%s %s' % (d, defaults[d]) for d in DATASETS
                                      if d in defaults)
  return Setting(name, kind, None, help_text, at_least=at_least, above=above, checked=checked,
                 key=key or name.replace('-', '_'), default_per=defaults)


SETTINGS = (
    Setting('dataset', 'enum', 'omniglot', 'omniglot: Meta-GMVAE on images; mimgnet: on SimCLR '
            'features; simclr: train the feature extractor on miniImageNet images and write '
            '*_features.npy.', choices=DATASETS, checked=MODEL + (SIMCLR,)),
    Setting('data-dir', 'string', None, 'omniglot: train/val/test.npy; mimgnet: '
            '*_features.npy; simclr: images/ + train/val/test.csv.'),
    Setting('save-dir', 'string', None, 'Checkpoints, best checkpoints, TensorBoard, config.'),
    Setting('feature-save-dir', 'string', None, 'simclr: where *_features.npy are written.'),
    per_dataset('unsupervised-em-iters', 'integer', dict(omniglot=10, mimgnet=10), MODEL,
                at_least=0),
    per_dataset('semisupervised-em-iters', 'integer', dict(omniglot=10, mimgnet=10), MODEL,
                at_least=0),
    per_dataset('hidden-size', 'integer', dict(omniglot=64, mimgnet=64, simclr=64),
                MODEL + (SIMCLR,)),
    per_dataset('latent-size', 'integer', dict(omniglot=64, mimgnet=32), MODEL),
    per_dataset('train-mc-sample-size', 'integer', dict(omniglot=32, mimgnet=256), MODEL),
    # the evaluation flags: a --test-only run may set other values than its training run had
    per_dataset('test-mc-sample-size', 'integer', dict(omniglot=32, mimgnet=256), (TRAIN,)),
    per_dataset('batch-size', 'integer', dict(omniglot=4, mimgnet=16, simclr=512),
                MODEL + (SIMCLR,)),
    per_dataset('sample-size', 'integer', dict(omniglot=300, mimgnet=5), MODEL),
    per_dataset('train-iters', 'integer', dict(omniglot=60000, mimgnet=15000), (), at_least=0),
    per_dataset('freq-iters', 'integer', dict(omniglot=1000, mimgnet=1000), MODEL),
    per_dataset('eval-episodes', 'integer', dict(omniglot=1000, mimgnet=1000), (TRAIN,)),
    per_dataset('way', 'integer', dict(omniglot=20, mimgnet=5), MODEL, at_least=2,
                key='component_size'),
    per_dataset('query', 'integer', dict(omniglot=15, mimgnet=15), (TRAIN,)),
    per_dataset('shot', 'integer', dict(mimgnet=1), MODEL),
    per_dataset('train-epochs', 'integer', dict(simclr=400), (SIMCLR,)),
    per_dataset('seed', 'integer', dict(omniglot=0, mimgnet=15, simclr=0), (TRAIN, SIMCLR),
                at_least=0),
    per_dataset('lr', 'float', dict(omniglot=1e-3, mimgnet=1e-4, simclr=1e-3),
                MODEL + (SIMCLR,), at_least=None, above=0),
    per_dataset('weight-decay', 'float', dict(omniglot=1e-6, mimgnet=5e-2), MODEL, at_least=0),
    Setting('fix-pi', 'bool', False, 'Keep the mixture weights uniform in the training EM.',
            checked=MODEL, key='fix_pi'),
    Setting('debug', 'bool', False, 'One iteration and one validation, as the originals.'),
    Setting('progress', 'bool', True, 'Progress bars on stderr (training rec/kld, validation '
            'and test accuracy; in a log file one line every $PROGRESS_INTERVAL seconds, 30).'),
    Setting('test-only', 'bool', False, 'Re-test a trained --save-dir without training: flags '
            'left unset take the run\'s config.json values, the model-defining ones must match '
            'it, the evaluation flags (--eval-episodes, --test-mc-sample-size, --query, --seed, '
            '--test-shots) may differ. Tests the newest checkpoint\'s weights, and each test '
            'shot with its best checkpoint, as the test at the end of training.'),
    Setting('test-shots', 'list', None, 'Shots of the final test (default: omniglot 1,5; '
            'mimgnet 1,5,20,50). Each uses the best checkpoint of the largest validated shot '
            '<= it (else the smallest validated shot).'),
)
# --- devices, strategy, precision, XLA (common/runtime_flags.py); the precision is
# recorded as GMVAEConfig's conv_dtype ---
RUNTIME = runtime_settings(dashed=True)
ALL = SETTINGS + RUNTIME
# the flags whose unset value is filled in from --dataset (or, --test-only, config.json)
PER_DATASET = tuple(s for s in SETTINGS if s.default_per is not None)
