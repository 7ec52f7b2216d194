#!/usr/bin/env bash
# A few minutes on a laptop CPU: prepare CIFAR-FS and SVHN (downloads ~350 MB
# once), then a short Bayesian TAML meta-train and meta-test.  Accuracies
# after 200 iterations are far from the paper's; they show the pipeline works.
# Offline: pass the archives, e.g. CIFAR_SOURCE=~/cifar-100-python.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead
run python data/cifar/get_data.py --jpeg ${CIFAR_SOURCE:+--source "$CIFAR_SOURCE"}   # as l2b: via JPEG files
run python data/svhn/get_data.py ${SVHN_SOURCE:+--source $SVHN_SOURCE}
# presets: configs/taml/quickstart_cifar_{taml,train,test}.flags
flags=(--savedir ./results/quickstart/taml --flagfile=configs/taml/quickstart_cifar_taml.flags)
run python main.py --mode meta_train "${flags[@]}" \
  --flagfile=configs/taml/quickstart_cifar_train.flags "$@"
run python main.py --mode meta_test "${flags[@]}" \
  --flagfile=configs/taml/quickstart_cifar_test.flags "$@"
