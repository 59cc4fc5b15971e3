#!/usr/bin/env bash
# queue-faults.sh injects four faults into a pishm coordinate / pishm worker
# job, as an operator would, and checks how each ends:
#
#   redis-restart   redis-server restarted without persistence mid-job:
#                   coordinator and worker exit 1, "the job's keys vanished"
#   coord-restart   the coordinator SIGKILLed mid-job, started again with the
#                   same flags: it resumes with the results kept, exit 0, exact
#   stopped-worker  a worker's engine child SIGSTOPped mid-chunk: the chunk is
#                   given up after -lease without progress, exit 0, exact
#   forged-result   NaN and 0.25 records pushed with redis-cli: rejected,
#                   exit 0, exact; then records nudged within every chunk's
#                   bounds but beyond the exact check: exit 1
#
# Usage: scripts/queue-faults.sh [scenario ...]   (default: all four)
# Needs redis-server and redis-cli on PATH; PORT picks the server's port
# (default 6391). The same faults run as Go tests: go test -run TestQueue ./cmd/pishm-full
set -u
cd "$(dirname "$0")/.."
PORT=${PORT:-6391}
URL=redis://127.0.0.1:$PORT/0
WORK=$(mktemp -d)
PISHM=$WORK/pishm
go build -o "$WORK/" ./cmd/pishm ./cmd/pishm-full || exit 1
REDIS_PID=
failed=0

redis_start() {
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
	REDIS_PID=$!
	until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
}
redis_stop() { [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null; REDIS_PID=; }
cleanup() { redis_stop; jobs -p | xargs -r kill -9 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

rcli() { redis-cli -p "$PORT" "$@"; }
# forge JOB CHUNK VALUE prints a result record of JOB for CHUNK, in the
# queue's protocol 4, whose exact state is one piece of VALUE (a positive
# float64 or nan): superacc's binary form of it, wrapped in a Partial's.
forge() {
	python3 - "$@" <<'PY'
import base64, json, math, struct, sys
from fractions import Fraction
job, chunk, v = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
digits, counts = [0] * 66, [0] * 5  # counts: NaN, +Inf, -Inf, finite +, finite -
bits = struct.pack(">d", v).hex()
if math.isnan(v):
    counts[0], bits = 1, "7ff8000000000001"  # Go's math.NaN(), what the sum rounds to
else:
    assert v > 0
    n = int(Fraction(v) * 2**1074)  # the value in units of 2^-1074
    digits = [(n >> (32 * i)) & 0xFFFFFFFF for i in range(66)]
    counts[3] = 1
acc = struct.pack("<66I", *digits) + struct.pack("<q", 0) + struct.pack("<5q", *counts)
partial = b"psp1" + struct.pack("<H", 1) + bytes([1]) + acc  # one element, a Sum
print(json.dumps({"v": 4, "job": job, "chunk": chunk, "partial": base64.b64encode(partial).decode(), "bits": bits, "worker": "forger"}))
PY
}
job_id() { until id=$(rcli smembers pishm:queue:jobs) && [ -n "$id" ]; do sleep 0.05; done; echo "$id"; }
results() { rcli llen "pishm:queue:{$1}:results"; }
wait_results() { until [ "$(results "$1")" -ge "$2" ]; do sleep 0.05; done; }
# expect NAME WANT_CODE PID [GREP]: wait for PID and check its exit status
# and, if given, that its stderr file $WORK/NAME.err contains GREP.
expect() {
	wait "$3"; local code=$?
	if [ "$code" -ne "$2" ] || { [ -n "${4:-}" ] && ! grep -q -- "$4" "$WORK/$1.err"; }; then
		echo "  FAIL $1: exit $code, want $2${4:+ and \"$4\"}:"; sed 's/^/    /' "$WORK/$1.err"; failed=1
	else
		echo "  ok   $1: exit $code${4:+, \"$4\"}"
	fi
}

redis_restart() {
	echo "redis-restart: redis-server restarted without persistence mid-job"
	"$PISHM" coordinate -redis "$URL" -n 1e9 -chunks 1000 -lease 1s 2>"$WORK/coord.err" >/dev/null & local c=$!
	local id; id=$(job_id)
	"$PISHM" worker -redis "$URL" -job "$id" -quiet 2>"$WORK/worker.err" >/dev/null & local w=$!
	wait_results "$id" 2
	redis_stop; redis_start
	expect coord 1 $c "the job's keys vanished"
	expect worker 1 $w "the job's keys vanished"
}

coord_restart() {
	echo "coord-restart: the coordinator SIGKILLed mid-job, then started again"
	local job=(-n 2e9 -chunks 120 -lease 500ms)
	"$PISHM" coordinate -redis "$URL" "${job[@]}" 2>"$WORK/coord1.err" >/dev/null & local c=$!
	local id; id=$(job_id)
	"$PISHM" worker -redis "$URL" -job "$id" -quiet 2>"$WORK/worker.err" >/dev/null & local w=$!
	wait_results "$id" 3
	kill -9 $c; wait $c 2>/dev/null
	echo "  keys after the kill (all with a TTL):"
	rcli --scan --pattern "pishm:queue:{$id}:*" | while read -r k; do echo "    $k pttl $(rcli pttl "$k")"; done
	"$PISHM" coordinate -redis "$URL" "${job[@]}" 2>"$WORK/coord2.err" >"$WORK/coord2.out" & c=$!
	expect coord2 0 $c "resumed"
	expect worker 0 $w
	grep -E '^(pi|S_n|resumed)' "$WORK/coord2.out" | sed 's/^/    /'
}

stopped_worker() {
	echo "stopped-worker: a worker's engine child SIGSTOPped mid-chunk"
	"$PISHM" coordinate -redis "$URL" -n 6e9 -chunks 12 -lease 1s 2>"$WORK/coord.err" >"$WORK/coord.out" & local c=$!
	local id; id=$(job_id)
	"$PISHM" worker -redis "$URL" -job "$id" 2>"$WORK/stuck.err" >/dev/null & local a=$!
	# -no-speculate: the stuck chunk comes back only when its worker gives it up.
	"$PISHM" worker -redis "$URL" -job "$id" -quiet -no-speculate 2>"$WORK/other.err" >/dev/null & local b=$!
	local child=
	until [ -n "$child" ] && kill -STOP "$child" 2>/dev/null; do child=$(pgrep -P $a | head -1); sleep 0.01; done
	echo "  stopped engine child $child of worker $a"
	expect coord 0 $c
	expect stuck 0 $a "no progress"
	expect other 0 $b
	grep -E '^(pi|S_n|chunks)' "$WORK/coord.out" | sed 's/^/    /'
}

forged_result() {
	echo "forged-result: records pushed with redis-cli"
	"$PISHM" coordinate -redis "$URL" -n 1e8 -chunks 16 -lease 1s 2>"$WORK/coord.err" >"$WORK/coord.out" & local c=$!
	local id; id=$(job_id)
	local k="pishm:queue:{$id}"
	rcli rpush "$k:results" "$(forge "$id" 2 nan)" >/dev/null
	for i in 0 1 3 4; do
		rcli rpush "$k:results" "$(forge "$id" "$i" 0.25)" >/dev/null
	done
	rcli lpush "$k:queue" x >/dev/null
	"$PISHM" worker -redis "$URL" -job "$id" -quiet 2>"$WORK/worker.err" >/dev/null & local w=$!
	expect coord 0 $c
	expect worker 0 $w
	grep -E '^(pi|S_n|rejected|dead)' "$WORK/coord.out" | cut -c1-160 | sed 's/^/    /'

	echo "forged-result: every chunk 5e-13 high (inside its bounds), no worker"
	"$PISHM" coordinate -redis "$URL" -n 1e8 -chunks 4 -lease 1s 2>"$WORK/coord.err" >"$WORK/coord.out" & c=$!
	id=$(job_id); k="pishm:queue:{$id}"
	# The chunks' exact sums (closed form), 5e-13 high. The chunks lie on
	# the engine's grid: 65536 terms a piece at n = 1e8.
	local i=0 v
	for v in $(python3 -c '
from mpmath import mp, psi, mpf
mp.dps = 40
n, c, g = 10**8, 4, 65536
p = -(-n // g)
for i in range(c):
    lo, hi = min(n, p*i//c*g), min(n, p*(i+1)//c*g)
    v = (psi(1, mpf(lo)+0.5) - psi(1, mpf(hi)+0.5)) / 4 * (1 + mpf("5e-13"))
    print(repr(float(v)))' 2>/dev/null); do
		rcli rpush "$k:results" "$(forge "$id" "$i" "$v")" >/dev/null
		i=$((i + 1))
	done
	if [ "$i" -eq 4 ]; then
		expect coord 1 $c "fails the exact check"
	else
		echo "  skip: needs python3 with mpmath for the exact chunk sums"; kill $c; wait $c 2>/dev/null
	fi
}

redis_start
for s in "${@:-redis-restart coord-restart stopped-worker forged-result}"; do
	for s1 in $s; do
		rcli flushall >/dev/null
		case $s1 in
		redis-restart) redis_restart ;;
		coord-restart) coord_restart ;;
		stopped-worker) stopped_worker ;;
		forged-result) forged_result ;;
		*) echo "unknown scenario $s1 (want redis-restart, coord-restart, stopped-worker or forged-result)"; exit 2 ;;
		esac
	done
done
exit $failed
