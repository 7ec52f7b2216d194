#!/usr/bin/env bash
# Offline quickstart on real data: Omniglot (in-distribution) and MNIST (out-of-
# distribution), 5-way, 1..5 shots.  Trains the Meta-SGD baseline and Bayesian
# TAML (Meta-SGD plus the balancing variables omega, gamma, z) for 300
# iterations each, then meta-tests both on 200 tasks per dataset; about 10 min
# on 2 CPU cores.  The get_data scripts use the archives in $SHARED_DATASETS
# (default ../shared/datasets) when present, else download them.
#   SEED=1 bash runfiles/quickstart_omniglot.sh     # another seed, its own run folders
#   bash runfiles/quickstart_omniglot.sh --n_train_iters 1000   # extra flags go to every command
#   DRY_RUN=1 bash runfiles/quickstart_omniglot.sh   # print the commands instead
# Presets: configs/taml/omniglot_<method>.flags, quickstart_omniglot_{train,test}.flags.
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh
run python data/omniglot/get_data.py
run python data/mnist/get_data.py
seed=${SEED:-0}
for method in metasgd taml; do   # the Meta-SGD baseline, then Bayesian TAML
  savedir=./results/quickstart/omniglot_${method}_seed$seed
  run python main.py --mode meta_train --savedir "$savedir" \
    --flagfile="configs/taml/omniglot_$method.flags" --seed "$seed" \
    --flagfile=configs/taml/quickstart_omniglot_train.flags "$@"
  run python main.py --mode meta_test --savedir "$savedir" \
    --flagfile=configs/taml/quickstart_omniglot_test.flags "$@"
done
