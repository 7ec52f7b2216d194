#!/usr/bin/env bash
# mimgnet, taml: meta-train then meta-test with the original hyper-parameters.
exec bash "$(dirname "$0")/l2b.sh" mimgnet taml "$@"
