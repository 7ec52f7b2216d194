"""Learning check: the ORIGINAL implementations and the port, trained on the same real data.

For each model (maml, metasgd, taml) and seed, Bayesian TAML's quickstart configuration
(Omniglot id / MNIST ood, metabatch 4, 5-way, 1..5 shots, 5 queries, 2 inner steps,
--iters meta-iterations, --test_tasks meta-test tasks) is meta-trained and meta-tested by

  * the original l2b main.py (TF 1.12 graph code), run UNMODIFIED under TF 2.x's
    tf.compat.v1 by a shim generated at run time into a temp folder (nothing of the
    original is copied here); batch norm: the fused kernel (as TF 1.12's contrib layer
    ran it; variant `orig-fused`) and, optionally, plain reductions (`orig-exact`);
  * the port's main.py with --bn_grad fused and --bn_grad exact.

The final weights are meta-tested on both sides: the original validates only every 10000
iterations, so the shim hands its meta_test a selection log naming the last checkpoint;
the port runs with --val_freq = --iters (one validation at the end, so best == last).

For Meta-GMVAE, the original omniglot trainer (PyTorch) and gmvae_main.py train on the same
Omniglot arrays (data/omniglot/get_data.py --layout gmvae) with a short configuration
(--gmvae_* flags) and report the 1-shot / 5-shot test accuracy of the final weights
(--freq-iters = --train-iters: one validation at the end).

  python results/fidelity_learning.py \\
      --l2b_src /path/l2b --l2b_python /path/tf215/bin/python \\
      --gmvae_src /path/Meta-GMVAE --gmvae_python /path/torch/bin/python

Each finished run is kept as <workdir>/raw/<run>.json and reused when the command is run
again (so a long check can be stopped and continued). The table goes to stdout and
<out>/fidelity_learning_table.md; run records to <out>/runs/ (default --out: --workdir),
or to the committed results/runs/fidelity_*.json with --record.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common.errors import ArgumentParser, UserError, run_cli  # noqa: E402
from data.download import int_at_least  # noqa: E402

TAML_MODELS = ('maml', 'metasgd', 'taml')


def taml_flags(model):
  """runfiles/quickstart_omniglot.sh's geometry (configs/taml/omniglot_<model>.flags, its
  inner steps), flags both the port and the original l2b main.py take."""
  from common.presets import preset_args, preset_values
  from training.taml_settings import ALL
  steps = preset_values(ALL, 'taml/quickstart_omniglot_train.flags')['n_steps']
  return preset_args('taml/omniglot_%s.flags' % model) + ['--n_steps=%d' % steps]


ACC_LINE = re.compile(r'^(id |ood)/(\S+) acc: ([-\d.]+) \+- ([-\d.]+)', re.M)
GMVAE_LINE = re.compile(r'(\d)shot Final Test Accuracy: ([-\d.naif]+) Confidence Interval: ([-\d.naif]+)')

# ---------------------------------------------------------------------------------------
# Shims, written to a temp folder at run time. They import and run the original files
# as they are; everything they change is around them (module table, one class attribute).
L2B_DATA = r'''
# l2b's data.Data knows neither omniglot nor mnist: a subclass reads them as it reads
# its own sets (numpy only; both the shims and the port side of fidelity_paired.py use it)
import os
import numpy as np

EXTRA_SETS = {'omniglot': ('train', 'valid', 'test'), 'mnist': ('test',)}
SPLIT_KEY = {'train': 'mtr', 'valid': 'mval', 'test': 'mte'}


def extended_data_class(base):
  class Data(base):
    def __init__(self, dataset_name):
      if dataset_name not in EXTRA_SETS:
        return super().__init__(dataset_name)
      self.dataset_name = dataset_name
      for split in EXTRA_SETS[dataset_name]:
        # allow_pickle: numpy < 1.16.3 (l2b's time) allowed object arrays by default
        x = np.load(os.path.join('data', dataset_name, split + '.npy'), encoding='bytes',
                    allow_pickle=True)
        n = [len(xx) for xx in x]
        key = SPLIT_KEY[split]
        setattr(self, 'C_' + key, len(x))
        setattr(self, 'N_' + key, n)
        setattr(self, 'x_' + key, [np.reshape(x[i], [n[i], -1]) for i in range(len(x))])

  return Data
'''

# The original l2b importable under TF 2.x (needs SRC and BN defined; cwd = the data root).
L2B_PRELUDE = r'''
import numpy as np
import tensorflow as real_tf

v1 = real_tf.compat.v1
v1.disable_v2_behavior()
v1.disable_eager_execution()
_ = v1.layers.dense, v1.layers.conv2d, v1.layers.max_pooling2d, v1.layers.flatten
import tensorflow_probability as tfp


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               activation_fn=None, is_training=True, reuse=None, scope=None, **unused):
  assert center and not scale and is_training is True and not unused, unused
  with v1.variable_scope(scope, 'BatchNorm', [inputs], reuse=reuse):
    inputs = v1.convert_to_tensor(inputs)
    channels = inputs.shape[-1]
    beta = v1.get_variable('beta', [channels], initializer=v1.zeros_initializer(),
                           trainable=True)
    if BN == 'fused':
      gamma = v1.constant(1.0, shape=[channels])
      outputs, _, _ = v1.nn.fused_batch_norm(inputs, gamma, beta, epsilon=epsilon,
                                             data_format='NHWC', is_training=True)
    else:
      mean = v1.reduce_mean(inputs, [0, 1, 2])
      var = v1.reduce_mean(v1.square(inputs - mean), [0, 1, 2])
      outputs = (inputs - mean) * v1.rsqrt(var + epsilon) + beta
  return activation_fn(outputs) if activation_fn is not None else outputs


class TFProxy(types.ModuleType):
  def __getattr__(self, name):
    return getattr(v1, name)


proxy = TFProxy('tensorflow')
proxy.contrib = types.SimpleNamespace(layers=types.SimpleNamespace(batch_norm=batch_norm))
proxy.distributions = types.SimpleNamespace(Normal=tfp.distributions.Normal,
                                            kl_divergence=tfp.distributions.kl_divergence)
proxy.__version__ = real_tf.__version__
sys.modules['tensorflow'] = proxy
sys.path.insert(0, SRC)

import data as orig_data    # the original data.py
import model as orig_model  # the original model.py
''' + L2B_DATA + r'''
Data = extended_data_class(orig_data.Data)
orig_data.Data = Data
GEOMETRY_OF = {'omniglot': 'cifar'}   # 32x32x3 images
_init = orig_model.LearningToBalance.__init__


def init(self, args):
  if args.id_dataset[0] in GEOMETRY_OF:
    args = copy.copy(args)
    args.id_dataset = [GEOMETRY_OF[args.id_dataset[0]]] + list(args.id_dataset[1:])
  _init(self, args)


orig_model.LearningToBalance.__init__ = init
'''

L2B_SHIM = r'''
"""Run the original l2b main.py unmodified under tf.compat.v1 (generated by fidelity_learning.py).

usage: python l2b_shim.py SRC DATA_ROOT BN SEED -- <original main.py flags>
Around the original (nothing inside it is edited):
  * sys.modules['tensorflow'] = proxy of tf.compat.v1 (v2 behaviour off) with
    contrib.layers.batch_norm = batch norm in training mode, offset only, epsilon 1e-3:
    BN=fused: FusedBatchNormV3 (what TF 1.12's contrib layer ran), BN=exact: plain
    mean / variance reductions; distributions = tensorflow_probability's.
  * data.Data: a subclass registers 'omniglot' (train/valid/test) and 'mnist' (test) and
    reads them as the original reads its sets (data/<name>/<split>.npy, one array per class,
    reshaped to rows; object arrays allowed, numpy's default before 1.16.3); every other
    name goes to the original __init__. generate_episode is
    the original's.
  * model.LearningToBalance.__init__ (and so the encoder) is given id_dataset 'cifar' in place
    of 'omniglot': the 32x32x3 geometry of the 4-block conv net; nothing else reads that name.
  * numpy's global generator and the graph-level TF seed are set to SEED.
The working directory is DATA_ROOT (the original reads ./data/<name>/).
"""
import copy
import os
import runpy
import sys
import types

SRC, DATA_ROOT, BN, SEED = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
assert sys.argv[5] == '--'
ARGV = sys.argv[6:]

''' + L2B_PRELUDE + r'''
np.random.seed(SEED)
v1.set_random_seed(SEED)
os.chdir(DATA_ROOT)
sys.argv = [os.path.join(SRC, 'main.py')] + ARGV
runpy.run_path(os.path.join(SRC, 'main.py'), run_name='__main__')
'''

GMVAE_SHIM = r'''
"""Run the original Meta-GMVAE omniglot/main.py unmodified (generated by fidelity_learning.py).

usage: python gmvae_shim.py SRC_OMNIGLOT SEED -- <original main.py flags>
Around the original: torchvision is stubbed (imported by trainer.py, never used); numpy's
global generator and torch's are seeded with SEED (the original seeds nothing); torch.load
defaults to weights_only=False as before torch 2.6 (the original's best-model files hold a
numpy scalar; the only files loaded are the ones this run has just written).
"""
import os
import sys
import types

SRC, SEED = sys.argv[1], int(sys.argv[2])
assert sys.argv[3] == '--'
sys.argv = [os.path.join(SRC, 'main.py')] + sys.argv[4:]
sys.path.insert(0, SRC)
sys.modules['torchvision'] = types.ModuleType('torchvision')
import numpy as np
import torch
np.random.seed(SEED)
torch.manual_seed(SEED)
_load = torch.load


def load(*args, **kwargs):
  kwargs.setdefault('weights_only', False)
  return _load(*args, **kwargs)


torch.load = load
path = os.path.join(SRC, 'main.py')
exec(compile(open(path).read(), path, 'exec'), {'__name__': '__main__'})
'''

# selection log for the original meta_test: the parsing in its meta_test() reads the
# iteration from the line two above a 'val' line; the accuracies are irrelevant (one entry)
SELECTION_LOG = ('\nIter %d start (selection stub written by fidelity_learning.py: no '
                 'validation ran, meta-test the final weights)\n'
                 'train: final checkpoint\n'
                 'val  : cent 0.0000, kl 0.0000, id_acc 0.0000, ood_acc 0.0000\n')


def run(cmd, log_path, env=None, cwd=REPO):
  """Run `cmd`, output to `log_path`; its text. UserError naming the log when it fails."""
  print('$ ' + ' '.join(cmd), flush=True)
  with open(log_path, 'a') as log:
    log.write('$ %s\n' % ' '.join(cmd))
    log.flush()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **(env or {})))
    log.write(proc.stdout)
  if proc.returncode:
    sys.stderr.write(proc.stdout[-3000:])
    raise UserError('%s exited with %d (full output: %s)' % (cmd[1], proc.returncode, log_path))
  return proc.stdout


def taml_accuracies(text):
  acc = {}
  for flag, name, mean, ci in ACC_LINE.findall(text):
    acc[flag.strip()] = (float(mean), float(ci), name)
  if set(acc) != {'id', 'ood'}:
    raise UserError('no "id /... acc:" and "ood/... acc:" lines in the meta-test output')
  return acc


def taml_runs(a, shim_dir, data_root):
  """(name, fn) for every TAML run of the check; fn() -> result dict."""
  jobs = []
  for model in a.models:
    for seed in a.seeds:
      for variant in a.variants:
        jobs.append(('taml_%s_%s_s%d' % (model, variant, seed),
                     lambda m=model, v=variant, s=seed: taml_one(a, shim_dir, data_root, m, v, s),
                     dict(system='taml', model=model, variant=variant, seed=seed)))
  return jobs


def taml_one(a, shim_dir, data_root, model, variant, seed):
  base = os.path.join(a.workdir, 'taml', '%s_%s_s%d' % (model, variant, seed))
  if os.path.isdir(base):
    subprocess.run(['rm', '-rf', base], check=True)
  os.makedirs(base)
  log = os.path.join(base, 'output.log')
  flags = taml_flags(model)
  n, t = str(a.iters), str(a.test_tasks)
  if variant.startswith('orig-'):
    shim = [a.l2b_python, os.path.join(shim_dir, 'l2b_shim.py'), a.l2b_src, data_root,
            variant[len('orig-'):], str(seed), '--']
    train_dir, test_dir = os.path.join(base, 'train'), os.path.join(base, 'test')
    train = shim + ['--mode', 'meta_train', '--savedir', train_dir, '--gpu_id', '0',
                    '--n_train_iters', n, '--save_freq', n] + flags
    test = shim + ['--mode', 'meta_test', '--savedir', test_dir, '--gpu_id', '0',
                   '--n_test_episodes', t] + flags
    t0 = time.time()
    run(train, log)
    train_s = time.time() - t0
    os.makedirs(test_dir)
    for f in os.listdir(train_dir):
      if f.startswith('model-%d.' % a.iters):
        os.symlink(os.path.join(train_dir, f), os.path.join(test_dir, f))
    with open(os.path.join(test_dir, 'train.log'), 'w') as fh:
      fh.write(SELECTION_LOG % a.iters)
    t0 = time.time()
    out = run(test, log)
  else:
    bn_grad, _, dtype = variant[len('port-'):].partition('-')
    common = ['--savedir', base + '/run', '--data_dir', os.path.join(data_root, 'data'),
              '--seed', str(seed), '--bn_grad', bn_grad] + flags
    common += ['--learner_conv_dtype', 'bfloat16'] * (dtype == 'bf16')
    train = [a.port_python, 'main.py', '--mode', 'meta_train', *common, '--n_train_iters', n,
             '--val_freq', n, '--save_freq', n, '--n_val_tasks', '4', '--log_freq', '50']
    test = [a.port_python, 'main.py', '--mode', 'meta_test', *common, '--n_test_episodes', t]
    t0 = time.time()
    run(train, log)
    train_s = time.time() - t0
    t0 = time.time()
    out = run(test, log)
  test_s = time.time() - t0
  acc = taml_accuracies(out)
  return dict(id_acc=acc['id'][0], id_ci95=acc['id'][1], id_set=acc['id'][2],
              ood_acc=acc['ood'][0], ood_ci95=acc['ood'][1], ood_set=acc['ood'][2],
              train_s=round(train_s, 1), test_s=round(test_s, 1),
              commands=[' '.join(train), ' '.join(test)])


def gmvae_flags(a):
  return ['--way', str(a.gmvae_way), '--sample-size', str(a.gmvae_sample_size),
          '--batch-size', str(a.gmvae_batch_size),
          '--train-mc-sample-size', str(a.gmvae_mc), '--test-mc-sample-size', str(a.gmvae_mc),
          '--train-iters', str(a.gmvae_iters), '--freq-iters', str(a.gmvae_iters),
          '--eval-episodes', str(a.gmvae_eval_episodes)]


def gmvae_runs(a, shim_dir, data_dir):
  jobs = []
  for seed in a.seeds:
    for variant in ('orig', 'port'):
      jobs.append(('gmvae_%s_s%d' % (variant, seed),
                   lambda v=variant, s=seed: gmvae_one(a, shim_dir, data_dir, v, s),
                   dict(system='gmvae', model='gmvae', variant=variant, seed=seed)))
  return jobs


def gmvae_one(a, shim_dir, data_dir, variant, seed):
  base = os.path.join(a.workdir, 'gmvae', '%s_s%d' % (variant, seed))
  if os.path.isdir(base):
    subprocess.run(['rm', '-rf', base], check=True)
  os.makedirs(base)
  log = os.path.join(base, 'output.log')
  if variant == 'orig':
    cmd = [a.gmvae_python, os.path.join(shim_dir, 'gmvae_shim.py'),
           os.path.join(a.gmvae_src, 'omniglot'), str(seed), '--',
           '--data-dir', data_dir, '--save-dir', base + '/run', '--gpu-id', '0'] + gmvae_flags(a)
  else:
    cmd = [a.port_python, 'gmvae_main.py', '--dataset', 'omniglot', '--data-dir', data_dir,
           '--save-dir', base + '/run', '--seed', str(seed), '--noprogress'] + gmvae_flags(a)
  t0 = time.time()
  out = run(cmd, log)
  wall = time.time() - t0
  acc = {int(k): (float(m), float(c)) for k, m, c in GMVAE_LINE.findall(out)}
  if set(acc) != {1, 5}:
    raise UserError('no "1shot/5shot Final Test Accuracy" lines in the output (%s)' % log)
  # both print the accuracy as a fraction; percent here, like the TAML numbers
  return dict(id_acc=100 * acc[1][0], id_ci95=100 * acc[1][1], id_set='1-shot',
              ood_acc=100 * acc[5][0], ood_ci95=100 * acc[5][1], ood_set='5-shot',
              train_s=round(wall, 1), test_s=0.0, commands=[' '.join(cmd)])


def summarize(values, cis):
  import numpy as np
  v = np.asarray(values, float)
  if len(v) == 1:
    return '%.2f (1 seed; +- %.2f over tasks)' % (v[0], cis[0])
  return '%.2f +- %.2f (sd)' % (v.mean(), v.std(ddof=1))


def table(results, a):
  groups = {}
  for meta, res in results:
    groups.setdefault((meta['system'], meta['model'], meta['variant']), []).append((meta, res))
  lines = ['| system | model | variant | seeds | id acc / 1-shot | ood acc / 5-shot | '
           'train+test s per run |', '|---|---|---|---|---|---|---|']
  for (system, model, variant), rows in groups.items():
    seeds = ','.join(str(m['seed']) for m, _ in rows)
    lines.append('| %s | %s | %s | %s | %s | %s | %.0f |' % (
        system, model, variant, seeds,
        summarize([r['id_acc'] for _, r in rows], [r['id_ci95'] for _, r in rows]),
        summarize([r['ood_acc'] for _, r in rows], [r['ood_ci95'] for _, r in rows]),
        sum(r['train_s'] + r['test_s'] for _, r in rows) / len(rows)))
  return lines, groups


def write_records(groups, a, records_dir):
  from results.records import write_record
  for (system, model, variant), rows in groups.items():
    if system == 'taml':
      setting = ('Omniglot id / MNIST ood, quickstart_omniglot.sh geometry, %d meta-iterations, '
                 '%d test tasks, final weights' % (a.iters, a.test_tasks))
      metrics = (('id acc', 'id_acc', 'id'), ('ood acc', 'ood_acc', 'ood'))
    else:
      setting = ('Omniglot %d-way, %s, final weights' % (a.gmvae_way, ' '.join(gmvae_flags(a))))
      metrics = (('1-shot acc', 'id_acc', '1shot'), ('5-shot acc', 'ood_acc', '5shot'))
    for metric, key, slug in metrics:
      name = 'fidelity_%s_%s_%s_%s.json' % (system, model, variant, slug)
      write_record(os.path.join(records_dir, name), system=system,
                   table='Learning check: original vs port', row='%s %s' % (model, variant),
                   setting=setting, metric=metric, values=[r[key] for _, r in rows],
                   seeds=[m['seed'] for m, _ in rows],
                   ci95=rows[0][1][key.replace('acc', 'ci95')] if len(rows) == 1 else None,
                   command=' '.join(sys.argv),
                   wall_time_s=sum(r['train_s'] + r['test_s'] for _, r in rows),
                   note='per run: ' + ' ;; '.join(short(' && '.join(r['commands']), a)
                                                  for _, r in rows))


def short(text, a):
  """`text` without this machine's folders: <shims>/, <workdir>/, repository-relative."""
  text = re.sub(r'\S*fidelity_shims_\w+', '<shims>', text)   # any run's temp folder
  for path, name in ((a.workdir, '<workdir>'), (REPO + os.sep, '')):
    text = text.replace(path, name)
  return text


def csv_list(kind, allowed=None):
  def parse(s):
    items = [kind(x) for x in s.split(',') if x.strip()]
    if not items or (allowed and any(x not in allowed for x in items)):
      raise ValueError(s)
    return items
  return parse


def omniglot_archives(a):
  for name in ('omniglot', 'mnist'):
    if not os.path.isdir(os.path.join(a.shared, name)):
      raise UserError('--shared %s has no %s/ folder (the real archives)' % (a.shared, name))
  om = os.path.join(a.shared, 'omniglot')
  return [os.path.join(om, 'images_background.npz'), os.path.join(om, 'images_evaluation.npz')]


def prepare_taml_data(a, python):
  """Omniglot (id) and MNIST (ood) as l2b reads its sets, made once by the port's get_data.py
  (run by `python`) from --shared; returns the data root (<root>/data/<name>/*.npy)."""
  archives = omniglot_archives(a)
  data = os.path.join(a.workdir, 'data_root', 'data')
  os.makedirs(data, exist_ok=True)
  log = os.path.join(a.workdir, 'data.log')
  if not os.path.isfile(os.path.join(data, 'omniglot', 'test.npy')):
    run([python, 'data/omniglot/get_data.py', '--out', os.path.join(data, 'omniglot'),
         '--source', *archives], log)
  if not os.path.isfile(os.path.join(data, 'mnist', 'test.npy')):
    run([python, 'data/mnist/get_data.py', '--out', os.path.join(data, 'mnist'),
         '--source', os.path.join(a.shared, 'mnist')], log)
  return os.path.dirname(data)


def main(argv=None):
  p = ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--systems', type=csv_list(str, ('taml', 'gmvae')), default=['taml', 'gmvae'])
  p.add_argument('--models', type=csv_list(str, tuple(TAML_MODELS)), default=list(TAML_MODELS))
  p.add_argument('--seeds', type=csv_list(int), default=[0, 1, 2])
  p.add_argument('--variants', type=csv_list(str, ('orig-fused', 'orig-exact', 'port-fused',
                                                   'port-exact', 'port-fused-bf16')),
                 default=['orig-fused', 'orig-exact', 'port-fused', 'port-exact'],
                 help='TAML variants: the original with the fused / exact batch norm, the port '
                      'with --bn_grad fused / exact; port-fused-bf16: fused with '
                      '--learner_conv_dtype bfloat16 (opt-in, not in the default set)')
  p.add_argument('--iters', type=int_at_least(1), default=300, help='TAML meta-iterations')
  p.add_argument('--test_tasks', type=int_at_least(4), default=200, help='TAML meta-test tasks')
  p.add_argument('--gmvae_iters', type=int_at_least(1), default=200)
  p.add_argument('--gmvae_way', type=int_at_least(2), default=5)
  p.add_argument('--gmvae_sample_size', type=int_at_least(1), default=50,
                 help='images per unsupervised task (the original README: 200 for 5-way; '
                      '50 keeps a run at minutes on 2 CPU cores)')
  p.add_argument('--gmvae_batch_size', type=int_at_least(1), default=4)
  p.add_argument('--gmvae_mc', type=int_at_least(1), default=4,
                 help='train and test MC sample size (the original default, 32, costs ~8x)')
  p.add_argument('--gmvae_eval_episodes', type=int_at_least(1), default=200)
  p.add_argument('--l2b_src', default=os.environ.get('L2B_SRC'))
  p.add_argument('--l2b_python', default=os.environ.get('L2B_PYTHON'))
  p.add_argument('--gmvae_src', default=os.environ.get('GMVAE_SRC'))
  p.add_argument('--gmvae_python', default=os.environ.get('GMVAE_PYTHON'))
  p.add_argument('--port_python', default=sys.executable)
  p.add_argument('--shared', default=os.environ.get('SHARED_DATASETS') or os.path.join(
      REPO, '..', 'shared', 'datasets'))
  p.add_argument('--workdir', default=os.path.join(REPO, 'results', 'quickstart',
                                                   'fidelity_learning'))
  p.add_argument('--out', default=None, help='table and run records (default: --workdir)')
  p.add_argument('--record', action='store_true',
                 help='write the run records to the committed results/runs/fidelity_*.json')
  p.add_argument('--fresh', action='store_true', help='rerun runs already in <workdir>/raw/')
  a = p.parse_args(argv)
  if a.record and a.out:
    raise UserError('--record writes results/runs/; drop --out')
  a.workdir = os.path.abspath(a.workdir)
  out = os.path.abspath(a.out or a.workdir)
  records_dir = os.path.join(REPO, 'results', 'runs') if a.record else os.path.join(out, 'runs')
  if 'taml' in a.systems and any(v.startswith('orig-') for v in a.variants):
    if not (a.l2b_src and os.path.isfile(os.path.join(a.l2b_src, 'main.py'))):
      raise UserError('--l2b_src must be a folder with the original l2b main.py')
    if not a.l2b_python:
      raise UserError('--l2b_python: a Python with tensorflow 2.x and tensorflow-probability')
    a.l2b_src = os.path.abspath(a.l2b_src)
  if 'gmvae' in a.systems:
    if not (a.gmvae_src and os.path.isfile(os.path.join(a.gmvae_src, 'omniglot', 'main.py'))):
      raise UserError('--gmvae_src must be the original Meta-GMVAE folder (with omniglot/main.py)')
    if not a.gmvae_python:
      raise UserError('--gmvae_python: a Python with torch, numpy, tqdm, tensorboard')
    a.gmvae_src = os.path.abspath(a.gmvae_src)
  if ('taml' in a.systems and 'taml' in a.models and a.iters >= 1000
      and any(v.startswith('orig-') for v in a.variants)):
    raise UserError('--iters %d: from iteration 1000 on, the original TAML prints its balancing '
                    'variables on OOD validation tasks, and MNIST has no validation split; '
                    'keep --iters below 1000' % a.iters)
  data_root = prepare_taml_data(a, a.port_python) if 'taml' in a.systems else None
  gmvae_data = os.path.join(a.workdir, 'omniglot_gmvae')
  if 'gmvae' in a.systems and not os.path.isfile(os.path.join(gmvae_data, 'test.npy')):
    run([a.port_python, 'data/omniglot/get_data.py', '--layout', 'gmvae', '--out', gmvae_data,
         '--source', *omniglot_archives(a)], os.path.join(a.workdir, 'data.log'))

  shim_dir = tempfile.mkdtemp(prefix='fidelity_shims_')
  for name, text in (('l2b_shim.py', L2B_SHIM), ('gmvae_shim.py', GMVAE_SHIM)):
    with open(os.path.join(shim_dir, name), 'w') as fh:
      fh.write(text)
  jobs = (taml_runs(a, shim_dir, data_root) if 'taml' in a.systems else []) \
      + (gmvae_runs(a, shim_dir, gmvae_data) if 'gmvae' in a.systems else [])
  raw = os.path.join(a.workdir, 'raw')
  os.makedirs(raw, exist_ok=True)
  config = dict(iters=a.iters, test_tasks=a.test_tasks, gmvae=gmvae_flags(a))
  results = []
  for k, (name, fn, meta) in enumerate(jobs):
    path = os.path.join(raw, name + '.json')
    if os.path.isfile(path) and not a.fresh:
      with open(path) as fh:
        rec = json.load(fh)
      if rec.get('config') == config:
        print('[%d/%d] %s: kept from %s' % (k + 1, len(jobs), name, path), flush=True)
        results.append((meta, rec['result']))
        continue
    print('[%d/%d] %s' % (k + 1, len(jobs), name), flush=True)
    res = fn()
    print('  id/1-shot %.2f  ood/5-shot %.2f  (%.0f s)' % (
        res['id_acc'], res['ood_acc'], res['train_s'] + res['test_s']), flush=True)
    with open(path + '.tmp', 'w') as fh:
      json.dump(dict(config=config, meta=meta, result=res), fh, indent=1)
    os.replace(path + '.tmp', path)
    results.append((meta, res))

  lines, groups = table(results, a)
  head = ' '.join(
      (['TAML: Omniglot id / MNIST ood, quickstart geometry, %d meta-iterations, %d test tasks.'
        % (a.iters, a.test_tasks)] if 'taml' in a.systems else [])
      + (['GMVAE: Omniglot, %s.' % ' '.join(gmvae_flags(a))] if 'gmvae' in a.systems else [])
      + ['Accuracies in %, final weights; mean +- sd over seeds.'])
  print('\n' + head + '\n\n' + '\n'.join(lines))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'fidelity_learning_table.md'), 'w') as fh:
    fh.write(head + '\n\n' + '\n'.join(lines) + '\n\nCommand: python ' + ' '.join(
        [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]) + '\n')
  write_records(groups, a, records_dir)
  print('wrote %s and run records in %s' % (os.path.join(out, 'fidelity_learning_table.md'),
                                             records_dir))


if __name__ == '__main__':
  run_cli(main)
