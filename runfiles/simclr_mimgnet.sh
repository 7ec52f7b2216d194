#!/usr/bin/env bash
# SimCLR feature extractor for miniImageNet (original README, optional step): 400 epochs,
# batch 512, lr 1e-3, then {train,val,test}_features.npy for mimgnet_gmvae.sh.
# Images: <data-dir>/images/*.jpg + train/val/test.csv (Ravi & Larochelle split files).
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead
run python gmvae_main.py --flagfile=configs/gmvae/simclr_mimgnet.flags \
  --data-dir "${DATA_DIR:-data/imgnet}" \
  --save-dir "${SAVE_DIR:-runs/simclr-experiment}" \
  --feature-save-dir "${FEATURE_DIR:-data/mimgnet/gmvae}" "$@"
