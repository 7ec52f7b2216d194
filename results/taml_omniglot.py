"""MAML, Meta-SGD and Bayesian TAML on real Omniglot (id) / MNIST (ood), on CPU.

Prepares the arrays from the real archives (../shared/datasets), meta-trains
each model with the same geometry and seed, meta-tests, and writes the table
with the exact commands, commit and machine to --out (default
<workdir>/taml_omniglot.md) and one run record per model and metric to runs/
beside it (see results/report.py).  The committed results/taml_omniglot.md and
results/runs/taml_omniglot_*.json are written only with --record.

  python results/taml_omniglot.py --iters 1000 --record
"""
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common.errors import ArgumentParser, UserError, run_cli  # noqa: E402
from common.presets import preset_path  # noqa: E402
from data.download import int_at_least  # noqa: E402
from results.records import write_record  # noqa: E402

# method -> its display name (the committed records' row names and file slugs)
METHODS = {'maml': 'MAML', 'metasgd': 'Meta-SGD', 'taml': 'Bayesian TAML'}


def run(cmd):
  print('$', ' '.join(cmd), flush=True)
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  if proc.returncode:
    sys.stderr.write(proc.stderr)
    raise UserError('%s failed (its error is above)' % ' '.join(cmd[1:2]))
  return proc.stdout


def write_records(records_dir, name, slug, acc, a, train_s):
  """One run record per metric (id: Omniglot, ood: MNIST) for results/README.md."""
  for metric, key in (('id acc', 'id /omniglot'), ('ood acc', 'ood/mnist')):
    mean, ci95 = (float(x) for x in acc[key].split('+-'))
    write_record(os.path.join(records_dir, 'taml_omniglot_%s_%s.json'
                              % (slug, metric.split()[0])),
                 system='taml', table='TAML on Omniglot/MNIST (short run)', row=name,
                 setting='Omniglot id / MNIST ood, 5-way, 1..5 shots, 5 queries, '
                         '%d meta-iterations' % a.iters,
                 metric=metric, values=[mean], seeds=[0], ci95=ci95,
                 command='python results/taml_omniglot.py --iters %d --test_episodes %d '
                         '--record' % (a.iters, a.test_episodes),
                 wall_time_s=round(train_s, 1),
                 note='wall time: meta-train only. Meta-test: 10 inner steps (TAML: 10 MC '
                      'samples), interval over %d test tasks.' % a.test_episodes)


def main(argv=None):
  p = ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--iters', type=int_at_least(2), default=1000)
  p.add_argument('--test_episodes', type=int_at_least(1), default=600)
  p.add_argument('--shared', default=os.environ.get('SHARED_DATASETS') or os.path.join(
      REPO, '..', 'shared', 'datasets'))
  p.add_argument('--workdir', default=os.path.join(REPO, 'results', 'quickstart', 'omniglot_table'))
  p.add_argument('--out', default=None, help='markdown table (default <workdir>/taml_omniglot.md); '
                 'the run records go to runs/ beside it')
  p.add_argument('--record', action='store_true', help='update the committed '
                 'results/taml_omniglot.md and results/runs/taml_omniglot_*.json instead')
  a = p.parse_args(argv)
  if a.record and a.out:
    raise UserError('--record writes the committed results/taml_omniglot.md; drop --out')
  out = (os.path.join(REPO, 'results', 'taml_omniglot.md') if a.record
         else a.out or os.path.join(a.workdir, 'taml_omniglot.md'))
  records_dir = os.path.join(os.path.dirname(os.path.abspath(out)), 'runs')
  for name in ('omniglot', 'mnist'):
    if not os.path.isdir(os.path.join(a.shared, name)):
      raise UserError('--shared %s has no %s/ folder (the real archives; see '
                      '../shared/datasets/PROVENANCE.md)' % (a.shared, name))
  data = os.path.join(a.workdir, 'data')
  om = os.path.join(a.shared, 'omniglot')
  run([sys.executable, 'data/omniglot/get_data.py', '--out', os.path.join(data, 'omniglot'), '--source',
       os.path.join(om, 'images_background.npz'), os.path.join(om, 'images_evaluation.npz')])
  run([sys.executable, 'data/mnist/get_data.py', '--out', os.path.join(data, 'mnist'),
       '--source', os.path.join(a.shared, 'mnist')])
  rows, commands = [], []
  for method, name in METHODS.items():
    # datasets, geometry and method: configs/taml/omniglot_<method>.flags
    geometry = ['--data_dir', data, '--flagfile=%s' % os.path.relpath(
        preset_path('taml/omniglot_%s.flags' % method), REPO), '--seed', '0']
    slug = name.replace(' ', '_').lower()
    savedir = os.path.join(a.workdir, slug)
    train = [sys.executable, 'main.py', '--mode', 'meta_train', '--savedir', savedir, *geometry,
             '--n_steps', '5', '--n_train_iters', str(a.iters), '--val_freq', str(a.iters // 2),
             '--save_freq', str(a.iters // 2), '--n_val_tasks', '200', '--log_freq', '100']
    mc = ['--n_mc_samples', '10'] if method == 'taml' else []
    test = [sys.executable, 'main.py', '--mode', 'meta_test', '--savedir', savedir, *geometry,
            '--n_steps', '10', '--n_test_episodes', str(a.test_episodes), *mc]
    t = time.time()
    run(train)
    train_s = time.time() - t
    out = run(test)
    acc = {l.split(' acc: ')[0].strip(): l.split(' acc: ')[1] for l in out.splitlines() if ' acc: ' in l}
    rows.append('| %s | %s | %s | %.0f |' % (name, acc['id /omniglot'], acc['ood/mnist'], train_s))
    write_records(records_dir, name, slug, acc, a, train_s)
    commands += ['    python ' + ' '.join(train[1:]).replace(REPO + os.sep, ''),
                 '    python ' + ' '.join(test[1:]).replace(REPO + os.sep, '')]
  commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w') as fh:
    fh.write('# Omniglot (id) / MNIST (ood), 5-way, 1..5 shots, 5 queries: %d meta-iterations\n\n' % a.iters)
    fh.write('Made with `python results/taml_omniglot.py --iters %d --test_episodes %d --record` at commit %s on %s '
             '(%d CPU cores, no GPU). Meta-train 5 inner steps, meta-test 10 (TAML: 10 MC samples); '
             'accuracy in %% over %d test tasks, +- 95%% interval. A short run, not the papers\' protocol '
             '(their CIFAR/miniImageNet archives are not available offline here).\n\n'
             % (a.iters, a.test_episodes, commit, platform.processor() or platform.machine(),
                os.cpu_count(), a.test_episodes))
    fh.write('| model | id: Omniglot | ood: MNIST | meta-train wall time (s) |\n|---|---|---|---|\n')
    fh.write('\n'.join(rows) + '\n\nCommands:\n\n' + '\n'.join(commands) + '\n')
  print('\n'.join(rows))
  print('wrote %s and the run records in %s' % (out, records_dir))


if __name__ == '__main__':
  run_cli(main)
