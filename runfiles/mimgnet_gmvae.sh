#!/usr/bin/env bash
# Meta-GMVAE, miniImageNet 5-way on SimCLR features (original README: mimgnet defaults:
# latent 32, mc 256, batch 16, sample 5, 15000 iterations, lr 1e-4, weight decay 5e-2).
# Features: runfiles/simclr_mimgnet.sh (writes data/mimgnet/gmvae/{train,val,test}_features.npy).
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead
run python gmvae_main.py --flagfile=configs/gmvae/mimgnet_5way.flags \
  --data-dir "${DATA_DIR:-data/mimgnet/gmvae}" \
  --save-dir "${SAVE_DIR:-runs/mimgnet-5way-experiment}" "$@"
