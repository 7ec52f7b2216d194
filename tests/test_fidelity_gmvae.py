"""Meta-GMVAE behaviours kept as the original's: --gpu-id and the EM start."""
import os

import pytest

from common.runtime_flags import select_gpu
from tests.test_gmvae_cli import TINY, cli


@pytest.mark.parametrize('explicit, strategy, before, after', [
    (True, 'default', {'CUDA_VISIBLE_DEVICES': '0,1'}, '3'),    # the original: always set
    (True, 'mirrored', {}, '3'),
    (False, 'default', {}, '0'),                                  # unset: the original's 0
    (False, 'default', {'CUDA_VISIBLE_DEVICES': '1'}, '1'),       # the user's choice kept
    (False, 'mirrored', {}, None),                                # all GPUs stay visible
])
def test_gpu_id_sets_cuda_visible_devices(explicit, strategy, before, after):
  env = dict(before)
  select_gpu(3 if explicit else None, one_device=strategy == 'default', environ=env)
  assert env.get('CUDA_VISIBLE_DEVICES') == after


def test_em_needs_only_sample_times_mc_points(omniglot_dir, tmp_path):
  """3 images x 2 MC samples = 6 latent points >= 5 components: the original
  trains (np.random.choice(6, 5, replace=False)), so does the port."""
  proc = cli('--data-dir', omniglot_dir, '--save-dir', str(tmp_path), *TINY,
             '--sample-size', '3', '--train-iters', '1')
  assert proc.returncode == 0, proc.stderr[-3000:]
