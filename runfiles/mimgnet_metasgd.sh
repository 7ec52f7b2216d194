#!/usr/bin/env bash
# mimgnet, metasgd: meta-train then meta-test with the original hyper-parameters
# (configs/taml/mimgnet_metasgd.flags).
exec bash "$(dirname "$0")/l2b.sh" mimgnet metasgd "$@"
