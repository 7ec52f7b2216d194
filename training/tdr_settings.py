"""Every setting of tdr_main.py, declared once (common/settings.py): flag, range,
and whether a resumed run must repeat it (TRAIN: config.json records it under
the flag's name).  The original main.py's dashed names and defaults, plus the
port's extras.  No TensorFlow here: tdr_main.py defines its flags from this
before TensorFlow is imported.
"""
from common.runtime_flags import runtime_settings
from common.settings import TRAIN, Setting

R = (TRAIN,)   # a resumed run must repeat it

SETTINGS = (
    Setting('data-dir', 'string', None, 'Folder with train/validation/test.tfrecords.'),
    Setting('job-dir', 'string', None, 'Folder for checkpoints, TensorBoard logs, metrics.'),
    Setting('num-gpus', 'integer', 1, 'GPUs to use (0: CPU; >1: MirroredStrategy).', at_least=0),
    Setting('num-layers', 'integer', 20, 'ResNet size, 6n+2.', at_least=1, checked=R),
    Setting('train-steps', 'integer', 8000, 'Training steps.', at_least=1),
    Setting('train-batch-size', 'integer', 50, 'Training batch size (global).', at_least=1,
            checked=R),
    Setting('eval-batch-size', 'integer', 50, 'Test batch size.', at_least=1),
    Setting('momentum', 'float', 0.9, 'Momentum of the base optimizer.', at_least=0, below=1,
            checked=R),
    Setting('weight-decay', 'float', 2e-3, 'Weight decay (on every trainable weight).',
            at_least=0, checked=R),
    Setting('learning-rate', 'float', 0.01, 'Initial learning rate (x0.1 at epochs 91, '
            '136, 182); also the look-ahead step size.', above=0, checked=R),
    Setting('use-distortion-for-training', 'bool', True, 'CIFAR train augmentation.',
            checked=R),
    Setting('num-intra-threads', 'integer', 0, 'Intra-op threads (0: TensorFlow picks).',
            at_least=0),
    Setting('data-format', 'string', None, 'Accepted for compatibility; the port always '
            'runs channels_last (same math).'),
    Setting('log-device-placement', 'bool', False, 'Log device placement.'),
    Setting('batch-norm-decay', 'float', 0.997, 'Batch-norm moving-average momentum.',
            at_least=0, below=1, checked=R),
    Setting('batch-norm-epsilon', 'float', 1e-5, 'Batch-norm epsilon.', above=0, checked=R),
    Setting('dataset', 'enum', 'mnist', 'Dataset.', choices=('mnist', 'cifar10', 'cifar100'),
            checked=R),
    Setting('num-class', 'integer', 2, 'Number of classes in the dataset.', at_least=2,
            checked=R),
    Setting('version', 'enum', 'v1', 'ResNet version.', choices=('v1', 'v2', 'bv1', 'bv2'),
            checked=R),
    Setting('eval', 'bool', False, 'Evaluate on the test set every --eval-freq steps.'),
    Setting('eval-freq', 'integer', 1000, 'Steps between checkpoints / evaluations.',
            at_least=1),
    Setting('log-freq', 'integer', 100, 'Steps between training logs.', at_least=1),
    Setting('num-training-samples', 'integer', None, 'Training set size (default: '
            'counted from train.tfrecords); sets the epoch length.', at_least=1),
    Setting('model', 'enum', None, 'Model (default: lenet for mnist, resnet otherwise, as '
            'the original).', choices=('lenet', 'convnet', 'resnet')),
    Setting('validation-batch-size', 'integer', 10, 'Target (validation) batch size.',
            at_least=1, checked=R),
    Setting('class-weight-freq', 'integer', 10, 'Steps between class-weight updates.',
            at_least=1, checked=R),
    Setting('no-reweight', 'bool', False, 'Baseline: keep the class weights at 1/C.',
            checked=R),
    Setting('seed', 'integer', 0, 'Seed of initialisation and data order.', at_least=0,
            checked=R),
    Setting('fused-batch-norm', 'bool', True, 'Base steps run batch norm with TF\'s fused '
            'kernel (the original\'s values and gradients up to float32 rounding, ~25 % '
            'faster per ResNet-20 base step); --nofused-batch-norm: the original\'s op-by-op '
            'formulation there too. The class-weight update always uses the latter.'),
    Setting('train-shuffle', 'enum', 'epoch', 'epoch: a fresh order each pass over '
            'train.tfrecords (buffer 10000); original: the file repeated in order through a '
            'shuffle buffer of 3 x batch, as the original input_fn.',
            choices=('epoch', 'original'), checked=R),
    Setting('target-order', 'enum', 'balanced', 'Target batches: balanced: cycling through '
            'the classes; original: validation.tfrecords repeated through a 3 x batch '
            'shuffle buffer, as the original.', choices=('balanced', 'original'), checked=R),
    Setting('target-distortion', 'bool', False, 'Augment the CIFAR target batches like the '
            'train batches (with --use-distortion-for-training), as the original did.',
            checked=R),
    Setting('drop-logged-batches', 'bool', False, 'Also draw and drop, at every --log-freq '
            'step, the batches the original\'s logging drew there (its class-weight hook ran '
            'the update a second time to print the weights; its logging hook fetched the '
            'target loss), so that with --train-shuffle original every update and step gets '
            'the batch from the same place of the stream as in the original. config.json '
            'records it as logged-draws (the period, 0: off).'),
    Setting('eval-examples', 'integer', 0, '0: evaluate on the whole test set once; N: on '
            'N // eval-batch-size batches of the shuffled, repeated test set (the '
            'original: 2000).', lower_bound=0),
    Setting('progress', 'bool', True, 'Progress bars on stderr (training, evaluation; in a '
            'log file one line every $PROGRESS_INTERVAL seconds, 30).'),
)
# --- devices, strategy, precision, XLA (common/runtime_flags.py) ---
RUNTIME = runtime_settings(dashed=True, recorded={'jit': 'jit',
                                                  'mixed_precision': 'mixed-precision'})
ALL = SETTINGS + RUNTIME
