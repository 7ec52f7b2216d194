#!/usr/bin/env bash
# The l2b runfiles' experiments: meta-train (5 inner steps), then meta-test
# (10 inner steps; 10 MC samples for Bayesian TAML), with the original
# hyper-parameters.  Usage:
#   bash runfiles/l2b.sh {cifar|mimgnet|multi} {maml|msgd|taml} [extra main.py flags]
# Extra flags go to both commands (e.g. --data_dir, --seed, --n_train_iters).
set -euo pipefail
cd "$(dirname "$0")/.."
setting=$1 model=$2
shift 2

case "$setting" in
  cifar)   data=(--id_dataset cifar --ood_dataset svhn --metabatch 4 --way 5)
           iters=50000 meta_lr=1e-3 maml_inner_lr=0.5 ;;
  mimgnet) data=(--id_dataset mimgnet --ood_dataset cub --metabatch 1 --way 5)
           iters=80000 meta_lr=1e-4 maml_inner_lr=0.1 ;;
  multi)   data=(--id_dataset 'aircraft, quickdraw, vgg_flower'
                 --ood_dataset 'traffic, fashion-mnist' --metabatch 3 --way 10)
           iters=60000 meta_lr=1e-3 maml_inner_lr=0.5 ;;
  *) echo "unknown setting '$setting' (cifar, mimgnet or multi)" >&2; exit 2 ;;
esac
case "$model" in
  maml) model_flags=(--inner_lr "$maml_inner_lr"); mc=() ;;
  msgd) model_flags=(--alpha_on); mc=() ;;
  taml) model_flags=(--alpha_on --omega_on --gamma_on --z_on); mc=(--n_mc_samples 10) ;;
  *) echo "unknown model '$model' (maml, msgd or taml)" >&2; exit 2 ;;
esac
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
prepare() { python "data/$1/get_data.py" --out "$data_dir/$1" "${@:2}"; }
if [ "${PREPARE:-1}" != 0 ]; then
  case "$setting" in
    cifar) prepare cifar --jpeg ;;
    multi) prepare vgg_flower --no_rescale ;;
  esac
fi
common=(--savedir "./results/$setting/$model" "${data[@]}" --max_shot 50 --query 15
        "${model_flags[@]}")

python main.py --mode meta_train "${common[@]}" --n_steps 5 \
  --n_train_iters "$iters" --meta_lr "$meta_lr" "$@"
python main.py --mode meta_test "${common[@]}" --n_steps 10 \
  --n_test_episodes 1000 "${mc[@]}" "$@"
