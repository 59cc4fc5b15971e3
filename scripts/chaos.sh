#!/usr/bin/env bash
# chaos.sh runs pishm with random kills and stops of its workers and counts
# the runs that were exact, ended in a clean error, were wrong or hung (see
# bench/chaos). It exits 1 if any run was wrong or hung or left a worker or
# a segment behind.
#
# Usage: scripts/chaos.sh [-runs K] [-seed S] [-only I] [-v] ...   (go run ./bench/chaos -h)
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/chaos "$@"
