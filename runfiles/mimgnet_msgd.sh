#!/usr/bin/env bash
# mimgnet, msgd: the earlier name of mimgnet_metasgd.sh (its runs: ./results/mimgnet/msgd).
exec bash "$(dirname "$0")/l2b.sh" mimgnet msgd "$@"
