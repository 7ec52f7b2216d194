"""MAML, Meta-SGD and Bayesian TAML on real Omniglot (id) / MNIST (ood), on CPU.

Prepares the arrays from the real archives (../shared/datasets), meta-trains
each model with the same geometry and seed, meta-tests, and writes
results/taml_omniglot.md with the exact commands, commit and machine, and one
run record per model and metric under results/runs/ (see results/report.py).

  python results/taml_omniglot.py --iters 1000
"""
import argparse
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from results.records import write_record  # noqa: E402

MODELS = {'MAML': [], 'Meta-SGD': ['--alpha_on'],
          'Bayesian TAML': ['--alpha_on', '--omega_on', '--gamma_on', '--z_on']}


def run(cmd):
  print('$', ' '.join(cmd), flush=True)
  return subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout


def write_records(name, slug, acc, a, train_s):
  """One run record per metric (id: Omniglot, ood: MNIST) for results/README.md."""
  for metric, key in (('id acc', 'id /omniglot'), ('ood acc', 'ood/mnist')):
    mean, ci95 = (float(x) for x in acc[key].split('+-'))
    write_record(os.path.join(REPO, 'results', 'runs', 'taml_omniglot_%s_%s.json'
                              % (slug, metric.split()[0])),
                 system='taml', table='TAML on Omniglot/MNIST (short run)', row=name,
                 setting='Omniglot id / MNIST ood, 5-way, 1..5 shots, 5 queries, '
                         '%d meta-iterations' % a.iters,
                 metric=metric, values=[mean], seeds=[0], ci95=ci95,
                 command='python results/taml_omniglot.py --iters %d --test_episodes %d'
                         % (a.iters, a.test_episodes),
                 wall_time_s=round(train_s, 1),
                 note='wall time: meta-train only. Meta-test: 10 inner steps (TAML: 10 MC '
                      'samples), interval over %d test tasks.' % a.test_episodes)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--iters', type=int, default=1000)
  p.add_argument('--test_episodes', type=int, default=600)
  p.add_argument('--shared', default=os.path.join(REPO, '..', 'shared', 'datasets'))
  p.add_argument('--workdir', default=os.path.join(REPO, 'results', 'quickstart', 'omniglot_table'))
  a = p.parse_args()
  data = os.path.join(a.workdir, 'data')
  om = os.path.join(a.shared, 'omniglot')
  run([sys.executable, 'data/omniglot/get_data.py', '--out', os.path.join(data, 'omniglot'), '--source',
       os.path.join(om, 'images_background.npz'), os.path.join(om, 'images_evaluation.npz')])
  run([sys.executable, 'data/mnist/get_data.py', '--out', os.path.join(data, 'mnist'),
       '--source', os.path.join(a.shared, 'mnist')])
  geometry = ['--data_dir', data, '--id_dataset', 'omniglot', '--ood_dataset', 'mnist',
              '--way', '5', '--max_shot', '5', '--query', '5', '--metabatch', '4', '--seed', '0']
  rows, commands = [], []
  for name, flags in MODELS.items():
    slug = name.replace(' ', '_').lower()
    savedir = os.path.join(a.workdir, slug)
    train = [sys.executable, 'main.py', '--mode', 'meta_train', '--savedir', savedir, *geometry,
             *flags, '--n_steps', '5', '--n_train_iters', str(a.iters), '--val_freq', str(a.iters // 2),
             '--save_freq', str(a.iters // 2), '--n_val_tasks', '200', '--log_freq', '100']
    mc = ['--n_mc_samples', '10'] if '--z_on' in flags else []
    test = [sys.executable, 'main.py', '--mode', 'meta_test', '--savedir', savedir, *geometry, *flags,
            '--n_steps', '10', '--n_test_episodes', str(a.test_episodes), *mc]
    t = time.time()
    run(train)
    train_s = time.time() - t
    out = run(test)
    acc = {l.split(' acc: ')[0].strip(): l.split(' acc: ')[1] for l in out.splitlines() if ' acc: ' in l}
    rows.append('| %s | %s | %s | %.0f |' % (name, acc['id /omniglot'], acc['ood/mnist'], train_s))
    write_records(name, slug, acc, a, train_s)
    commands += ['    python ' + ' '.join(train[1:]).replace(REPO + os.sep, ''),
                 '    python ' + ' '.join(test[1:]).replace(REPO + os.sep, '')]
  commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
  with open(os.path.join(REPO, 'results', 'taml_omniglot.md'), 'w') as fh:
    fh.write('# Omniglot (id) / MNIST (ood), 5-way, 1..5 shots, 5 queries: %d meta-iterations\n\n' % a.iters)
    fh.write('Made with `python results/taml_omniglot.py --iters %d --test_episodes %d` at commit %s on %s '
             '(%d CPU cores, no GPU). Meta-train 5 inner steps, meta-test 10 (TAML: 10 MC samples); '
             'accuracy in %% over %d test tasks, +- 95%% interval. A short run, not the papers\' protocol '
             '(their CIFAR/miniImageNet archives are not available offline here).\n\n'
             % (a.iters, a.test_episodes, commit, platform.processor() or platform.machine(),
                os.cpu_count(), a.test_episodes))
    fh.write('| model | id: Omniglot | ood: MNIST | meta-train wall time (s) |\n|---|---|---|---|\n')
    fh.write('\n'.join(rows) + '\n\nCommands:\n\n' + '\n'.join(commands) + '\n')
  print('\n'.join(rows))


if __name__ == '__main__':
  main()
