#!/usr/bin/env bash
# floor.sh times a whole `pishm -n N -workers 2` against the spawn floor:
# gofloor (bench/anchor/gofloor), the smallest Go program of the same
# design (an unnamed shared segment, two self-re-executions, a futex start
# barrier, one float64 each). The two run alternately so that drift on a
# noisy machine hits both alike; it prints both medians and the median of
# the paired ratios pishm/floor.
#
# Usage: bench/anchor/floor.sh [N]          (N defaults to 1e6)
#
# Environment:
#   PISHM=path   use this pishm binary instead of building ./cmd/pishm
#   RUNS=31      runs of each program
#   WORKERS=2    pishm -workers (gofloor always uses 2)
#   FLAGS=...    more pishm flags, e.g. FLAGS="-spawn fork"
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-1e6}
runs=${RUNS:-31}
workers=${WORKERS:-2}
read -r -a flags <<<"${FLAGS:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$root" && CGO_ENABLED=0 go build -o "$tmp/gofloor" ./bench/anchor/gofloor)
if [ -n "${PISHM:-}" ]; then
	pishm=$PISHM
else
	(cd "$root" && go build -o "$tmp/pishm" ./cmd/pishm)
	pishm=$tmp/pishm
fi

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
time_us() {
	local s e
	s=$(now)
	"$@" >/dev/null
	e=$(now)
	echo $((e - s))
}

# One untimed run of each warms the page cache.
FLOOR_N=$n "$tmp/gofloor" >/dev/null
"$pishm" -n "$n" -workers "$workers" -quiet "${flags[@]}" >/dev/null

: >"$tmp/f"
: >"$tmp/p"
: >"$tmp/r"
for ((i = 1; i <= runs; i++)); do
	f=$(FLOOR_N=$n time_us "$tmp/gofloor")
	p=$(time_us "$pishm" -n "$n" -workers "$workers" -quiet "${flags[@]}")
	echo "$f" >>"$tmp/f"
	echo "$p" >>"$tmp/p"
	awk -v p="$p" -v f="$f" 'BEGIN { printf "%.4f\n", p / f }' >>"$tmp/r"
done
median() { sort -g "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "floor  median $(awk -v m="$(median "$tmp/f")" 'BEGIN { printf "%.2f ms", m / 1000 }')"
echo "pishm  median $(awk -v m="$(median "$tmp/p")" 'BEGIN { printf "%.2f ms", m / 1000 }')  (-n $n -workers $workers ${FLAGS:-})"
echo "ratio  pishm/floor median $(median "$tmp/r") over $runs alternating pairs"
