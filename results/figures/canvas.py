"""matplotlib on the non-interactive Agg backend, and the one way figures are saved."""
import math
import os

import matplotlib

matplotlib.use('Agg')   # no display: figures are files
import matplotlib.pyplot as plt  # noqa: E402

from common.run_dir import os_errors  # noqa: E402

DPI = 100
PANEL_SIZE = (4.2, 3.0)   # inches per panel


def panels(n, columns=3, title=None):
  """A figure of `n` panels in rows of `columns`: (figure, flat list of n axes);
  the unused cells of the last row are switched off."""
  columns = max(1, min(columns, n))
  rows = math.ceil(n / columns)
  fig, axes = plt.subplots(rows, columns, squeeze=False, layout='constrained',
                           figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.5))
  flat = list(axes.flat)
  for ax in flat[n:]:
    ax.axis('off')
  if title:
    fig.suptitle(title)
  return fig, flat[:n]


def decorate(ax, title, xlabel, ylabel, legend=True):
  """Title, axis labels, a light grid and (if asked) the legend of one panel."""
  ax.set_title(title)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  if legend:
    ax.legend(fontsize='small')


def save(fig, out_dir, name, written):
  """Write `fig` as `<out_dir>/<name>.png`, print its path, append it to `written`."""
  path = os.path.join(out_dir, name + '.png')
  if fig.get_layout_engine() is None:
    fig.tight_layout()
  with os_errors('cannot write %s' % path):
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(path, dpi=DPI)
  plt.close(fig)
  print(path, flush=True)
  written.append(path)
  return path
