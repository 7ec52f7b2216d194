#!/usr/bin/env bash
# cifar, taml: meta-train then meta-test with the original hyper-parameters.
exec bash "$(dirname "$0")/l2b.sh" cifar taml "$@"
