#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap's quick start: generate 256 MiB of deterministic text, compress it
# with rpmap gzip on every CPU and on one worker, check the result with
# gunzip -t, and print both throughputs.
#
# Usage: tools/rpmap/demo.sh [BUILD_DIR [SIZE]]   (defaults: build 256M)
# About 20 s on two idle cores.
set -euo pipefail

BUILD=${1:-build}
SIZE=${2:-256M}
[ -f "$BUILD/build.ninja" ] || { echo "configure first: meson setup $BUILD" >&2; exit 2; }
ninja -C "$BUILD" tools/rpmap/rpmap tools/rpmap/rpmap-gentext > /dev/null
RPMAP=$BUILD/tools/rpmap/rpmap
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT

"$BUILD/tools/rpmap/rpmap-gentext" "$SIZE" > "$T/text"
mb=$(awk -v b="$(stat -c %s "$T/text")" 'BEGIN { printf "%.1f", b / 1e6 }')

run() {	# run WORKERS OUT: prints the wall time in seconds
	local t0 t1
	t0=$(date +%s%N)
	"$RPMAP" -j "$1" --no-progress gzip -i "$T/text" -o "$2"
	t1=$(date +%s%N)
	awk -v n=$((t1 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }'
}

n=$(nproc)
echo "rpmap demo: gzip of $mb MB of generated text (4064 KiB blocks, level 6, libdeflate)"
all=$(run "$n" "$T/all.gz")
gunzip -t "$T/all.gz"
gunzip -c "$T/all.gz" | cmp -s - "$T/text" || { echo "round trip FAILED" >&2; exit 1; }
one=$(run 1 "$T/one.gz")
cmp -s "$T/all.gz" "$T/one.gz" || { echo "outputs differ between -j $n and -j 1" >&2; exit 1; }
awk -v mb="$mb" -v a="$all" -v o="$one" -v n="$n" -v z="$(stat -c %s "$T/all.gz")" 'BEGIN {
	printf "  %2d workers: %6.2f s  %7.1f MB/s\n", n, a, mb / a
	printf "   1 worker:  %6.2f s  %7.1f MB/s\n", o, mb / o
	printf "  speed-up %.2fx; output %.1f MB (%.1f%%), gunzip -t ok, identical for any -j\n",
		o / a, z / 1e6, z / 1e4 / mb
}'
