#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Single-thread speed and size of rpmap's codec modules (through codectool,
# one 128 KiB block per member or frame, as the built-ins cut them) against
# the reference tools on one thread, on the real-text corpus of
# bench/corpus.sh. Every command reads the corpus from the page cache and
# writes a file (or /dev/null when decoding); best wall time of RUNS (2),
# with that run's CPU time.
# Outputs are checked by decoding them back. Never asserts: on a shared
# machine timings are information, not a test.
# Usage: tools/rpmap/bench_codecs.sh BUILD_DIR [MB] [RUNS]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [MB] [RUNS]" >&2; exit 2; }
C=$1/tools/rpmap/tests/rpmap-codectool
[ -x "$C" ] || { echo "build first: ninja -C $1" >&2; exit 2; }
mb=${2:-128}
runs=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-codecs-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

size=$(bash "$here/../../bench/corpus.sh" "$T/in" "$mb")
# The slow levels (zstd 19, libdeflate 10-12) run on the first 32 MiB.
head -c $((32 << 20)) "$T/in" > "$T/in32"
size32=$(stat -c %s "$T/in32")

# measure IN OUT CMD...: best wall seconds of $runs into $wall, and that
# run's CPU seconds (user + sys) into $cpu: on a shared machine CPU time
# is the steadier of the two.
measure() {
	local in=$1 out=$2 best='' t0 t1 c bc=''
	shift 2
	for _ in $(seq "$runs"); do
		TIMEFORMAT='%3U %3S'
		t0=$(date +%s%N)
		{ time "$@" < "$in" > "$out"; } 2> "$T/time"
		t1=$(date +%s%N)
		c=$(awk '{ printf "%.3f", $1 + $2 }' "$T/time")
		if [ -z "$best" ] || [ $((t1 - t0)) -lt "$best" ]; then best=$((t1 - t0)); bc=$c; fi
	done
	wall=$(awk -v n="$best" 'BEGIN { printf "%.3f", n / 1e9 }')
	cpu=$bc
}

printf '%-10s %-30s %8s %8s %12s %7s\n' job implementation "MB/s" "MB/cpu-s" bytes ratio
# row JOB IMPL BYTES_PROCESSED OUTFILE
row() {
	local out
	out=$(stat -c %s "$4")
	printf '%-10s %-30s %8.1f %8.1f %12d %7.4f\n' "$1" "$2" \
		"$(awk -v b="$3" -v s="$wall" 'BEGIN { print b / 1e6 / s }')" \
		"$(awk -v b="$3" -v s="$cpu" 'BEGIN { print (s > 0 ? b / 1e6 / s : 0) }')" \
		"$out" "$(awk -v o="$out" -v b="$3" 'BEGIN { print o / b }')"
}
# check OUTFILE DECODER ORIGINAL: the output decodes back
check() { $2 < "$1" | cmp -s - "$3" || echo "!! $1 does not decode back with $2" >&2; }

for lv in 1 6 9; do
	measure "$T/in" "$T/pigz$lv.gz" pigz -p 1 -$lv
	row "gzip -$lv" "pigz -p 1 -$lv" "$size" "$T/pigz$lv.gz"
	measure "$T/in" "$T/gzip$lv.gz" gzip -$lv
	row "gzip -$lv" "gzip -$lv" "$size" "$T/gzip$lv.gz"
	measure "$T/in" "$T/ours$lv.gz" "$C" gzip -l $lv
	row "gzip -$lv" "libdeflate $lv (128k members)" "$size" "$T/ours$lv.gz"
	check "$T/ours$lv.gz" "gzip -dc" "$T/in"
done
for lv in 6 9; do
	measure "$T/in" "$T/o.gz" "$C" gzip -l $lv -b 1M
	row "gzip -$lv" "libdeflate $lv (1M members)" "$size" "$T/o.gz"
done
measure "$T/in" "$T/bgzf.gz" "$C" gzip --bgzf -l 6
row "gzip -6" "libdeflate 6 --bgzf (64k)" "$size" "$T/bgzf.gz"
measure "$T/in" "$T/bgzip.gz" bgzip -@ 1 -l 6 -c
row "gzip -6" "bgzip -l 6" "$size" "$T/bgzip.gz"
for lv in 2 3 4 5 7 8; do
	measure "$T/in" "$T/o.gz" "$C" gzip -l $lv
	row "levels" "libdeflate $lv" "$size" "$T/o.gz"
	measure "$T/in" "$T/o.gz" pigz -p 1 -$lv
	row "levels" "pigz -p 1 -$lv" "$size" "$T/o.gz"
done
for lv in 9 10 11 12; do
	measure "$T/in32" "$T/o.gz" "$C" gzip -l $lv
	row "levels32M" "libdeflate $lv" "$size32" "$T/o.gz"
done
measure "$T/in32" "$T/o.gz" pigz -p 1 -9
row "levels32M" "pigz -p 1 -9" "$size32" "$T/o.gz"

for lv in 1 3; do
	measure "$T/in" "$T/zstd$lv.zst" zstd -q -T1 -$lv -c
	row "zstd -$lv" "zstd -T1 -$lv" "$size" "$T/zstd$lv.zst"
	measure "$T/in" "$T/ours$lv.zst" "$C" zstd -l $lv
	row "zstd -$lv" "libzstd $lv (128k frames)" "$size" "$T/ours$lv.zst"
	check "$T/ours$lv.zst" "zstd -q -dc" "$T/in"
done
for lv in 1 3; do
	measure "$T/in" "$T/o.zst" "$C" zstd -l $lv -b 4M
	row "zstd -$lv" "libzstd $lv (4M frames)" "$size" "$T/o.zst"
done
measure "$T/in32" "$T/zstd19.zst" zstd -q -T1 -19 -c
row "zstd -19" "zstd -T1 -19 (32M)" "$size32" "$T/zstd19.zst"
measure "$T/in32" "$T/ours19.zst" "$C" zstd -l 19
row "zstd -19" "libzstd 19 (32M, 128k)" "$size32" "$T/ours19.zst"
measure "$T/in32" "$T/ours19m.zst" "$C" zstd -l 19 -b 4M
row "zstd -19" "libzstd 19 (32M, 4M)" "$size32" "$T/ours19m.zst"

# Decoding: MB/s of output. Ours: the member decoder on our own gzip -6
# (libdeflate) and on pigz's (a single member: the serial path, zlib).
for dec in "gzip -dc" "pigz -dc" "pigz -p 1 -dc" "$C unsplit" "$C serial"; do
	# shellcheck disable=SC2086
	measure "$T/ours6.gz" /dev/null $dec
	row "gunzip" "${dec/$C/ours} (our -6)" "$size" "$T/in"
done
measure "$T/pigz6.gz" /dev/null "$C" unsplit
row "gunzip" "ours unsplit (pigz -6)" "$size" "$T/in"
measure "$T/pigz6.gz" /dev/null pigz -dc
row "gunzip" "pigz -dc (pigz -6)" "$size" "$T/in"
for dec in "zstd -q -T1 -dc" "$C unsplit" "$C serial"; do
	# shellcheck disable=SC2086
	measure "$T/ours3.zst" /dev/null $dec
	row "unzstd" "${dec/$C/ours} (our -3)" "$size" "$T/in"
done
echo "(decoding rows: MB/s of output; their bytes/ratio columns are the original's)"
echo "corpus: $size bytes (bench/corpus.sh $mb); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
