#!/usr/bin/env bash
# cifar, maml: meta-train then meta-test with the original hyper-parameters
# (configs/taml/cifar_maml.flags).
exec bash "$(dirname "$0")/l2b.sh" cifar maml "$@"
