"""Which trainer wrote a run directory, its config.json, and its checkpoint folders.

  TAML        ckpt/model-<i>/, best/           config.json: omega_on, id_dataset, ...
  TDR         checkpoints/model-<step>/        metrics.json, config.json: class-weight-freq
  Meta-GMVAE  ckpt/ckpt-<i>/, {1,5}shot_best/  config.json: component_size (SimCLR: dataset simclr)

Read only: nothing here writes to the run (a trainer may still be running in it).
"""
import os

from common.checkpoints import numbered_steps as numbered, verify_folder
from common.errors import UserError, require
from common.run_dir import CONFIG_FILE, read_json

SYSTEMS = ('taml', 'tdr', 'gmvae')
# config.json keys only one trainer writes
CONFIG_KEYS = {'taml': 'omega_on', 'tdr': 'class-weight-freq', 'gmvae': 'component_size'}


def read_config(run_path):
  """config.json as a dict ({} without it)."""
  path = os.path.join(run_path, CONFIG_FILE)
  if not os.path.exists(path):
    return {}
  config = read_json(path, 'run configuration')
  require(isinstance(config, dict), 'run configuration %s is not a JSON object' % path)
  return config


def _has(run_path, *parts):
  return os.path.exists(os.path.join(run_path, *parts))


def detect(run_path, config):
  """'taml', 'tdr' or 'gmvae' from config.json, else from the checkpoint folders."""
  for system, key in CONFIG_KEYS.items():
    if key in config:
      return system
  if config.get('dataset') == 'simclr':
    return 'gmvae'
  ckpt = os.path.join(run_path, 'ckpt')
  if numbered(ckpt, 'model') or _has(run_path, 'best'):
    return 'taml'
  if numbered(os.path.join(run_path, 'checkpoints'), 'model') or _has(run_path, 'metrics.json'):
    return 'tdr'
  if numbered(ckpt, 'ckpt') or any(_has(run_path, '%dshot_best' % s) for s in (1, 5)):
    return 'gmvae'
  raise UserError('cannot tell which trainer wrote %s: no config.json of main.py, tdr_main.py '
                  'or gmvae_main.py and no checkpoint folder (ckpt/, checkpoints/, best/); '
                  'pass the folder given as --savedir, --job-dir or --save-dir'
                  % run_path)


def checkpoint_folder(run_path, best_folders, numbered_dir, name, log):
  """The first intact folder of `best_folders`, else the newest intact
  `<numbered_dir>/<name>-<step>` (older ones when newer are corrupt, with a
  `warning:` line), else None."""
  for folder in best_folders:
    path = os.path.join(run_path, folder)
    if os.path.isdir(path) and verify_folder(path) is not None:
      return path
  directory = os.path.join(run_path, numbered_dir)
  for step in reversed(numbered(directory, name)):
    path = os.path.join(directory, '%s-%d' % (name, step))
    if verify_folder(path) is not None:
      return path
    log('warning: checkpoint %s is incomplete or corrupt; using an older one' % path)
  return None
