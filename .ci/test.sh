#!/usr/bin/env bash
# The project's test command (README.md): installs what a bare machine lacks,
# then vets and tests every package, with the race detector, in pure Go, and
# for arm64. Exit status is non-zero if anything fails, including a tool
# that could not be installed.
#
# It also runs staticcheck (installed if missing: the Go module proxy the
# first time); STATICCHECK=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test.sh: $*" >&2; exit 1; }

SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
# apt waits up to 10 minutes for the dpkg lock another apt or dpkg holds (an
# unattended upgrade on a fresh machine) instead of failing at once.
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq)
apt_updated=
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "no apt-get: install $* by hand"
  echo "== installing: $*"
  if [ -z "$apt_updated" ]; then
    # update takes the lists lock, which the timeout above may not cover: retry.
    local try
    for try in 1 2 3 4 5; do
      "${APT[@]}" update && break
      [ "$try" -eq 5 ] && fail "apt-get update failed 5 times"
      echo "apt-get update failed (try $try of 5); again in $((try * 15)) s" >&2
      sleep $((try * 15))
    done
    apt_updated=1
  fi
  "${APT[@]}" install -y "$@" >/dev/null || fail "apt-get install $* failed"
}
has_openmp() { echo 'int main(void){return 0;}' | gcc -fopenmp -x c - -o /dev/null 2>/dev/null; }

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then apt_install "${need_apt[@]}"; fi
# gcc's OpenMP runtime and omp.h, for the C anchor in bench/anchor.
if ! has_openmp; then apt_install libgomp1 "libgcc-$(gcc -dumpversion | cut -d. -f1)-dev"; fi
command -v redis-server >/dev/null 2>&1 ||
  fail "redis-server is missing after the install: the redis mode, dist and bench tests need it"
has_openmp || fail "gcc cannot build -fopenmp programs after the install: the C anchor (bench/anchor) needs libgomp"

# pishm's names in /dev/shm before the tests, so that the leak check at
# the end blames them only for what they made.
pishm_names() { ls /dev/shm 2>/dev/null | grep '^pishm-' | sort || true; }
shm_before=$(pishm_names)

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
GOARCH=arm64 go vet ./...
GOOS=darwin go vet ./...   # the Linux-only parts build elsewhere and say so
if [ "${STATICCHECK:-1}" = 1 ]; then
  echo "== staticcheck"
  sc=$(command -v staticcheck || echo "$(go env GOPATH)/bin/staticcheck")
  if [ ! -x "$sc" ]; then
    (cd /tmp && GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2) || fail "cannot install staticcheck"
  fi
  "$sc" ./...
fi
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
echo "== the C anchors (pi_omp.c, omp_quad.c) build and run beside pishm"
RUNS=1 bash bench/anchor/compare.sh 1e8
echo "== leak check"
# Only what this script's runs made: names that were not there before it.
left=$(comm -13 <(echo "$shm_before") <(pishm_names))
if [ -n "$left" ]; then echo "left in /dev/shm by these tests: $left"; exit 1; fi
echo "== all tests passed"
