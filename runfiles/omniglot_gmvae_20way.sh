#!/usr/bin/env bash
# Meta-GMVAE, Omniglot 20-way (original README): --way 20 --sample-size 300, other flags default.
# Arrays: python data/omniglot/get_data.py --layout gmvae  (writes data/omniglot/gmvae/).
set -euo pipefail
cd "$(dirname "$0")/.."
python gmvae_main.py --dataset omniglot \
  --data-dir "${DATA_DIR:-data/omniglot/gmvae}" \
  --save-dir "${SAVE_DIR:-runs/omniglot-20way-experiment}" \
  --way 20 --sample-size 300 "$@"
