"""Runs one trainer's step on one device and on 2 replicas; prints a JSON report.

The CPU must be split into logical devices before TensorFlow starts, so the
distribution tests run this module in a fresh process:

  python -m tests.distributed_run equivalence taml|tdr|gmvae
  python -m tests.distributed_run worker taml OUT.npz   (under TF_CONFIG)

`equivalence` prints {"max_abs_diff": {name: float}, "scale": {name: float}}:
the largest difference between single-device and 2-replica results per
tensor, and the largest magnitude of the single-device value.
"""
import json
import sys

import numpy as np

from common.tf_env import configure_tensorflow_env

configure_tensorflow_env(onednn=None)


def taml_setup(strategy, optimizer):
  """A tiny Bayesian TAML (all switches on), its steps and one metabatch."""
  import tensorflow as tf
  from data.episodes import EpisodeSampler
  from training import taml_steps as steps
  from models.taml.config import TamlConfig
  from models.taml.parameters import TamlParameters
  cfg = TamlConfig(way=3, max_shot=4, query=2, n_steps=2, alpha_on=True, omega_on=True,
                   gamma_on=True, z_on=True, image_size=32)
  rng = np.random.default_rng(0)
  classes = [rng.random((8, 32, 32, 3), dtype=np.float32) for _ in range(5)]
  sampler = EpisodeSampler({'mtr': classes}, 'toy', seed=0)
  episodes = [{k: tf.constant(v) for k, v in
               sampler.sample('mtr', 4, cfg.way, cfg.max_shot, cfg.query).items()}
              for _ in range(3)]
  with strategy.scope():
    params = TamlParameters(cfg, seed=3)
    optimizer = optimizer()
  train = steps.make_train_step(params, optimizer, cfg, 4, strategy=strategy)
  evaluate = steps.make_eval_step(params, cfg, 4, n_mc_samples=2, strategy=strategy)
  return params, train, evaluate, episodes


def taml_results(strategy, n_steps=1):
  """Scalars of `n_steps` train steps, the variables after them, eval outputs.

  One step uses SGD with learning rate 1, so `update/<name>` is the clipped
  gradient itself (Adam would turn round-off gradients into +-lr steps);
  several steps (multi-worker) use the real Adam.
  """
  import keras
  import tensorflow as tf
  from training import taml_steps as steps
  optimizer = ((lambda: keras.optimizers.SGD(1.0)) if n_steps == 1
               else (lambda: steps.make_optimizer(1e-3)))
  params, train, evaluate, episodes = taml_setup(strategy, optimizer)
  before = {k: v.numpy() for k, v in params.by_name.items()}
  out = {}
  for i in range(n_steps):
    scalars = train(episodes[i % len(episodes)], tf.constant([0, i]))
  out.update({'step/' + k: v.numpy() for k, v in scalars.items()})
  out.update({'var/' + k: v.numpy() for k, v in params.by_name.items()})
  out.update({'update/' + k: before[k] - v.numpy() for k, v in params.by_name.items()})
  cent, kl, acc = evaluate(episodes[-1], tf.constant([1, 0]))
  out.update({'eval/cent': cent.numpy(), 'eval/kl': kl.numpy(), 'eval/acc': acc.numpy()})
  return out


def tdr_results(strategy, n_steps=1):
  """One class-weight update + one base step of LeNet on a fixed batch (momentum
  SGD: `update/<name>` = lr * gradient), the variables and class weights after."""
  import keras
  import tensorflow as tf
  from models.tdr import build_model
  from training.tdr_steps import TDRTrainer
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (16, 28, 28, 1)).astype(np.uint8)
  y = (rng.random(16) < 0.7).astype(np.int64)   # imbalanced: the class weights move
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = build_model('lenet', 2)
  trainer = TDRTrainer(model, 2, (28, 28, 1), learning_rate=0.1, strategy=strategy)
  batches = lambda n: strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(n))
  name = lambda i, v: 'update/%d_%s' % (i, v.path.split('/', 1)[-1])   # model names differ
  before = [v.numpy() for v in model.trainable_variables]
  for _ in range(n_steps):
    scalars, target = trainer.advance(iter(batches(8)), iter(batches(4)), 1)
  out = {'step/' + k: v.numpy() for k, v in dict(scalars, **target).items()}
  out['class_weights'] = trainer.class_weights.numpy()
  out['class_weight_change'] = out['class_weights'] - 0.5
  out.update({name(i, v): before[i] - v.numpy()
              for i, v in enumerate(model.trainable_variables)})
  return out


def gmvae_results(strategy, n_steps=1):
  """Losses, gradients and batch-norm statistics of one Omniglot Meta-GMVAE
  metabatch (4 episodes, fixed noise), then the variables after one step."""
  import tensorflow as tf
  from models.gmvae.gmvae import GMVAEConfig
  from training.gmvae_steps import GMVAETrainer
  cfg = GMVAEConfig(component_size=3, train_mc_sample_size=2, unsupervised_em_iters=2,
                    hidden_size=8, latent_size=6)
  rng = np.random.default_rng(0)
  x = tf.constant(rng.random((4, 5, 28, 28, 1), dtype=np.float32))
  trainer = GMVAETrainer(cfg, 4, 5, 1e-3, 0., seed=0, strategy=strategy)
  eps, init_idx = trainer.draw_train_noise(4, 5)

  @tf.function
  def gradients():
    with strategy.scope():
      return trainer.metabatch_gradients(x, eps, init_idx)

  rec, kl, grads, stats = gradients()
  out = {'step/rec_loss': rec.numpy(), 'step/kl_loss': kl.numpy()}
  out.update({'update/' + k: g.numpy() for k, g in grads.items()})
  out.update({'bn/%s/%d' % (k, i): s.numpy() for k, v in stats.items() for i, s in enumerate(v)})
  for _ in range(n_steps):
    trainer.train_step(x)
  out.update({'var/' + k: v.numpy() for k, v in trainer.params.items()
              if k.endswith(('running_mean', 'running_var'))})
  return out


RESULTS = {'taml': taml_results, 'tdr': tdr_results, 'gmvae': gmvae_results}


def compare(single, multi):
  diff = {k: float(np.max(np.abs(np.asarray(single[k], np.float64) - multi[k])))
          for k in single}
  scale = {k: float(np.max(np.abs(single[k]))) for k in single}
  return {'max_abs_diff': diff, 'scale': scale}


def main(argv):
  mode, trainer = argv[1], argv[2]
  from common import distribute
  if mode == 'equivalence':
    distribute.split_cpu(2)
    single = RESULTS[trainer](distribute.make_strategy('default'))
    multi = RESULTS[trainer](distribute.make_strategy('mirrored', num_devices=2))
    print(json.dumps(compare(single, multi)))
  elif mode == 'worker':
    strategy = distribute.make_strategy('multi_worker', connect_timeout_s=60)
    out = RESULTS[trainer](strategy, n_steps=3)
    np.savez(argv[3], **out)
    print(json.dumps({'replicas': strategy.num_replicas_in_sync}))
  else:
    raise SystemExit('unknown mode %r' % mode)


if __name__ == '__main__':
  from common.errors import run_cli
  run_cli(main, sys.argv)
