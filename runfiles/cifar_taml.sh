#!/usr/bin/env bash
# cifar, taml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/cifar_taml.flags).
exec bash "$(dirname "$0")/l2b.sh" cifar taml "$@"
