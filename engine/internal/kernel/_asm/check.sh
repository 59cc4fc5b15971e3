#!/bin/sh
# check.sh fails unless the avo generator reproduces the committed
# kernel_amd64.s and stubs_amd64.go byte for byte. CI runs it from anywhere;
# it needs the go tool and avo (from the module cache or the proxy).
set -eu
kdir=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Generate into a copy laid out like the package, so that the command line
# recorded in the "Code generated" header is the same.
mkdir "$tmp/_asm"
cp "$kdir"/_asm/go.mod "$kdir"/_asm/go.sum "$kdir"/_asm/*.go "$tmp/_asm/"
(cd "$tmp/_asm" && go run . -out ../kernel_amd64.s -stubs ../stubs_amd64.go -pkg kernel)
status=0
for f in kernel_amd64.s stubs_amd64.go; do
	if ! cmp -s "$kdir/$f" "$tmp/$f"; then
		echo "check.sh: $f differs from what _asm generates; run go generate in $kdir" >&2
		diff -u "$kdir/$f" "$tmp/$f" >&2 || true
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "check.sh: generated files match"
exit "$status"
