#!/usr/bin/env bash
# mimgnet, taml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/mimgnet_taml.flags).
exec bash "$(dirname "$0")/l2b.sh" mimgnet taml "$@"
