#!/usr/bin/env bash
# cifar, metasgd: meta-train then meta-test with the original hyper-parameters
# (configs/taml/cifar_metasgd.flags).
exec bash "$(dirname "$0")/l2b.sh" cifar metasgd "$@"
