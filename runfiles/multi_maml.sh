#!/usr/bin/env bash
# multi, maml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/multi_maml.flags).
exec bash "$(dirname "$0")/l2b.sh" multi maml "$@"
