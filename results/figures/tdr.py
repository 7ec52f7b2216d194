"""TDR: evaluation over steps (metrics.json `history`), class weights over steps
(TensorBoard tags `.../class_weight<sep><c>`) and the final class weights (bars)."""
import os
import re

from common.run_dir import read_json
from results.figures import canvas

CLASS_WEIGHT_TAG = re.compile(r'(^|/)class_weights?[/_](\d+)$')


def read_metrics(run_path):
  path = os.path.join(run_path, 'metrics.json')
  return read_json(path, 'metrics file') if os.path.exists(path) else {}


def plot_history(history, out_dir, written, title):
  """One panel per evaluation metric of metrics.json's history, over steps."""
  history = [h for h in history if isinstance(h, dict) and 'step' in h]
  names = sorted({k for h in history for k, v in h.items()
                  if k != 'step' and isinstance(v, (int, float))})
  if not names:
    return
  fig, axes = canvas.panels(len(names), columns=3, title=title)
  for ax, name in zip(axes, names):
    rows = [(h['step'], h[name]) for h in history if name in h]
    ax.plot([s for s, _ in rows], [v for _, v in rows], marker='o')
    canvas.decorate(ax, 'eval %s' % name, 'step', name, legend=False)
  canvas.save(fig, out_dir, 'tdr_eval_history', written)


def plot_class_weights_over_steps(scalars, out_dir, written, title):
  """Class weights logged to TensorBoard, one line per class (and per series)."""
  lines = []
  for tag, by_series in scalars.items():
    match = CLASS_WEIGHT_TAG.search(tag)
    if match:
      for series, (xs, ys) in by_series.items():
        lines.append(('class %s (%s)' % (match.group(2), series), xs, ys))
  if not lines:
    return
  fig, [ax] = canvas.panels(1, title=title)
  fig.set_size_inches(6.5, 4.2)
  for label, xs, ys in sorted(lines):
    ax.plot(xs, ys, label=label)
  canvas.decorate(ax, 'class weights over steps', 'step', 'class weight')
  canvas.save(fig, out_dir, 'tdr_class_weights_over_steps', written)


def plot_final_class_weights(metrics, out_dir, written, title):
  weights = metrics.get('class_weights')
  if not weights:
    return
  fig, [ax] = canvas.panels(1, title=title)
  fig.set_size_inches(max(4.5, 0.6 * len(weights) + 2), 4.0)
  bars = ax.bar(range(len(weights)), weights, color='tab:green')
  ax.bar_label(bars, fmt='%.3f', fontsize='small')
  ax.set_ylim(0, 1.2 * max(max(weights), 1. / len(weights)))
  ax.axhline(1. / len(weights), color='gray', linestyle='--', label='uniform 1/C')
  ax.set_xticks(range(len(weights)))
  canvas.decorate(ax, 'final class weights, step %s%s' % (
      metrics.get('step', '?'), '' if metrics.get('reweight', True) else ' (--no-reweight)'),
      'class', 'class weight')
  canvas.save(fig, out_dir, 'tdr_final_class_weights', written)


def plot_tdr(run_path, scalars, out_dir, written, title):
  metrics = read_metrics(run_path)
  plot_history(metrics.get('history', []), out_dir, written,
               title + ': evaluation over steps (metrics.json history)')
  plot_class_weights_over_steps(scalars, out_dir, written, title + ' (TensorBoard)')
  plot_final_class_weights(metrics, out_dir, written, title + ' (metrics.json)')
