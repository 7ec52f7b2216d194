#!/usr/bin/env bash
# multi, taml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/multi_taml.flags).
exec bash "$(dirname "$0")/l2b.sh" multi taml "$@"
