#!/usr/bin/env bash
# compare.sh times the C OpenMP anchor (pi_omp.c: the loop a C programmer
# would write, parallel for simd with a reduction) and pishm
# side by side: whole-process wall time, the two run alternately so that
# drift on a noisy machine hits both alike. It prints each run, both
# medians and the median of the paired ratios pishm/OpenMP.
#
# Usage: bench/anchor/compare.sh [N]          (N defaults to 1e9)
#
# Environment:
#   PISHM=path   use this pishm binary instead of building ./cmd/pishm
#   RUNS=7       runs of each program
#   WORKERS=2    pishm -workers, and OMP_NUM_THREADS for the anchor
#   MODE=slots   pishm -mode
#
# It installs gcc and libgomp1 with apt-get when dpkg says they are missing,
# builds the anchor with gcc -O3 -march=native -fopenmp into a temporary
# directory, and removes that directory on exit.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a '.' decimal point

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-1e9}
runs=${RUNS:-7}
workers=${WORKERS:-2}
mode=${MODE:-slots}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Toolchain for the anchor.
missing=()
for pkg in gcc libgomp1; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "compare.sh: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "${missing[@]}" >&2
fi

gcc -O3 -march=native -fopenmp -o "$tmp/pi_omp" "$here/pi_omp.c" -lm
if [ -n "${PISHM:-}" ]; then
	pishm=$PISHM
else
	(cd "$root" && go build -o "$tmp/pishm" ./cmd/pishm)
	pishm=$tmp/pishm
fi

# wall CMD... runs CMD with stdout to $tmp/out and prints its wall seconds;
# on failure it shows CMD's output and stops the script.
wall() {
	local t0 t1
	t0=$EPOCHREALTIME
	if ! "$@" >"$tmp/out" 2>&1; then
		echo "compare.sh: $* failed:" >&2
		cat "$tmp/out" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

# median prints the median of its arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

anchor_cmd=(env OMP_NUM_THREADS="$workers" "$tmp/pi_omp" "$n")
pishm_cmd=("$pishm" -n "$n" -mode="$mode" -workers "$workers")
echo "anchor: OMP_NUM_THREADS=$workers pi_omp $n (gcc -O3 -march=native -fopenmp)"
echo "pishm:  ${pishm_cmd[*]}"
omp=() pis=() ratio=()
for ((i = 1; i <= runs; i++)); do
	a=$(wall "${anchor_cmd[@]}")
	a_out=$(cat "$tmp/out")
	p=$(wall "${pishm_cmd[@]}")
	r=$(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", p / a }')
	omp+=("$a") pis+=("$p") ratio+=("$r")
	printf 'run %d: openmp %s s  pishm %s s  ratio %s\n' "$i" "$a" "$p" "$r"
done
echo "last anchor output: $a_out"
echo "last pishm output:  $(head -c 2000 "$tmp/out")"
printf 'median wall: openmp %s s, pishm %s s; median ratio pishm/OpenMP %s (%d runs each)\n' \
	"$(median "${omp[@]}")" "$(median "${pis[@]}")" "$(median "${ratio[@]}")" "$runs"
