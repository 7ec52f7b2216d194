#!/usr/bin/env bash
# Long-tailed CIFAR-10 (imbalance factor 100: 5000 images of class 0 down to 50 of
# class 9, 10 balanced target images per class) with ResNet-20 v1, then the plain
# baseline (--no-reweight) with the same settings.
#   SOURCE=cifar-10-python.tar.gz or its extracted folder (default: the one in
#          $SHARED_DATASETS, default ../shared/datasets, when present; empty: TFDS, online),
#   IMF=100, MODE=both|tdr|plain; extra arguments go to both tdr_main.py runs.
# The original README gives no CIFAR command; steps/batch here are ours (~200 epochs
# of the ~12.4k long-tail images at batch 50, so all three learning-rate drops happen).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOURCE+set}" ]; then   # unset: the shared archive if there is one, else TFDS
  SOURCE=${SHARED_DATASETS:-../shared/datasets}/cifar10/cifar-10-python.tar.gz
  [ -e "$SOURCE" ] || SOURCE=
fi
IMF=${IMF:-100}
DATA=${DATA:-./runs/data/cifar10_lt$IMF}
JOB=${JOB:-./runs/cifar10_lt$IMF}
MODE=${MODE:-both}
# the original's input pipeline and evaluation (README, "Differences from the originals");
# ORIGINAL= runs the port's defaults instead
ORIGINAL=${ORIGINAL---flagfile=configs/tdr/cifar10_original_pipeline.flags}
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead

run python makeImbalanceDataset.py --data-dir "$DATA" --dataset cifar10 ${SOURCE:+--source "$SOURCE"} \
  --long-tail --n0 5000 --imf "$IMF" --validation-size 100

train() {  # $1 = job dir, then extra flags
  local job=$1; shift
  run python tdr_main.py --data-dir "$DATA" --job-dir "$job" \
    --flagfile=configs/tdr/cifar10_lt.flags $ORIGINAL "$@"
}
source runfiles/tdr_pair.sh
run_pair accuracy,mean_class_recall "$@"
