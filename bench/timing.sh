# timing.sh: the wall-clock helpers bench/stats.sh and bench/stats-csv.sh
# share; source it after setting tmp (a scratch directory).
#
#   timed NAME CMD...   one run of CMD: its wall time in microseconds is
#                       appended to $tmp/t.NAME, its stdout is $tmp/out.NAME
#   median FILE         the median of FILE's times, in seconds

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
timed() {
	local name=$1 t0 t1
	shift
	t0=$(now)
	"$@" >"$tmp/out.$name"
	t1=$(now)
	echo $((t1 - t0)) >>"$tmp/t.$name"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.3f", m/1e6}'; }
