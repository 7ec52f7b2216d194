#!/usr/bin/env bash
# cifar, msgd: the earlier name of cifar_metasgd.sh (its runs: ./results/cifar/msgd).
exec bash "$(dirname "$0")/l2b.sh" cifar msgd "$@"
