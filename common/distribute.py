"""`tf.distribute` for the three trainers: strategy from a flag, task sharding,
chief-only checkpoints.

  --strategy default       one device (TensorFlow's default strategy)
  --strategy mirrored      every visible GPU of this machine (or, without GPUs,
                           the logical CPU devices: tests and CPU scaling runs)
  --strategy multi_worker  MultiWorkerMirroredStrategy over the workers of the
                           standard TF_CONFIG environment variable

TAML and Meta-GMVAE shard the tasks of a metabatch over the replicas; TDR splits
its batches.  In both cases each replica computes its share, the gradients are
summed across replicas once per step, and every replica applies the same update,
so a distributed step equals the single-device step on the same metabatch.
"""
import contextlib
import json
import os
import socket
import sys
import threading
import time

from common.errors import UserError, require

STRATEGIES = ('default', 'mirrored', 'multi_worker')
DEFAULT_CONNECT_TIMEOUT_S = 120


def split_cpu(n_devices):
  """Expose the CPU as `n_devices` logical devices (before TensorFlow starts)."""
  import tensorflow as tf
  cpu = tf.config.list_physical_devices('CPU')[0]
  current = tf.config.get_logical_device_configuration(cpu)
  if current and len(current) == n_devices:
    return
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n_devices)])
  except RuntimeError as err:
    raise UserError('cannot split the CPU into %d devices once TensorFlow has started (%s)'
                    % (n_devices, err))


def read_tf_config(environ=None):
  """The parsed, checked TF_CONFIG: (cluster {type: [host:port]}, task type, task index)."""
  raw = (environ if environ is not None else os.environ).get('TF_CONFIG')
  require(raw, '--strategy multi_worker needs the TF_CONFIG environment variable '
          '(JSON with "cluster" and "task"), see README "Scaling out"')
  try:
    config = json.loads(raw)
  except ValueError as err:
    raise UserError('TF_CONFIG is not valid JSON (%s): %r' % (err, raw[:200]))
  require(isinstance(config, dict) and isinstance(config.get('cluster'), dict)
          and isinstance(config.get('task'), dict),
          'TF_CONFIG must be a JSON object with "cluster" and "task" objects, got %r' % raw[:200])
  cluster, task = config['cluster'], config['task']
  for kind, addresses in cluster.items():
    require(isinstance(addresses, list) and addresses,
            'TF_CONFIG cluster.%s must be a non-empty list of "host:port"' % kind)
    for address in addresses:
      host, _, port = str(address).rpartition(':')
      require(host and port.isdigit(), 'TF_CONFIG cluster.%s has %r; expected "host:port"'
              % (kind, address))
  kind, index = task.get('type'), task.get('index')
  require(kind in cluster, 'TF_CONFIG task.type %r is not in cluster (%s)'
          % (kind, ', '.join(sorted(cluster))))
  require(isinstance(index, int) and 0 <= index < len(cluster[kind]),
          'TF_CONFIG task.index %r out of range for cluster.%s (%d entries)'
          % (index, kind, len(cluster[kind])))
  return cluster, kind, index


def rendezvous(cluster, own_type, own_index, timeout_s):
  """Wait until every task of `cluster` is up, or fail with one clear line.

  Each task listens on its own TF_CONFIG port while it polls the others; a
  task that has seen all of them releases its port to TensorFlow's server
  (a peer still polling then reaches that server instead).  Without this, a
  missing worker makes MultiWorkerMirroredStrategy wait forever.
  """
  own = cluster[own_type][own_index]
  listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  try:
    listener.bind(('', int(own.rpartition(':')[2])))
  except OSError as err:
    listener.close()
    raise UserError('cannot listen on %s (TF_CONFIG cluster.%s[%d]): %s; is another job using '
                    'that port?' % (own, own_type, own_index, err))
  listener.listen(16)
  deadline = time.time() + timeout_s
  try:
    for kind, addresses in sorted(cluster.items()):
      for i, address in enumerate(addresses):
        if (kind, i) != (own_type, own_index):
          _wait_for_port(address, deadline, 'TF_CONFIG cluster.%s[%d] at %s did not answer '
                         'within %d s: start every worker with the same TF_CONFIG (or raise '
                         'the connect timeout)' % (kind, i, address, timeout_s))
  finally:
    listener.close()


def _wait_for_port(address, deadline, message):
  host, _, port = address.rpartition(':')
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=2):
        return
    except OSError:
      if time.time() > deadline:
        raise UserError(message)
      time.sleep(0.3)


@contextlib.contextmanager
def watchdog(seconds, message):
  """Exit the process with `error: message` if the block runs longer than `seconds`.

  TensorFlow's collective start-up blocks in C++ (no Python exception, no
  reaction to SIGTERM), so a timer thread ends the process instead of a hang.
  """
  def abort():
    sys.stderr.write('error: %s\n' % message)
    sys.stderr.flush()
    os._exit(2)

  timer = threading.Timer(seconds, abort)
  timer.daemon = True
  timer.start()
  try:
    yield
  finally:
    timer.cancel()


def make_strategy(name, num_devices=0, connect_timeout_s=DEFAULT_CONNECT_TIMEOUT_S):
  """The `tf.distribute.Strategy` named by a --strategy flag.

  num_devices: for `mirrored`, how many GPUs (or logical CPUs) to use; 0 = all.
  connect_timeout_s: for `multi_worker`, how long to wait for the other workers
    (and for any collective afterwards) before failing with one clear line.
  """
  import tensorflow as tf
  require(name in STRATEGIES, 'unknown --strategy %r (choose from %s)'
          % (name, ', '.join(STRATEGIES)))
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    devices = gpus or tf.config.list_logical_devices('CPU')
    require(num_devices <= len(devices), '%d devices asked, but %d %s device(s) are visible'
            % (num_devices, len(devices), 'GPU' if gpus else 'CPU'))
    devices = devices[:num_devices or len(devices)]
    # NCCL for GPUs; plain reduction on one device for CPUs (NCCL needs GPUs).
    ops = None if gpus else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy([d.name for d in devices], cross_device_ops=ops)
  cluster, kind, index = read_tf_config()
  rendezvous(cluster, kind, index, connect_timeout_s)
  options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=connect_timeout_s)
  with watchdog(connect_timeout_s, 'the workers of TF_CONFIG did not form a cluster within %d s '
                '(a worker died or uses another TF_CONFIG)' % connect_timeout_s):
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def check_divisible(count, strategy, what):
  """`count` items split evenly over the replicas, or one clear line."""
  replicas = strategy.num_replicas_in_sync
  require(count % replicas == 0, '%s %d is not divisible by the %d replicas of the strategy; '
          'use a multiple of %d' % (what, count, replicas, replicas))
  return count // replicas


def replica_slice(tensor, n_local):
  """This replica's `n_local` leading rows of `tensor` (static shape kept)."""
  import tensorflow as tf
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  begin = tf.concat([[replica * n_local], tf.zeros([tensor.shape.rank - 1], tf.int32)], 0)
  size = [n_local] + [-1] * (tensor.shape.rank - 1)
  out = tf.slice(tensor, begin, size)
  return tf.ensure_shape(out, [n_local] + tensor.shape[1:].as_list())


def is_chief(strategy):
  """True where checkpoints and logs are written (always, except non-chief workers)."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  return chief_task(resolver.cluster_spec().as_dict(), resolver.task_type, resolver.task_id)


def chief_task(cluster, kind, index):
  """The cluster's chief: its `chief` task, or worker 0 when it has none."""
  return kind == 'chief' or ('chief' not in cluster and kind == 'worker' and index == 0)


def chief_process(strategy_name):
  """`is_chief` before the strategy exists: from TF_CONFIG for multi_worker."""
  if strategy_name != 'multi_worker':
    return True
  return chief_task(*read_tf_config())


def worker_directory(strategy, directory):
  """Where this worker writes a checkpoint: `directory` on the chief, a private
  scratch folder elsewhere (MultiWorkerMirroredStrategy needs every worker to
  take part in a save; only the chief's copy is kept, common/checkpoints.py)."""
  if is_chief(strategy):
    return directory
  resolver = strategy.cluster_resolver
  return os.path.join(directory, '.worker_%s_%d' % (resolver.task_type, resolver.task_id))


def summary_writer(strategy, logdir):
  """TensorBoard writer on the chief, a no-op writer on the other workers."""
  import tensorflow as tf
  if is_chief(strategy):
    return tf.summary.create_file_writer(logdir)
  return tf.summary.create_noop_writer()
