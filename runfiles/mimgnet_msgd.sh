#!/usr/bin/env bash
# mimgnet, msgd: meta-train then meta-test with the original hyper-parameters.
exec bash "$(dirname "$0")/l2b.sh" mimgnet msgd "$@"
