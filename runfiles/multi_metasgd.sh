#!/usr/bin/env bash
# multi, metasgd: meta-train then meta-test with the original hyper-parameters
# (configs/taml/multi_metasgd.flags).
exec bash "$(dirname "$0")/l2b.sh" multi metasgd "$@"
