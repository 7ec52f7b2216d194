#!/usr/bin/env bash
# Offline quickstart on real data: Omniglot (in-distribution) and MNIST (OOD).
# Uses the archives in ../shared/datasets when present (else downloads them),
# then a short MAML meta-train and meta-test (a few minutes on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED_DATASETS:-../shared/datasets}
omniglot_src=() mnist_src=()
if [ -d "$shared/omniglot" ]; then
  omniglot_src=(--source "$shared/omniglot/images_background.npz" "$shared/omniglot/images_evaluation.npz")
fi
if [ -d "$shared/mnist" ]; then mnist_src=(--source "$shared/mnist"); fi
python data/omniglot/get_data.py "${omniglot_src[@]}"
python data/mnist/get_data.py "${mnist_src[@]}"
flags=(--savedir ./results/quickstart/omniglot_maml --id_dataset omniglot --ood_dataset mnist
       --metabatch 4 --way 5 --max_shot 5 --query 5 --n_steps 2)
python main.py --mode meta_train "${flags[@]}" --n_train_iters 300 --log_freq 50 \
  --val_freq 300 --n_val_tasks 100 "$@"
python main.py --mode meta_test "${flags[@]}" --n_test_episodes 200 "$@"
