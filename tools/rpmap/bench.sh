#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap against its peers on one generated text file (125 MB; 32 MB with
# --quick): rpmap gzip vs pigz, rpmap upper vs GNU parallel --pipe and serial
# tr. Prints a table, then one JSON line per run (bench/ schema), then the
# targets as met/missed. Best wall time of 3 runs (1 with --quick); outputs
# are checked (gzip -t and round trip; upper against tr). Never asserts:
# timings on a shared machine are information, not a test.
#
# Usage: tools/rpmap/bench.sh [--quick] BUILD_DIR
set -euo pipefail

quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
[ $# -eq 1 ] || { echo "usage: $0 [--quick] BUILD_DIR" >&2; exit 2; }
B=$1/tools/rpmap
RPMAP=$B/rpmap
GENTEXT=$B/rpmap-gentext
[ -x "$RPMAP" ] && [ -x "$GENTEXT" ] || { echo "build first: ninja -C $1" >&2; exit 2; }
size=$((quick ? 32 * 1000 * 1000 : 125 * 1000 * 1000))
runs=$((quick ? 1 : 3))
workers=$(nproc)
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

"$GENTEXT" "$size" > "$T/in"
tr a-z A-Z < "$T/in" > "$T/upper.want"

# measure NAME CMD...: best of $runs; sets wall, cpu (user+sys of the
# command and its children), and keeps the last run's stderr in $T/NAME.err.
measure() {
	local name=$1 best='' bcpu='' t0 t1 w c
	shift
	for _ in $(seq "$runs"); do
		TIMEFORMAT='%3U %3S'
		t0=$(date +%s%N)
		{ time "$@" 2> "$T/$name.err"; } 2> "$T/$name.time"
		t1=$(date +%s%N)
		w=$(( t1 - t0 ))
		c=$(awk '{ printf "%.3f", $1 + $2 }' "$T/$name.time")
		if [ -z "$best" ] || [ "$w" -lt "$best" ]; then best=$w; bcpu=$c; fi
	done
	wall=$(awk -v n="$best" 'BEGIN { printf "%.3f", n / 1e9 }')
	cpu=$bcpu
}

rows=()
json=()
declare -A MBS SIZE

# record WORKLOAD IMPL WORKERS OUTFILE [rpmap]: one table row and JSON line.
record() {
	local wl=$1 impl=$2 nw=$3 outf=$4 isrp=${5:-}
	local mbs out ratio tasks=null tps=null p50=null p99=null p999=null sys=null
	mbs=$(awk -v b="$size" -v s="$wall" 'BEGIN { printf "%.1f", b / 1e6 / s }')
	out=$(stat -c %s "$outf")
	ratio=$(awk -v o="$out" -v b="$size" 'BEGIN { printf "%.4f", o / b }')
	if [ -n "$isrp" ]; then
		# From rpmap --stats: tasks, latency percentiles, futex syscalls.
		tasks=$(sed -n 's/^rpmap: [0-9]* records ([0-9]* failed) in \([0-9]*\) tasks.*/\1/p' "$T/$impl.err")
		read -r p50 p99 p999 < <(sed -n 's/^rpmap: pool: latency p50 \([0-9.]*\) us, p99 \([0-9.]*\) us, p99.9 \([0-9.]*\) us.*/\1 \2 \3/p' "$T/$impl.err" |
			awk '{ printf "%d %d %d\n", $1 * 1000, $2 * 1000, $3 * 1000 }')
		sys=$(sed -n 's/^rpmap: pool: futex waits\/wakes parent \([0-9]*\)\/\([0-9]*\), workers \([0-9]*\)\/\([0-9]*\).*/\1 \2 \3 \4/p' "$T/$impl.err" |
			awk -v t="$tasks" '{ printf "%.3f", ($1 + $2 + $3 + $4) / t }')
		tps=$(awk -v t="$tasks" -v s="$wall" 'BEGIN { printf "%.0f", t / s }')
	fi
	MBS[$impl]=$mbs
	SIZE[$impl]=$out
	rows+=("$(printf '%-8s %-34s %3s %9s %8s %8s %8s %8s' "$wl" "$impl" "$nw" "$wall" "$cpu" "$mbs" "$ratio" "$tasks")")
	json+=("{\"workload\":\"$wl\",\"impl\":\"$impl\",\"workers\":$nw,\"payload_bytes\":$size,\"tasks\":$tasks,\"tasks_per_s\":$tps,\"p50_ns\":$p50,\"p99_ns\":$p99,\"p999_ns\":$p999,\"cpu_s\":$cpu,\"syscalls_per_task\":$sys,\"extra\":{\"mb_per_s\":$mbs,\"wall_s\":$wall,\"out_bytes\":$out,\"out_ratio\":$ratio,\"runs\":$runs${isrp:+,\"syscalls_counted\":\"futex waits+wakes, parent and workers\"}}}")
}

check_gz() {
	gzip -t "$1" && gzip -dc "$1" | cmp -s - "$T/in" || { echo "bench: $1 does not decompress to the input" >&2; exit 1; }
}

# ---- gzip ----
measure "rpmap-gzip-6" "$RPMAP" -j "$workers" --stats --no-progress gzip:6 -i "$T/in" -o "$T/rp.gz"
check_gz "$T/rp.gz"
record gzip "rpmap-gzip-6" "$workers" "$T/rp.gz" rpmap
measure "rpmap-gzip-6-block512k" "$RPMAP" -j "$workers" --stats --no-progress --block 512k gzip:6 -i "$T/in" -o "$T/rp512.gz"
check_gz "$T/rp512.gz"
record gzip "rpmap-gzip-6-block512k" "$workers" "$T/rp512.gz" rpmap
if command -v pigz > /dev/null; then
	measure "pigz-p2-6" sh -c 'pigz -p 2 -6 < "$1" > "$2"' sh "$T/in" "$T/pigz.gz"
	check_gz "$T/pigz.gz"
	record gzip "pigz-p2-6" 2 "$T/pigz.gz"
fi

# ---- upper ----
measure "rpmap-upper" "$RPMAP" -j "$workers" --stats --no-progress upper -i "$T/in" -o "$T/rp.up"
cmp -s "$T/rp.up" "$T/upper.want" || { echo "bench: rpmap upper output differs from tr" >&2; exit 1; }
record upper "rpmap-upper" "$workers" "$T/rp.up" rpmap
measure "tr-serial" sh -c 'tr a-z A-Z < "$1" > "$2"' sh "$T/in" "$T/tr.up"
record upper "tr-serial" 1 "$T/tr.up"
if command -v parallel > /dev/null; then
	measure "parallel-pipe-keep-order-tr" sh -c 'parallel --will-cite --pipe --keep-order tr a-z A-Z < "$1" > "$2"' sh "$T/in" "$T/par.up"
	cmp -s "$T/par.up" "$T/upper.want" || { echo "bench: parallel output differs from tr" >&2; exit 1; }
	record upper "parallel-pipe-keep-order-tr" "$workers" "$T/par.up"
fi

printf '\nrpmap bench: %s MB of generated text, %s CPUs, best of %s; load average %s\n' \
	"$((size / 1000000))" "$workers" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-34s %3s %9s %8s %8s %8s %8s\n' workload impl j wall_s cpu_s MB/s out/in tasks
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${json[@]}"
echo

target() {	# target TEXT CONDITION-EXPR
	if awk "BEGIN { exit !($2) }"; then echo "target met:    $1"; else echo "target missed: $1"; fi
}
rg=${MBS[rpmap-gzip-6]} pz=${MBS[pigz-p2-6]:-0}
if [ "$pz" != 0 ]; then
	sr=$(awk -v a="${SIZE[rpmap-gzip-6]}" -v b="${SIZE[pigz-p2-6]}" 'BEGIN { printf "%+.2f", (a / b - 1) * 100 }')
	sr5=$(awk -v a="${SIZE[rpmap-gzip-6-block512k]}" -v b="${SIZE[pigz-p2-6]}" 'BEGIN { printf "%+.2f", (a / b - 1) * 100 }')
	target "rpmap gzip:6 throughput >= pigz -p 2 -6 ($rg vs $pz MB/s)" "$rg >= $pz"
	target "rpmap gzip:6 size within 2% of pigz ($sr%; --block 512k: $sr5%)" "$sr <= 2"
fi
up=${MBS[rpmap-upper]} tr=${MBS[tr-serial]} par=${MBS[parallel-pipe-keep-order-tr]:-0}
[ "$par" != 0 ] && target "rpmap upper >= 10x parallel --pipe --keep-order ($up vs $par MB/s, $(awk -v a="$up" -v b="$par" 'BEGIN { printf "%.1fx", a / b }'))" "$up >= 10 * $par"
target "rpmap upper >= 1.5x serial tr ($up vs $tr MB/s, $(awk -v a="$up" -v b="$tr" 'BEGIN { printf "%.2fx", a / b }'))" "$up >= 1.5 * $tr"
