#!/usr/bin/env bash
# Meta-GMVAE, Omniglot 5-way (original README): --way 5 --sample-size 200, other flags default.
# Arrays: data/omniglot/get_data.py --layout gmvae writes them first (skipped once done;
# archives from $SHARED_DATASETS, default ../shared/datasets, else downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
source runfiles/run.sh   # DRY_RUN=1 prints the commands instead
DATA_DIR=${DATA_DIR:-data/omniglot/gmvae}
run python data/omniglot/get_data.py --layout gmvae --out "$DATA_DIR"
run python gmvae_main.py --flagfile=configs/gmvae/omniglot_5way.flags \
  --data-dir "$DATA_DIR" \
  --save-dir "${SAVE_DIR:-runs/omniglot-5way-experiment}" "$@"
