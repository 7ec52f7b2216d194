#!/usr/bin/env bash
# multi, msgd: the earlier name of multi_metasgd.sh (its runs: ./results/multi/msgd).
exec bash "$(dirname "$0")/l2b.sh" multi msgd "$@"
