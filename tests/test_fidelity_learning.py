"""results/fidelity_learning.py without the originals: shims compile, outputs parse, flags check."""
import json
import subprocess
import sys
import types

import pytest

from common.errors import UserError
from tests.conftest import REPO
from results import fidelity_learning as fl


def test_shims_compile():
  compile(fl.L2B_SHIM, 'l2b_shim.py', 'exec')
  compile(fl.GMVAE_SHIM, 'gmvae_shim.py', 'exec')


def test_selection_log_names_the_final_iteration_as_l2b_meta_test_parses_it():
  # l2b's meta_test: for a line whose first word is 'val', the iteration is word 1 of the
  # line two above, the accuracies words -3 (minus its comma) and -1
  lines = [l.split(' ') for l in (fl.SELECTION_LOG % 300).splitlines(True)]
  (i,) = [k for k, l in enumerate(lines) if l[0] == 'val']
  assert int(lines[i - 2][1]) == 300
  float(lines[i][-3][:-1]), float(lines[i][-1])


def test_accuracy_lines_of_both_sides_parse():
  acc = fl.taml_accuracies('x\nid /omniglot acc: 61.20 +- 1.30\nood/mnist acc: 40.00 +- 2.00\n')
  assert acc == {'id': (61.2, 1.3, 'omniglot'), 'ood': (40.0, 2.0, 'mnist')}
  with pytest.raises(UserError):
    fl.taml_accuracies('id /omniglot acc: 61.20 +- 1.30\n')
  text = ('1shot Final Test Accuracy: 0.4100 Confidence Interval: 0.0200\n'
          '5shot Final Test Accuracy: 0.6000 Confidence Interval: 0.0100\n')
  assert fl.GMVAE_LINE.findall(text) == [('1', '0.4100', '0.0200'), ('5', '0.6000', '0.0100')]


def test_table_and_records(tmp_path, monkeypatch):
  monkeypatch.setattr(sys, 'argv', ['results/fidelity_learning.py', '--seeds', '0,1'])
  res = [(dict(system='taml', model='maml', variant='port-fused', seed=s),
          dict(id_acc=60. + s, id_ci95=1., ood_acc=40., ood_ci95=2., train_s=10., test_s=2.,
               commands=['/tmp/fidelity_shims_ab1/l2b_shim.py /w/data', 'b'])) for s in (0, 1)]
  a = types.SimpleNamespace(iters=300, test_tasks=200, gmvae_way=5, gmvae_sample_size=50,
                            gmvae_batch_size=4, gmvae_mc=4, gmvae_iters=200,
                            gmvae_eval_episodes=200, workdir='/w')
  lines, groups = fl.table(res, a)
  assert lines[2].startswith('| taml | maml | port-fused | 0,1 | 60.50 +- 0.71 (sd) | 40.00 +- 0.00')
  fl.write_records(groups, a, str(tmp_path))
  rec = json.loads((tmp_path / 'fidelity_taml_maml_port-fused_id.json').read_text())
  assert rec['values'] == [60., 61.] and rec['seeds'] == [0, 1]
  assert rec['note'].startswith('per run: <shims>/l2b_shim.py <workdir>/data && b ;; ')


@pytest.mark.parametrize('script, flags', [
    ('results/fidelity_learning.py', ['--systems', 'taml']),
    ('results/fidelity_paired.py', ['--l2b_python', sys.executable])])
def test_missing_original_is_one_error_line(tmp_path, script, flags):
  proc = subprocess.run([sys.executable, script, *flags, '--l2b_src', str(tmp_path),
                         '--workdir', str(tmp_path / 'w')],
                        cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith('error: --l2b_src')


def test_paired_driver_compiles():
  from results import fidelity_paired as fp
  compile(fp.original_driver(), 'original_driver.py', 'exec')


def test_paired_table_takes_differences_within_each_seed(capsys):
  from results import fidelity_paired as fp
  acc = {('orig-fused', 0): (50., 40.), ('port-fused', 0): (52., 39.),
         ('orig-fused', 1): (60., 45.), ('port-fused', 1): (58., 47.),
         ('port-fused', 2): (99., 99.)}   # seed 2 has no original run: not paired
  fp.print_table([dict(model='maml', variant=v, seed=s, id=i, ood=o)
                  for (v, s), (i, o) in acc.items()])
  lines = capsys.readouterr().out.splitlines()
  assert '| maml | port-fused | 0,1,2 | 69.67 +- 25.58 | 61.67 +- 32.58 |' in lines
  assert '| maml | port-fused - orig-fused | 2 | 0.00 +- 2.83 | 0.50 +- 2.12 |' in lines
  assert not any('orig-exact' in l for l in lines)
