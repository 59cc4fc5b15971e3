#!/usr/bin/env bash
# The project's test command (README.md): installs what a bare machine lacks,
# then vets and tests every package, with the race detector, in pure Go, and
# for arm64. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
# gcc's OpenMP runtime for the C anchor in bench/anchor.
echo 'int main(void){return 0;}' | gcc -fopenmp -x c - -o /dev/null 2>/dev/null || need_apt+=(libgomp1 libgcc-12-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null || echo "warning: could not install ${need_apt[*]}; dependent tests will skip"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
GOARCH=arm64 go vet ./...
echo "== generated assembly is reproducible (avo)"
bash engine/internal/kernel/_asm/check.sh
echo "== go test -race"
# Children are race-built re-executions of the test binary; the race runtime
# sleeps 1 s at every exit unless told not to.
export GORACE="atexit_sleep_ms=0"
go test -race -count=1 -timeout 20m ./...
echo "== go test (plain: the large-n accuracy checks the race run skips)"
go test -count=1 -timeout 20m ./...
echo "== go test -tags purego"
go test -tags purego -count=1 -timeout 20m ./...
echo "== C OpenMP anchor builds and runs beside pishm"
RUNS=1 bash bench/anchor/compare.sh 1e8
echo "== leak check"
left=$(ls /dev/shm 2>/dev/null | grep '^pishm-' || true)
if [ -n "$left" ]; then echo "segments left in /dev/shm: $left"; exit 1; fi
echo "== all tests passed"
