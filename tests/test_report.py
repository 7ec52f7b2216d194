"""results/report.py: run records in a folder -> README with paper numbers beside ours."""
import json
import math
import subprocess
import sys

import pytest

from common.errors import UserError
from tests.conftest import REPO
from results import report
from results.records import write_record

TAML_CIFAR = dict(system='taml', table='l2b Table 1', row='Bayesian TAML',
                  setting='CIFAR-FS id / SVHN ood', metric='id acc')


def build(tmp_path, records):
  """Write each record as runs/<name>.json, build the report, return its lines."""
  runs = tmp_path / 'runs'
  runs.mkdir()
  for name, fields in records.items():
    write_record(str(runs / ('%s.json' % name)), **fields)
  out = tmp_path / 'README.md'
  report.main(['--runs', str(runs), '--out', str(out)])
  return out.read_text().splitlines()


def section(lines, table):
  """The lines of the report's `## <table>` section (several tables share row names:
  l2b Table 1 and the l2b README's re-run)."""
  start = lines.index('## ' + table)
  end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')),
             len(lines))
  return lines[start:end]


def row_line(lines, *cells):
  """The one table line that starts with these cells."""
  prefix = '| ' + ' | '.join(cells) + ' |'
  found = [l for l in lines if l.startswith(prefix)]
  assert len(found) == 1, (prefix, found)
  return found[0]


def test_paper_number_beside_our_mean_and_interval(tmp_path):
  lines = build(tmp_path, {'taml': dict(TAML_CIFAR, values=[74.0, 75.0, 76.0], seeds=[0, 1, 2],
                                        command='python main.py --mode meta_test',
                                        wall_time_s=3600)})
  assert 'python -m results.report' in lines[0] and 'do not edit by hand' in lines[0]
  line = row_line(section(lines, 'l2b Table 1'), 'Bayesian TAML', 'CIFAR-FS id / SVHN ood',
                  'id acc')
  # paper: l2b README; ours: 75 +- 1.96 * 1 / sqrt(3)
  assert '| 75.15 ± 0.20 | 75.00 ± 1.13 (3 seeds) |' in line
  assert '`python main.py --mode meta_test`' in line and '| 3600 |' in line


def test_row_without_record_says_not_run_yet(tmp_path):
  lines = build(tmp_path, {})
  line = row_line(section(lines, 'l2b Table 1'), 'MAML', 'CIFAR-FS id / SVHN ood', 'id acc')
  assert '| 71.55 ± 0.23 | not run yet: CIFAR-100 and SVHN images' in line
  line = row_line(lines, 'Meta-GMVAE', 'Omniglot 5-way 1-shot', 'acc')
  assert '| not found in a citable source here | not run yet: the data is here, but' in line


def test_record_off_the_paper_rows_goes_to_other_runs(tmp_path):
  lines = build(tmp_path, {'omni': dict(TAML_CIFAR, setting='Omniglot id / MNIST ood',
                                        values=[80.96], ci95=1.71)})
  other = lines[lines.index('## Other runs'):]
  assert '80.96 ± 1.71 (1 seed, interval over episodes)' in row_line(
      other, 'Bayesian TAML', 'Omniglot id / MNIST ood', 'id acc')


def test_malformed_record_is_one_error_line_naming_the_file(tmp_path):
  runs = tmp_path / 'runs'
  runs.mkdir()
  (runs / 'broken.json').write_text('{"system": "taml", "values": [1,')
  proc = subprocess.run([sys.executable, '-m', 'results.report', '--runs', str(runs),
                         '--out', str(tmp_path / 'README.md')],
                        cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1 and 'broken.json' in proc.stderr
  (runs / 'broken.json').write_text(json.dumps(dict(TAML_CIFAR, values='75')))
  with pytest.raises(UserError, match=r'broken\.json: "values" must be a non-empty list'):
    report.load_records(str(runs))


def test_interval_over_three_seeds():
  assert report.ci95_over_seeds([70.0, 72.0, 74.0]) == pytest.approx(1.96 * 2.0 / math.sqrt(3))
  assert report.ci95_over_seeds([70.0]) is None
  assert report.format_ours({'values': [70.0, 72.0, 74.0]}) == '72.00 ± 2.26 (3 seeds)'
  assert report.format_ours({'values': [70.0]}) == '70.00 (1 seed)'
