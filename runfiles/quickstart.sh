#!/usr/bin/env bash
# A few minutes on a laptop CPU: prepare CIFAR-FS and SVHN (downloads ~350 MB
# once), then a short Bayesian TAML meta-train and meta-test.  Accuracies
# after 200 iterations are far from the paper's; they show the pipeline works.
# Offline: pass the archives, e.g. CIFAR_SOURCE=~/cifar-100-python.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
python data/cifar/get_data.py --jpeg ${CIFAR_SOURCE:+--source "$CIFAR_SOURCE"}   # as l2b: via JPEG files
python data/svhn/get_data.py ${SVHN_SOURCE:+--source $SVHN_SOURCE}
flags=(--savedir ./results/quickstart/taml --id_dataset cifar --ood_dataset svhn
       --metabatch 2 --way 5 --max_shot 10 --query 5 --alpha_on --omega_on --gamma_on --z_on)
python main.py --mode meta_train "${flags[@]}" --n_steps 2 --n_train_iters 200 \
  --log_freq 50 --val_freq 200 --n_val_tasks 100 --balance_freq 200 "$@"
python main.py --mode meta_test "${flags[@]}" --n_steps 4 --n_test_episodes 100 \
  --n_mc_samples 2 "$@"
