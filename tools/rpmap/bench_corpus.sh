#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap against the tools it replaces, on the real-text corpus
# (bench/corpus.sh: licenses, Perl, Python, C headers from this system; not
# generated text), with issue 15's targets: gzip:6 vs pigz -6, zstd:3 vs
# zstd -T -3 (speed, size), gunzip vs pigz -d and gzip -d and one rpmap
# worker, unzstd vs zstd -d, --pipe vs parallel --pipe --keep-order (same
# command, same 1 MiB chunks). Each pair runs in turn, RUNS times (best
# wall time), in one invocation, so the ratios come from the same run;
# peak RSS is the largest process's (GNU time %M). Timed runs write to
# /dev/null; one more run writes files, which are checked and sized.
# Never asserts: timings on a shared machine are information. Prints a
# table, one JSON line per run in the bench/ schema (the benchmark driver,
# bench/driver/run_all.py, runs it as rpmap_corpus: a "task" is one pass
# over the corpus, impl "ringpool" is rpmap), and the targets, met or missed.
#
# Usage: tools/rpmap/bench_corpus.sh BUILD_DIR [MB [RUNS]]   (128 MiB, 3 runs)
#        tools/rpmap/bench_corpus.sh [--quick] --build BUILD_DIR   (quick: 32 MiB, 1 run)
set -euo pipefail
build='' mb=128 runs=3 pos=()
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mb=32 runs=1; shift ;;
	--build) build=$2; shift 2 ;;
	*) pos+=("$1"); shift ;;
	esac
done
build=${pos[0]:-$build} mb=${pos[1]:-$mb} runs=${pos[2]:-$runs}
[ -n "$build" ] || { echo "usage: $0 BUILD_DIR [MB [RUNS]] | [--quick] --build BUILD_DIR" >&2; exit 2; }
R=$build/tools/rpmap/rpmap
j=${RPMAP_BENCH_J:-2}
[ -x "$R" ] || { echo "build first: ninja -C $1" >&2; exit 2; }
for t in pigz zstd parallel gzip /usr/bin/time; do
	command -v "$t" > /dev/null || { echo "bench: $t not installed" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-corpus.XXXXXX")
trap 'rm -rf "$T"' EXIT
here=$(cd "$(dirname "$0")/../.." && pwd)
size=$(bash "$here/bench/corpus.sh" "$T/in" "$mb" 2> /dev/null)

declare -A WALL RSS OUT
# run NAME IN OUT CMD...: CMD < IN > OUT. OUT /dev/null: timed (best wall
# time of the runs, largest peak RSS); a file: the output to check and size.
# Timed runs write to /dev/null: writing 128 MiB to a file on this VM costs
# a noisy writeback wait that would drown the tools' own differences.
run() {
	local name=$1 in=$2 out=$3 w m
	shift 3	# wall: date around GNU time (its %e has 10 ms steps)
	if [ "$out" != /dev/null ]; then
		"$@" < "$in" > "$out" 2> "$T/$name.err"
		OUT[$name]=$(stat -c %s "$out")
		return
	fi
	local t0 t1
	t0=$(date +%s%N)
	/usr/bin/time -f '%M' -o "$T/time" "$@" < "$in" > /dev/null 2> "$T/$name.err"
	t1=$(date +%s%N)
	w=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.3f", n / 1e9 }')
	read -r m < "$T/time"
	if [ -z "${WALL[$name]:-}" ] || awk -v a="$w" -v b="${WALL[$name]}" 'BEGIN { exit !(a < b) }'
	then WALL[$name]=$w; fi
	[ "${RSS[$name]:-0}" -ge "$m" ] || RSS[$name]=$m
}
check() { cmp -s "$1" "$T/in" || { echo "bench: $2 does not give the input back" >&2; exit 1; }; }

# all SUFFIX: every pair once, outputs to $T/NAME.SUFFIX (or /dev/null).
all() {
	local o=$1
	o() { [ "$o" = null ] && echo /dev/null || echo "$T/$1.$o"; }
	run rpmap-gzip-6 "$T/in" "$(o rp.gz)" "$R" -j "$j" --no-progress gzip:6
	run pigz-6 "$T/in" "$(o pigz.gz)" pigz -p "$j" -6
	run rpmap-zstd-3 "$T/in" "$(o rp.zst)" "$R" -j "$j" --no-progress zstd:3
	run zstd-T-3 "$T/in" "$(o z.zst)" zstd -q -T"$j" -3
	run rpmap-gunzip "$T/rp.gz.f" "$(o d1)" "$R" -j "$j" --no-progress gunzip
	run rpmap-gunzip-j1 "$T/rp.gz.f" "$(o d2)" "$R" -j 1 --no-progress gunzip
	run pigz-d "$T/rp.gz.f" "$(o d3)" pigz -d -c
	run gzip-d "$T/rp.gz.f" "$(o d4)" gzip -d -c
	run rpmap-unzstd "$T/rp.zst.f" "$(o d5)" "$R" -j "$j" --no-progress unzstd
	run zstd-d "$T/rp.zst.f" "$(o d6)" zstd -q -d -c
	run rpmap-pipe-tr "$T/in" "$(o p1)" "$R" -j "$j" --no-progress --pipe 'tr a-z A-Z'
	run parallel-pipe-tr "$T/in" "$(o p2)" parallel --will-cite -j "$j" --pipe --keep-order \
		--block 1M 'tr a-z A-Z'
}
"$R" -j "$j" --no-progress gzip:6 < "$T/in" > "$T/rp.gz.f"	# the inputs of gunzip, unzstd
"$R" -j "$j" --no-progress zstd:3 < "$T/in" > "$T/rp.zst.f"
all f
for _ in $(seq "$runs"); do all null; done
gzip -t "$T/rp.gz.f"
zstd -q -t "$T/rp.zst.f"
for f in d1 d2 d3 d4 d5 d6; do check "$T/$f.f" "$f"; done
cmp -s "$T/p1.f" "$T/p2.f" || { echo "bench: --pipe and parallel outputs differ" >&2; exit 1; }

printf 'rpmap corpus bench: %s bytes of real text, -j %s, best of %s runs, load average %s\n' \
	"$size" "$j" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %8s %9s %12s %9s\n' impl wall_s MB/s out_bytes rss_KB
for k in rpmap-gzip-6 pigz-6 rpmap-zstd-3 zstd-T-3 rpmap-gunzip rpmap-gunzip-j1 pigz-d gzip-d \
	 rpmap-unzstd zstd-d rpmap-pipe-tr parallel-pipe-tr; do
	printf '%-18s %8s %9s %12s %9s\n' "$k" "${WALL[$k]}" \
		"$(awk -v b="$size" -v s="${WALL[$k]}" 'BEGIN { printf "%.1f", b / 1e6 / (s > 0 ? s : 0.01) }')" \
		"${OUT[$k]}" "${RSS[$k]}"
done
echo
# JSON (bench/ schema): one pass over the corpus is the task.
json() {	# json WORKLOAD IMPL WORKERS NAME WHAT
	awk -v wl="$1" -v impl="$2" -v w="$3" -v s="${WALL[$4]}" -v b="$size" -v o="${OUT[$4]}" \
		-v rss="${RSS[$4]}" -v what="$5" -v runs="$runs" 'BEGIN {
		printf "{\"workload\":\"%s\",\"impl\":\"%s\",\"workers\":%d,\"payload_bytes\":%d,", wl, impl, w, b
		printf "\"tasks\":1,\"tasks_per_s\":%.6f,\"extra\":{\"api\":\"%s\",\"elapsed_s\":%.3f,", 1 / s, what, s
		printf "\"gbps\":%.4f,\"out_bytes\":%d,\"peak_rss_kb\":%d,\"runs\":%d,", b / s / 1e9, o, rss, runs
		printf "\"corpus\":\"bench/corpus.sh (real text)\"}}\n" }'
}
json rpmap_gzip6 ringpool "$j" rpmap-gzip-6 "rpmap gzip:6"
json rpmap_gzip6 pigz "$j" pigz-6 "pigz -p $j -6"
json rpmap_zstd3 ringpool "$j" rpmap-zstd-3 "rpmap zstd:3"
json rpmap_zstd3 zstd "$j" zstd-T-3 "zstd -T$j -3"
json rpmap_gunzip ringpool "$j" rpmap-gunzip "rpmap gunzip"
json rpmap_gunzip ringpool 1 rpmap-gunzip-j1 "rpmap -j 1 gunzip"
json rpmap_gunzip pigz 1 pigz-d "pigz -d"
json rpmap_gunzip gzip 1 gzip-d "gzip -d"
json rpmap_unzstd ringpool "$j" rpmap-unzstd "rpmap unzstd"
json rpmap_unzstd zstd 1 zstd-d "zstd -d"
json rpmap_pipe_tr ringpool "$j" rpmap-pipe-tr "rpmap --pipe tr"
json rpmap_pipe_tr parallel "$j" parallel-pipe-tr "parallel --pipe --keep-order tr"
echo

ratio() { awk -v a="${WALL[$2]}" -v b="${WALL[$1]}" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 0.01) }'; }
size_pct() { awk -v a="${OUT[$1]}" -v b="${OUT[$2]}" 'BEGIN { printf "%+.2f%%", (a / b - 1) * 100 }'; }
target() { if awk "BEGIN { exit !($2) }"; then echo "target met:    $1"; else echo "target missed: $1"; fi; }
r=$(ratio rpmap-gzip-6 pigz-6)
target "gzip:6 >= 1.5x pigz -p $j -6: ${r}x, size $(size_pct rpmap-gzip-6 pigz-6) (<= 0)" \
	"$r >= 1.5 && ${OUT[rpmap-gzip-6]} <= ${OUT[pigz-6]}"
r=$(ratio rpmap-zstd-3 zstd-T-3)
target "zstd:3 >= 1.0x zstd -T$j -3: ${r}x, size $(size_pct rpmap-zstd-3 zstd-T-3) (within 3%)" \
	"$r >= 1.0 && ${OUT[rpmap-zstd-3]} <= 1.03 * ${OUT[zstd-T-3]}"
r=$(ratio rpmap-gunzip pigz-d)
target "gunzip >= 3x pigz -d: ${r}x (gzip -d: $(ratio rpmap-gunzip gzip-d)x)" "$r >= 3"
r=$(ratio rpmap-gunzip rpmap-gunzip-j1)
target "gunzip -j $j >= 1.8x -j 1: ${r}x" "$r >= 1.8"
echo "unzstd vs zstd -d: $(ratio rpmap-unzstd zstd-d)x"
r=$(ratio rpmap-pipe-tr parallel-pipe-tr)
target "--pipe >= 10x parallel --pipe --keep-order (tr a-z A-Z, 1 MiB chunks): ${r}x" "$r >= 10"
