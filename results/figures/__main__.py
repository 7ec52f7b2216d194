"""PNG figures of a run directory of main.py, tdr_main.py or gmvae_main.py.

  python -m results.figures RUN_DIR [--out DIR] [--data_dir DIR] [--curves_only]

Every run: learning curves from its TensorBoard event files (and results.jsonl).
Bayesian TAML: omega against class shot, gamma per layer against task size, z
against task (id vs ood), for the variables the run has on.  Meta-GMVAE (Omniglot):
a grid of test images and their reconstructions.  TDR: evaluation and class
weights over steps, final class weights.  Writes `<RUN_DIR>/figures/*.png` by
default and prints one line per file written.
"""
import os
import sys

from common.tf_env import configure_tensorflow_env

configure_tensorflow_env(onednn=None)   # before TensorFlow is imported (TAML / GMVAE views)

from common.errors import ArgumentParser, require, run_cli  # noqa: E402
from results.figures import events, runs  # noqa: E402

# where each trainer's data lives when config.json does not say
DEFAULT_DATA_DIR = {'taml': 'data', 'gmvae': 'data/omniglot/gmvae'}
NAMES = {'tdr': 'TDR', 'gmvae': 'Meta-GMVAE'}


def system_name(system, config):
  """What the run trains, for titles (main.py: by its --*_on flags)."""
  if system != 'taml':
    return NAMES[system]
  if any(config.get(k) for k in ('omega_on', 'gamma_on', 'z_on')):
    return 'Bayesian TAML'
  return 'Meta-SGD' if config.get('alpha_on') else 'MAML'


def parse(argv):
  parser = ArgumentParser(prog='python -m results.figures', description=__doc__.split('\n')[0])
  parser.add_argument('run_dir', help='the run directory (--savedir, --job-dir, --save-dir)')
  parser.add_argument('--out', help='where the PNGs go (default: RUN_DIR/figures)')
  parser.add_argument('--data_dir', '--data-dir', help='TAML: the folder of <dataset>/*.npy '
                      '(default: data); Meta-GMVAE: the Omniglot test.npy folder (default: '
                      'data/omniglot/gmvae)')
  parser.add_argument('--split', choices=['mval', 'mte'], default='mte',
                      help='TAML: episodes of this split for the balancing views')
  parser.add_argument('--n_tasks', '--n-tasks', type=int, default=100,
                      help='TAML: tasks per dataset for the balancing views')
  parser.add_argument('--curves_only', '--curves-only', action='store_true',
                      help='only the learning curves (no checkpoint or data read)')
  args = parser.parse_args(argv)
  if args.n_tasks < 1:
    parser.error('--n_tasks must be at least 1, got %d' % args.n_tasks)
  return args


BALANCING_TAGS = 'balancing/'   # training/taml.py's TensorBoard tags of omega, gamma, z


def log(line):
  print(line, file=sys.stderr, flush=True)


def main(argv=None):
  args = parse(argv)
  run_path = os.path.abspath(args.run_dir)
  require(os.path.isdir(run_path), 'no such run directory %s' % args.run_dir)
  config = runs.read_config(run_path)
  system = runs.detect(run_path, config)
  out_dir = os.path.abspath(args.out or os.path.join(run_path, 'figures'))
  data_dir = args.data_dir or config.get('data_dir') or DEFAULT_DATA_DIR.get(system)
  title = '%s run %s' % (system_name(system, config), os.path.basename(run_path))
  written = []
  scalars = events.read_scalars(run_path, log)
  if not args.curves_only:   # first: a missing checkpoint or data set fails before any file
    if system == 'taml':
      from results.figures import taml
      taml.plot_balancing(run_path, config, data_dir, args.split, args.n_tasks, out_dir,
                          written, log)
    elif system == 'gmvae':
      from results.figures import gmvae
      gmvae.plot_reconstructions(run_path, config, data_dir, out_dir, written, log)
  if system == 'tdr':
    from results.figures import tdr
    tdr.plot_tdr(run_path, scalars, out_dir, written, title)
  from results.figures import curves
  # TAML's balancing-variable statistics over training get a figure of their own
  balancing = {t: v for t, v in scalars.items() if t.startswith(BALANCING_TAGS)}
  scalars = {t: v for t, v in scalars.items() if t not in balancing}
  curves.plot_learning_curves(scalars, events.read_results(run_path), out_dir, written,
                              title + ': learning curves')
  if balancing:
    curves.plot_learning_curves(balancing, [], out_dir, written,
                                title + ': balancing variables over training',
                                name='taml_balancing_over_training')
  require(written, 'nothing to plot in %s: no TensorBoard event file, results.jsonl or '
          'metrics.json (has the run logged anything yet?)' % run_path)


if __name__ == '__main__':
  run_cli(main)
