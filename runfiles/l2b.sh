#!/usr/bin/env bash
# The l2b runfiles' experiments: meta-train (5 inner steps), then meta-test
# (10 inner steps; 10 MC samples for Bayesian TAML), with the original
# hyper-parameters.  Usage:
#   bash runfiles/l2b.sh {cifar|mimgnet|multi} {maml|metasgd|taml} [extra main.py flags]
# Extra flags go to both commands (e.g. --data_dir, --seed, --n_train_iters).
# The settings are presets (configs/taml/): <setting>_<method>.flags (datasets,
# geometry, method), l2b_train_<setting>.flags, l2b_test[_taml].flags.
# msgd: metasgd's earlier name (its runs stay in ./results/<setting>/msgd).
# DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh
setting=$1 model=$2
shift 2

case "$setting" in
  cifar|mimgnet|multi) ;;
  *) echo "unknown setting '$setting' (cifar, mimgnet or multi)" >&2; exit 2 ;;
esac
case "$model" in
  maml|metasgd|taml) method=$model ;;
  msgd) method=metasgd ;;
  *) echo "unknown model '$model' (maml, metasgd or taml)" >&2; exit 2 ;;
esac
test_preset=configs/taml/l2b_test.flags
if [ "$method" = taml ]; then test_preset=configs/taml/l2b_test_taml.flags; fi
# Data where l2b's preparation differs from the get_data defaults: CIFAR-FS through
# JPEG files (--jpeg), vgg_flower left in 0..255 (--no_rescale).  A script skips
# arrays that already exist (delete them if they were built without these flags);
# PREPARE=0 skips this step.
data_dir=data
for ((i = 1; i <= $#; i++)); do
  case "${!i}" in
    --data_dir=*) data_dir=${!i#*=} ;;
    --data_dir) j=$((i + 1)); data_dir=${!j} ;;
  esac
done
prepare() { run python "data/$1/get_data.py" --out "$data_dir/$1" "${@:2}"; }
if [ "${PREPARE:-1}" != 0 ]; then
  case "$setting" in
    cifar) prepare cifar --jpeg ;;
    multi) prepare vgg_flower --no_rescale ;;
  esac
fi
common=(--savedir "./results/$setting/$model" --flagfile="configs/taml/${setting}_$method.flags")

run python main.py --mode meta_train "${common[@]}" \
  --flagfile="configs/taml/l2b_train_$setting.flags" "$@"
run python main.py --mode meta_test "${common[@]}" --flagfile="$test_preset" "$@"
