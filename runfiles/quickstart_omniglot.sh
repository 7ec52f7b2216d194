#!/usr/bin/env bash
# Offline quickstart on real data: Omniglot (in-distribution) and MNIST (OOD).
# The get_data scripts use the archives in $SHARED_DATASETS (default ../shared/datasets)
# when present (else download them); then a short MAML meta-train and meta-test
# (a few minutes on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
python data/omniglot/get_data.py
python data/mnist/get_data.py
flags=(--savedir ./results/quickstart/omniglot_maml --id_dataset omniglot --ood_dataset mnist
       --metabatch 4 --way 5 --max_shot 5 --query 5 --n_steps 2)
python main.py --mode meta_train "${flags[@]}" --n_train_iters 300 --log_freq 50 \
  --val_freq 300 --n_val_tasks 100 "$@"
python main.py --mode meta_test "${flags[@]}" --n_test_episodes 200 "$@"
