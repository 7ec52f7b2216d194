#!/usr/bin/env bash
# Offline quickstart on real data: Omniglot (in-distribution) and MNIST (out-of-
# distribution), 5-way, 1..5 shots.  Trains the Meta-SGD baseline and Bayesian
# TAML (Meta-SGD plus the balancing variables omega, gamma, z) for 300
# iterations each, then meta-tests both on 200 tasks per dataset; about 10 min
# on 2 CPU cores.  The get_data scripts use the archives in $SHARED_DATASETS
# (default ../shared/datasets) when present, else download them.
#   SEED=1 bash runfiles/quickstart_omniglot.sh     # another seed, its own run folders
#   bash runfiles/quickstart_omniglot.sh --n_train_iters 1000   # extra flags go to every command
set -euo pipefail
cd "$(dirname "$0")/.."
python data/omniglot/get_data.py
python data/mnist/get_data.py
seed=${SEED:-0}
geometry=(--id_dataset omniglot --ood_dataset mnist --metabatch 4 --way 5 --max_shot 5
          --query 5 --n_steps 2 --seed "$seed")
for method in metasgd taml; do
  case $method in
    metasgd) variables=(--alpha_on) ;;                                  # the baseline
    taml)    variables=(--alpha_on --omega_on --gamma_on --z_on) ;;     # Bayesian TAML
  esac
  run=./results/quickstart/omniglot_${method}_seed$seed
  python main.py --mode meta_train --savedir "$run" "${geometry[@]}" "${variables[@]}" \
    --n_train_iters 300 --log_freq 50 --val_freq 300 --n_val_tasks 100 --balance_freq 300 "$@"
  python main.py --mode meta_test --savedir "$run" --n_test_episodes 200 "$@"
done
