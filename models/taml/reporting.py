"""Text reports of a TAML run: running averages and the balancing-variable tables."""
import numpy as np


class Averages:
  """Running means of named scalars (the original's Accumulator)."""

  def __init__(self, *names):
    self.names = names
    self.clear()

  def add(self, **values):
    for k in self.names:
      self.sums[k] += float(np.mean(values[k]))
    self.count += 1

  def clear(self):
    self.sums = {k: 0. for k in self.names}
    self.count = 0

  def means(self):
    return {k: self.sums[k] / max(self.count, 1) for k in self.names}

  def line(self, header):
    return '%s: %s' % (header, ', '.join('%s %.4f' % kv for kv in self.means().items()))


def support_sizes(ytr):
  """Per-task support size and per-class counts (padding rows excluded)."""
  counts = ytr.sum(axis=1)                      # [T, way]
  return counts.sum(axis=1).astype(int), counts.astype(int)


def balancing_table(flag, ytr, omega_softmax, gamma_exp):
  """The gamma / omega tables of l2b's README, tasks sorted by support size.

  omega_softmax `[T, way]` or None, gamma_exp `[T, 5]` or None.
  """
  sizes, counts = support_sizes(ytr)
  order = np.argsort(sizes, kind='stable')
  lines = ['', flag]
  if gamma_exp is not None:
    lines += ['', '*** Gamma for task imbalance ***',
              '             ' + ''.join(' conv%d' % i for i in range(1, 5)) + ' dense']
    for t in order:
      lines.append('task %d: N=%3d ' % (t, sizes[t]) +
                   ''.join('%.3f ' % g for g in gamma_exp[t]))
  if omega_softmax is not None:
    way = counts.shape[1]
    lines += ['', '*** Omega for class imbalance ***',
              '       ' + ''.join('  C%d' % i for i in range(1, way + 1)) + '    ' +
              ''.join('    C%d' % i for i in range(1, way + 1))]
    for t in order:
      by_size = np.argsort(counts[t], kind='stable')
      lines.append('task %d: ' % t + ''.join('%3d ' % n for n in counts[t][by_size]) +
                   '--> ' + ''.join('%.3f ' % o for o in omega_softmax[t][by_size]))
  return '\n'.join(lines)


def confidence_line(flag, name, acc):
  """`flag/name acc: mean +- 1.96*std/sqrt(n)` in percent (per-task accuracies)."""
  acc = 100. * np.asarray(acc)
  return '%s/%s acc: %.2f +- %.2f' % (flag, name, acc.mean(),
                                     1.96 * acc.std() / np.sqrt(len(acc)))


LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'dense')


def balancing_scalars(summary):
  """TensorBoard scalars of `steps.make_balancing_summary_step`'s arrays (numpy):
  omega's largest / smallest class weight (task means), exp(gamma) per layer,
  z's kernel (multiplicative) and bias (additive) halves: mean and std, and the
  mean posterior scale of each variable."""
  out = {}
  if 'omega' in summary:
    omega = summary['omega']
    out.update({'omega/max': omega.max(-1).mean(), 'omega/min': omega.min(-1).mean()})
  if 'gamma' in summary:
    out.update({'gamma/%s' % name: g for name, g in zip(LAYERS, summary['gamma'].mean(0))})
  if 'z' in summary:
    z_w, z_b = np.split(summary['z'], 2, axis=-1)
    out.update({'z/kernel_mean': z_w.mean(), 'z/kernel_std': z_w.std(),
                'z/bias_mean': z_b.mean(), 'z/bias_std': z_b.std()})
  for name in ('omega', 'gamma', 'z'):
    if name + '_sigma' in summary:
      out[name + '/sigma'] = summary[name + '_sigma'].mean()
  return {'balancing/' + k: float(v) for k, v in out.items()}
