#!/usr/bin/env bash
# stats.sh times `pishm stats` against its two anchors on files of float64s
# in the page cache: a plain multi-threaded read of the same bytes
# (bench/readfloor: one goroutine per core, pread, adding up the words),
# which nothing can beat, and numpy (Debian's python3-numpy: np.mean,
# np.var and np.histogram on an np.memmap of the file). The programs run
# alternately, so that drift on a busy machine hits them alike, and the
# table gives each one's median whole-process wall time. pishm runs as
# is (two reads of the file: the histogram's range comes from the first)
# and with -range set to the data's [min, max] (the same histogram, one
# read). It also checks that `pishm stats -json` gives the same bytes for
# 1, 2 and 8 workers, and prints numpy's figures beside pishm's.
#
# Usage: bench/stats.sh [GB ...]        (default: 1 4)
#
# Environment:
#   DIR=/tmp       where the files are made (bench-stats-NG.f64, kept for
#                  reruns; delete them yourself)
#   RUNS=5         runs of each program (numpy: NPRUNS, default 3)
#   WORKERS="1 2"  the -workers of the timed pishm runs
#
# A size that does not fit in DIR's free space, or in the memory free for
# the page cache, is skipped with a message. python3-numpy is installed
# with apt-get when /usr/bin/python3 cannot import numpy.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${DIR:-/tmp}
runs=${RUNS:-5}
npruns=${NPRUNS:-3}
workers=${WORKERS:-1 2}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 4)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "installing python3-numpy" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y python3-numpy >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-numpy >/dev/null; }
fi
npver=$("$py" -c 'import numpy; print(numpy.__version__)')

# One tag for the build, so that pishm takes the pishm-worker beside it
# even from a dirty tree or a -buildvcs=false build (engine.buildTag).
(cd "$root" && go build -ldflags="-X=github.com/pishm/pishm/engine.buildTag=bench-$$-$(date +%s%N)" -o "$tmp/" ./cmd/pishm ./cmd/pishm-full ./cmd/pishm-worker ./bench/readfloor)

cat >"$tmp/np_stats.py" <<'PY'
import sys, numpy as np
a = np.memmap(sys.argv[1], dtype='<f8', mode='r')
m = np.mean(a); v = np.var(a, ddof=1); h, e = np.histogram(a, 10)
print("mean %r variance %r counts %s" % (float(m), float(v), list(map(int, h))))
PY
cat >"$tmp/np_make.py" <<'PY'
import sys, numpy as np
n, rng = int(sys.argv[2]), np.random.default_rng(1)
with open(sys.argv[1], 'wb') as f:
    while n > 0:
        k = min(n, 1 << 24)
        (1e3 + rng.standard_normal(k)).astype('<f8').tofile(f)
        n -= k
PY

. "$here/timing.sh" # timed, median

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
cores=$(nproc)
echo "CPU: $cpu, $cores logical cores; numpy $npver; $(go version | cut -d' ' -f3)"
echo
rows=()
for gb in "${sizes[@]}"; do
	bytes=$((gb << 30))
	file="$dir/bench-stats-${gb}G.f64"
	freedisk=$(($(df -Pk "$dir" | awk 'NR==2 {print $4}') << 10))
	freemem=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) << 10))
	if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != "$bytes" ]; then
		if [ $((bytes + (1 << 30))) -gt "$freedisk" ]; then
			echo "skipping $gb GB: $dir has $((freedisk >> 20)) MiB free" >&2
			continue
		fi
		echo "making $file" >&2
		"$py" "$tmp/np_make.py" "$file" $((bytes / 8))
	fi
	# The file, numpy's temporaries (np.var makes a full-size one) and room to spare.
	if [ $((3 * bytes)) -gt "$freemem" ]; then
		echo "skipping $gb GB: $((freemem >> 20)) MiB of memory available, the page cache cannot keep the file and numpy its copies" >&2
		continue
	fi
	cat "$file" >/dev/null # into the page cache
	"$tmp/readfloor" "$file" >/dev/null

	# The same bits for 1, 2 and 8 workers.
	for w in 1 2 8; do
		"$tmp/pishm" stats -json -workers "$w" "$file" >"$tmp/json.$w"
	done
	if cmp -s "$tmp/json.1" "$tmp/json.2" && cmp -s "$tmp/json.1" "$tmp/json.8"; then
		same="identical for 1, 2, 8 workers"
	else
		same="DIFFERENT for 1, 2, 8 workers"
	fi

	# The same histogram with -range set to the data's own [min, max]:
	# one read of the file instead of two.
	rng=$("$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print("%r:%r" % (d["min"], d["max"]))' "$tmp/json.1")
	"$tmp/pishm" stats -json -range "$rng" "$file" >"$tmp/json.range"

	rm -f "$tmp"/t.*
	for ((i = 0; i < runs; i++)); do
		timed read "$tmp/readfloor" "$file"
		for w in $workers; do
			timed "pishm$w" "$tmp/pishm" stats -json -workers "$w" "$file"
		done
		timed range "$tmp/pishm" stats -json -range "$rng" "$file"
		if [ "$i" -lt "$npruns" ]; then
			timed numpy "$py" "$tmp/np_stats.py" "$file"
			cp "$tmp/out.numpy" "$tmp/numpy.out"
		fi
	done
	echo "== $gb GB ($((bytes / 8)) float64s in $file): -json $same"
	echo "pishm: $(cat "$tmp/json.1")" | cut -c1-400
	if cmp -s <(sed 's/"variance".*"min"/"min"/' "$tmp/json.1") <(sed 's/"variance".*"min"/"min"/' "$tmp/json.range"); then
		echo "pishm -range $rng: the same output but for the variance's last bits"
	fi
	echo "pishm -range $rng: $(grep -o '"variance":[^,]*' "$tmp/json.range") (two passes: $(grep -o '"variance":[^,]*' "$tmp/json.1"))"
	echo "numpy: $(cat "$tmp/numpy.out")"
	row="| $gb GB | $(median "$tmp/t.read") s"
	for w in $workers; do
		row+=" | $(median "$tmp/t.pishm$w") s"
	done
	last=${workers##* }
	row+=" | $(median "$tmp/t.range") s"
	row+=" | $(median "$tmp/t.numpy") s | $(awk -v r="$(median "$tmp/t.read")" -v p="$(median "$tmp/t.pishm$last")" 'BEGIN {printf "%.0f%%", 100*r/p}')"
	row+=" | $(awk -v r="$(median "$tmp/t.read")" -v p="$(median "$tmp/t.range")" 'BEGIN {printf "%.0f%%", 100*r/p}')"
	row+=" | $(awk -v n="$(median "$tmp/t.numpy")" -v p="$(median "$tmp/t.pishm$last")" 'BEGIN {printf "%.1fx", n/p}') |"
	rows+=("$row")
	echo
done

head="| file | read anchor ($cores threads)"
rule="|---|---"
for w in $workers; do
	head+=" | pishm stats -workers $w"
	rule+="|---"
done
echo "Median whole-process wall time, files in the page cache; $cpu, $cores logical cores."
echo
echo "$head | pishm stats -range (one pass) | numpy $npver | read / pishm (${last} workers) | read / pishm -range | numpy / pishm |"
echo "$rule|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
