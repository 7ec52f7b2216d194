#!/usr/bin/env bash
# mimgnet, maml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/mimgnet_maml.flags).
exec bash "$(dirname "$0")/l2b.sh" mimgnet maml "$@"
