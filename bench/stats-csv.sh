#!/usr/bin/env bash
# stats-csv.sh times `pishm stats -col price` on a CSV against the tools a
# user has for the same job, side by side on the same file in the page
# cache, in turn, round after round (so that drift on a busy machine hits
# them alike), and prints each one's median whole-process wall time:
#
#   read anchor  bench/readfloor: a plain multi-threaded read of the bytes
#   pishm        pishm stats -col price (count, exact sum, mean, variance,
#                extremes, histogram)
#   datamash     GNU datamash -t, -H count sum mean svar min max of price
#   pandas       read_csv(usecols=['price']) and count/sum/mean/var/min/max
#   duckdb       DuckDB through its npm package @duckdb/node-api: read_csv
#                with typed columns, 2 threads, count/sum/avg/var_samp/min/max
#
# It checks what each one gives against the truth: the sums beside the
# correctly rounded sum of the column (math.fsum over the values Python
# parses), and pishm's -json stats against pishm's on a raw float64 file
# of the same column (the same bits, or the run says DIFFERENT).
#
# Usage: bench/stats-csv.sh [ROWS]        (default: 1e7)
#
# Environment:
#   DIR=/tmp   where the CSV is made (bench-stats-ROWS.csv, kept for reruns)
#   RUNS=5     rounds
# datamash and python3-pandas are installed with apt-get when missing, and
# @duckdb/node-api with npm into DIR/pishm-bench-duckdb where node is
# there; a tool that cannot be installed is left out with a message.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${DIR:-/tmp}
runs=${RUNS:-5}
rows=$(awk -v r="${1:-1e7}" 'BEGIN {printf "%d", r}')
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
	{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; }; }
command -v datamash >/dev/null || { echo "installing datamash" >&2; apt_get datamash || echo "no datamash: left out" >&2; }
"$py" -c 'import pandas' 2>/dev/null || { echo "installing python3-pandas" >&2; apt_get python3-pandas || echo "no pandas: left out" >&2; }
has_pandas=0
"$py" -c 'import pandas' 2>/dev/null && has_pandas=1

has_duckdb=0
duckdir="$dir/pishm-bench-duckdb"
if command -v node >/dev/null && command -v npm >/dev/null; then
	if [ ! -d "$duckdir/node_modules/@duckdb/node-api" ]; then
		echo "installing @duckdb/node-api into $duckdir" >&2
		mkdir -p "$duckdir" && (cd "$duckdir" && npm install --silent @duckdb/node-api >/dev/null 2>&1) ||
			echo "no @duckdb/node-api: DuckDB left out" >&2
	fi
	[ -d "$duckdir/node_modules/@duckdb/node-api" ] && has_duckdb=1
else
	echo "no node: DuckDB left out" >&2
fi
[ "$has_duckdb" = 1 ] && cat >"$duckdir/duck.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await inst.connect();
const r = await con.runAndReadAll(`SELECT count(price), sum(price), avg(price), var_samp(price), min(price), max(price) FROM read_csv('${process.argv[2]}', header=true, columns={'id': 'BIGINT', 'price': 'DOUBLE', 'temp': 'DOUBLE'})`);
const row = r.getRows()[0];
console.log(`count ${row[0]} sum ${row[1]} mean ${row[2]} var ${row[3]} min ${row[4]} max ${row[5]}`);
JS

# One tag for the build, so that pishm takes the pishm-worker beside it
# even from a dirty tree or a -buildvcs=false build (engine.buildTag).
(cd "$root" && go build -ldflags="-X=github.com/pishm/pishm/engine.buildTag=bench-$$-$(date +%s%N)" -o "$tmp/" ./cmd/pishm ./cmd/pishm-full ./cmd/pishm-worker ./bench/readfloor)

csv="$dir/bench-stats-$rows.csv"
col="$dir/bench-stats-$rows.price.f64"
if [ ! -f "$csv" ] || [ ! -f "$col" ]; then
	echo "making $csv ($rows rows: id, price, temp, %.17g)" >&2
	"$py" - "$csv" "$col" "$rows" <<'PY'
import sys, random, array
random.seed(1)
csv, col, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
price = array.array('d')
with open(csv, 'w') as f:
    f.write('id,price,temp\n')
    out = []
    for i in range(n):
        p = random.uniform(0, 66.2)
        out.append('%d,%.17g,%.17g\n' % (i, p, random.gauss(20, 5)))
        price.append(float('%.17g' % p))
        if len(out) == 100000:
            f.write(''.join(out)); out = []
    f.write(''.join(out))
with open(col, 'wb') as f:
    price.tofile(f)
PY
fi

cat >"$tmp/pd_stats.py" <<'PY'
import sys, pandas as pd
c = pd.read_csv(sys.argv[1], usecols=['price'])['price']
print("count %d sum %r mean %r var %r min %r max %r" % (c.count(), float(c.sum()), float(c.mean()), float(c.var()), float(c.min()), float(c.max())))
PY

cat "$csv" >/dev/null # into the page cache
"$tmp/readfloor" "$csv" >/dev/null

# The truth, and each tool's answer.
fsum=$("$py" -c 'import sys, array, math; a = array.array("d"); a.frombytes(open(sys.argv[1], "rb").read()); print(repr(math.fsum(a)))' "$col")
"$tmp/pishm" stats -json -col price "$csv" >"$tmp/pishm.json"
"$tmp/pishm" stats -json "$col" >"$tmp/raw.json"
same=$("$py" -c 'import json, sys; a = json.load(open(sys.argv[1]))["columns"][0]["stats"]; b = json.load(open(sys.argv[2])); print("the same bits" if a == b else "DIFFERENT")' "$tmp/pishm.json" "$tmp/raw.json")

. "$here/timing.sh" # timed, median

progs=(read pishm)
command -v datamash >/dev/null && progs+=(datamash)
[ "$has_pandas" = 1 ] && progs+=(pandas)
[ "$has_duckdb" = 1 ] && progs+=(duckdb)
for ((i = 0; i < runs; i++)); do
	# Rotate which program starts the round.
	for ((k = 0; k < ${#progs[@]}; k++)); do
		p=${progs[(i + k) % ${#progs[@]}]}
		case $p in
		read) timed read "$tmp/readfloor" "$csv" ;;
		pishm) timed pishm "$tmp/pishm" stats -col price "$csv" ;;
		datamash) timed datamash datamash -t, -H count 2 sum 2 mean 2 svar 2 min 2 max 2 <"$csv" ;;
		pandas) timed pandas "$py" "$tmp/pd_stats.py" "$csv" ;;
		duckdb) timed duckdb node "$duckdir/duck.mjs" "$csv" ;;
		esac
	done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "CSV: $csv, $rows rows, $(($(stat -c %s "$csv") >> 20)) MiB; $cpu, $(nproc) logical cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "correctly rounded sum of price (math.fsum): $fsum"
echo "pishm:    sum $("$py" -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))["columns"][0]["stats"]["sum"]))' "$tmp/pishm.json"); stats $same as the raw f64 column's"
command -v datamash >/dev/null && echo "datamash: $(tail -1 "$tmp/out.datamash")"
[ "$has_pandas" = 1 ] && echo "pandas:   $(cat "$tmp/out.pandas")"
[ "$has_duckdb" = 1 ] && echo "duckdb:   $(cat "$tmp/out.duckdb")"
echo
pishm=$(median "$tmp/t.pishm")
echo "| program | median wall | vs pishm |"
echo "|---|---|---|"
for p in "${progs[@]}"; do
	m=$(median "$tmp/t.$p")
	echo "| $p | $m s | $(awk -v a="$m" -v b="$pishm" 'BEGIN {printf "%.2fx", a/b}') |"
done
