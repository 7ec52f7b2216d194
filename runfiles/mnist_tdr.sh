#!/usr/bin/env bash
# The original README's MNIST example: digit 2 (minority) vs 3 (majority) at ratio
# 0.995 (24 vs 4975 training images, a balanced target set of 10 + 10), dataset
# generation then training for 20000 steps; then the plain baseline (--no-reweight,
# class weights fixed at 1/2) with the same settings, so the two print side by side.
#   SOURCE=folder of the MNIST idx .gz files (default: $SHARED_DATASETS/mnist, default
#          ../shared/datasets/mnist, when present, else TFDS, online; set SOURCE= for
#          TFDS), MODE=both|tdr|plain, extra
#   arguments go to both tdr_main.py runs (e.g. --train-steps 5000 --num-gpus 0).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOURCE+set}" ]; then   # unset: the shared archives if there are some, else TFDS
  SOURCE=${SHARED_DATASETS:-../shared/datasets}/mnist
  [ -e "$SOURCE" ] || SOURCE=
fi
DATA=${DATA:-./runs/data/mnist_23_0995}
JOB=${JOB:-./runs/mnist_23_0995}
MODE=${MODE:-both}
# the original's input pipeline and evaluation (README, "Differences from the originals");
# ORIGINAL= runs the port's defaults instead
ORIGINAL=${ORIGINAL---flagfile=configs/tdr/mnist_original_pipeline.flags}
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead

run python makeImbalanceDataset.py --data-dir "$DATA" --dataset mnist ${SOURCE:+--source "$SOURCE"} \
  --train-size 5000 --validation-size 20 --test-size 1000 --ratio 0.995 \
  --minority-labels 2 --majority-labels 3

train() {  # $1 = job dir, then extra flags
  local job=$1; shift
  run python tdr_main.py --data-dir "$DATA" --job-dir "$job" \
    --flagfile=configs/tdr/mnist_23_0995.flags $ORIGINAL "$@"
}
source runfiles/tdr_pair.sh
run_pair accuracy,recall_minor,precision_minor "$@"
