#!/usr/bin/env bash
# Meta-GMVAE, Omniglot 5-way (original README): --way 5 --sample-size 200, other flags default.
# Arrays: python data/omniglot/get_data.py --layout gmvae  (writes data/omniglot/gmvae/).
set -euo pipefail
cd "$(dirname "$0")/.."
python gmvae_main.py --dataset omniglot \
  --data-dir "${DATA_DIR:-data/omniglot/gmvae}" \
  --save-dir "${SAVE_DIR:-runs/omniglot-5way-experiment}" \
  --way 5 --sample-size 200 "$@"
