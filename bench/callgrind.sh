#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions per tiny task in the parent and in the worker, from two
# callgrind runs of bench/cg_tiny (N1 and N2 tasks): (Ir(N2) - Ir(N1)) /
# (N2 - N1) per process, so start-up and teardown cancel out. Instruction
# counts do not depend on the machine's load.
# With BURST > 0, the same through rp_submit_burst / rp_next_burst, BURST at
# a time.
# Usage: bench/callgrind.sh [BUILD_DIR] [N1] [N2] [BURST]
set -euo pipefail
build=${1:-build-release}
n1=${2:-100000}
n2=${3:-200000}
burst=${4:-0}
exe=$build/bench/cg_tiny
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$exe" ] || { echo "callgrind.sh: $exe not built" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Total Ir of the parent (the pid valgrind started) and of the worker(s).
count() {
	local n=$1 out=$dir/$1
	mkdir -p "$out"
	RINGPOOL_NO_URING=1 valgrind --tool=callgrind --trace-children=yes \
		--callgrind-out-file="$out/cg.%p" "$exe" "$n" 1 "$burst" >/dev/null 2>"$out/log"
	local parent
	parent=$(grep -m1 -o '^==[0-9]*==' "$out/log" | tr -d '=')
	local p=0 w=0
	for f in "$out"/cg.*; do
		local ir pid=${f##*.}
		ir=$(awk '/^summary:/ {print $2}' "$f")
		if [ "$pid" = "$parent" ]; then p=$((p + ir)); else w=$((w + ir)); fi
	done
	echo "$p $w"
}
read -r p1 w1 < <(count "$n1")
read -r p2 w2 < <(count "$n2")
awk -v p1="$p1" -v p2="$p2" -v w1="$w1" -v w2="$w2" -v n1="$n1" -v n2="$n2" -v burst="$burst" 'BEGIN {
	printf "instructions per tiny task (callgrind, %d vs %d tasks, burst %d): parent %.0f, worker %.0f\n",
		n1, n2, burst, (p2 - p1) / (n2 - n1), (w2 - w1) / (n2 - n1)
	printf "{\"workload\": \"callgrind_tiny\", \"burst\": %d, \"parent_ir_per_task\": %.1f, \"worker_ir_per_task\": %.1f}\n",
		burst, (p2 - p1) / (n2 - n1), (w2 - w1) / (n2 - n1)
}'
