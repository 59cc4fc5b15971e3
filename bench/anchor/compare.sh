#!/usr/bin/env bash
# compare.sh times pishm against its two C anchors, whole processes side by
# side (bench/anchor/sidebyside: each program once per round, in turn, so
# that drift on a noisy machine hits them alike):
#
#   pi_omp.c    the loop a C programmer would write: parallel for simd
#               with a reduction, one division per term
#   omp_quad.c  pishm's algebra written by hand in C (four terms over one
#               denominator, AVX-512 where the CPU has it), on OpenMP threads
#
# It prints each program's median wall time, the medians of its paired
# ratios to both anchors, its median minor page faults, and what first
# touching a page costs on this machine (on a VM that traps page faults,
# the faults are much of a short run's cost), then the first lines of
# each program's last output. pishm runs as the README builds it, and
# with -caller-share (the parent sums a share, as OpenMP's master thread
# does) in the shared-memory modes.
#
# Usage: bench/anchor/compare.sh [N]          (N defaults to 1e9)
#
# Environment:
#   PISHM=path   use this pishm binary instead of building ./cmd/pishm
#   RUNS=11      rounds (each program runs once per round)
#   WORKERS=2    pishm -workers, and OMP_NUM_THREADS for the anchors
#   MODE=slots   pishm -mode
#
# It installs gcc and libgomp1 with apt-get when dpkg says they are missing,
# builds the anchors with gcc -O3 -march=native -fopenmp into a temporary
# directory, and removes that directory on exit.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-1e9}
runs=${RUNS:-11}
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
gcc -O3 -march=native -fopenmp -o "$tmp/omp_quad" "$here/omp_quad.c" -lm
(cd "$root" && go build -o "$tmp/sidebyside" ./bench/anchor/sidebyside)
if [ -n "${PISHM:-}" ]; then
	pishm=$PISHM
else
	# The README's build: static, with the lean worker binary beside pishm.
	# One tag for the build: pishm takes the pishm-worker beside it even from
	# a dirty tree or a -buildvcs=false build (engine.buildTag).
	(cd "$root" && CGO_ENABLED=0 go build -ldflags="-X=github.com/pishm/pishm/engine.buildTag=bench-$$-$(date +%s%N)" -o "$tmp/" ./cmd/pishm ./cmd/pishm-worker)
	pishm=$tmp/pishm
fi

progs=(-- pi_omp "$tmp/pi_omp" "$n" -- omp_quad "$tmp/omp_quad" "$n" -- pishm "$pishm" -n "$n" -mode="$mode" -workers "$workers")
case $mode in
slots | cas | mutex) progs+=(-- "pishm -caller-share" "$pishm" -n "$n" -mode="$mode" -workers "$workers" -caller-share) ;;
esac
echo "anchors: pi_omp.c and omp_quad.c (gcc -O3 -march=native -fopenmp), OMP_NUM_THREADS=$workers"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) logical cores"
OMP_NUM_THREADS=$workers "$tmp/sidebyside" -runs "$runs" -anchors 2 -probe "${progs[@]}"
