#!/usr/bin/env bash
# multi, msgd: meta-train then meta-test with the original hyper-parameters.
exec bash "$(dirname "$0")/l2b.sh" multi msgd "$@"
