"""Learning curves of any run: one panel per scalar tag, one line per split
(series), and the results.jsonl points with their 95 % intervals."""
from results.figures import canvas

PANELS_PER_FIGURE = 16


def _label(record):
  parts = [str(record[k]) for k in ('kind', 'role', 'dataset') if record.get(k) is not None]
  if record.get('shots') is not None:
    parts.append('%sshot' % record['shots'])
  if record.get('class') is not None:
    parts.append('class %s' % record['class'])
  return ' '.join(parts) or 'result'


def _matches(tag, name):
  return tag == name or tag.endswith('/' + name)


def _tag_names(record):
  """The TensorBoard tags a record's metric is logged under, most specific first:
  TAML `<role>/<dataset>/acc`, Meta-GMVAE `<k>shot/acc`, TDR `recall/<c>`."""
  metric = str(record.get('metric', 'result'))
  names = []
  if record.get('role') and record.get('dataset'):
    names.append('%s/%s/%s' % (record['role'], record['dataset'], metric))
  if record.get('shots') is not None:
    names.append('%sshot/%s' % (record['shots'], metric))
  if record.get('class') is not None:
    names.append('%s/%s' % (metric, record['class']))
  return names + [metric]


def result_points(records, tags, last_step):
  """dict panel tag -> list of (label, step, mean, ci95) of the results.jsonl records.

  A record goes to the panels of the most specific tag naming it (`_tag_names`),
  else to a panel of its own; without a checkpoint_step it
  is drawn at the run's last logged step.
  """
  out = {}
  for r in records:
    names = _tag_names(r)
    targets = next(([t for t in tags if _matches(t, n)] for n in names
                    if any(_matches(t, n) for t in tags)), [names[0]])
    step = r.get('checkpoint_step')
    point = (_label(r), last_step if step is None else step, float(r['mean']),
             float(r.get('ci95') or 0.))
    for tag in targets:
      out.setdefault(tag, []).append(point)
  return out


def plot_learning_curves(scalars, records, out_dir, written, title, name='learning_curves'):
  """Write `<name>.png` (and `<name>_2.png` ... beyond PANELS_PER_FIGURE panels).

  scalars: events.read_scalars(); records: events.read_results().
  Returns the number of panels drawn (0: nothing was written).
  """
  steps = [s for by_series in scalars.values() for xs, _ in by_series.values() for s in xs]
  steps += [r['checkpoint_step'] for r in records if r.get('checkpoint_step') is not None]
  points = result_points(records, list(scalars), max(steps) if steps else 0)
  tags = sorted(set(scalars) | set(points))
  pages = [tags[i:i + PANELS_PER_FIGURE] for i in range(0, len(tags), PANELS_PER_FIGURE)]
  for page, page_tags in enumerate(pages, 1):
    fig, axes = canvas.panels(len(page_tags), columns=4,
                              title=title if len(pages) == 1 else '%s (%d/%d)'
                              % (title, page, len(pages)))
    for ax, tag in zip(axes, page_tags):
      for series, (xs, ys) in sorted(scalars.get(tag, {}).items()):
        ax.plot(xs, ys, marker='.' if len(xs) < 30 else None, label=series)
      for label, step, mean, ci in points.get(tag, []):
        ax.errorbar([step], [mean], yerr=[ci], fmt='s', capsize=4,
                    label='%s (results.jsonl, 95%% CI)' % label)
      last = tag.rsplit('/', 1)[-1]
      canvas.decorate(ax, tag, 'step', tag if last.isdigit() else last)
    canvas.save(fig, out_dir, name if page == 1 else '%s_%d' % (name, page), written)
  return len(tags)
