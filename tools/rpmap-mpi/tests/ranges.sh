#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap-mpi against single-node rpmap, byte for byte, on 2 and 3 ranks, over
# inputs that put range boundaries everywhere they can fall: inside a record,
# a record larger than a range (ranks left empty), fewer records than ranks,
# no final separator, an empty input, one byte, NUL records, fixed blocks
# whose count is not a multiple of the ranks. identity on every input; upper,
# crc32 and two plugins (rev, and seq: the global record index as t->seq) on
# the inputs whose boundaries differ in kind; gzip (also decompressed). -o
# and stdout alternate with the ranks; one run goes over TCP on loopback.
# Each launch costs about 0.3 s here, so the matrix is chosen, not full.
# RPMAP_MPI_QUICK=1 (meson sets it in sanitizer builds, where each launch
# takes seconds): only the checks named in quick_re.
. "$(dirname "$0")/../../rpmap/tests/lib.sh"
. "$(dirname "$0")/mpilib.sh"

id_inputs="text longrec two nofinal one byte newline empty"
fn_inputs="text longrec nofinal"
gz_inputs="text longrec nofinal empty"
# Sanitizer builds: a few checks through each path (-o and stdout, empty
# ranges, a record over ranges, the global index, gzip, NUL, blocks).
quick_re='^(identity (longrec|empty)|testplug\.so:seq longrec|gzip text|-0 seq nulnofinal|--block 1000 seq)$'

"$GENTEXT" 1M > "$T/text"
{ echo a; echo bb; head -c 300000 /dev/zero | tr '\0' x; echo; echo c; } > "$T/longrec"
printf 'x\ny\n' > "$T/two"
head -c 200001 "$T/text" > "$T/nofinal"	# ends inside a line
printf 'only one record, no newline, longer than no range' > "$T/one"
printf 'z' > "$T/byte"
printf '\n' > "$T/newline"
: > "$T/empty"
tr '\n' '\0' < "$T/text" > "$T/nul"
head -c 99999 "$T/nul" > "$T/nulnofinal"
head -c 12345 "$T/text" > "$T/blk"
head -c 5000 "$T/text" > "$T/blksmall"

# check NAME N OUTPUT_MODE RPMAP_ARGS...: rpmap-mpi and rpmap, same bytes.
check() {
	local name=$1 n=$2 mode=$3 rc
	shift 3
	rm -f "$T/out"
	[ "${RPMAP_MPI_QUICK:-0}" = 1 ] && ! [[ $name =~ $quick_re ]] && return
	set +e
	if [ "$mode" = o ]; then
		mrun "$n" "$@" -o "$T/out" 2> "$T/err"
	else
		mrun "$n" "$@" > "$T/out" 2> "$T/err"
	fi
	rc=$?
	"$RPMAP" "$@" > "$T/want" 2> /dev/null
	set -e
	if [ "$rc" != 0 ]; then
		fail "$name, $n ranks, -$mode: exit $rc: $(head -c 300 "$T/err")"
		return
	fi
	same "$T/want" "$T/out" "$name, $n ranks ($mode)"
}

for f in $id_inputs; do
	check "identity $f" 2 o identity -i "$T/$f"
	check "identity $f" 3 s identity -i "$T/$f"
done
# A function on each kind of boundary: ranges ending inside lines (text),
# a record over several ranges (longrec), no final newline (nofinal).
n=2
for f in $fn_inputs; do
	for fn in upper crc32 "$REV_SO:rev" "$TESTPLUG_SO:seq"; do
		n=$((5 - n))	# 3, 2, 3, ...: each function on both counts
		mode=$([ "$n" = 3 ] && echo o || echo s)
		check "$(basename "$fn") $f" "$n" "$mode" "$fn" -i "$T/$f"
	done
	n=$((5 - n))	# and each on both counts over the inputs
done
check "seq two (fewer records than ranks)" 3 s "$TESTPLUG_SO:seq" -i "$T/two"
check "-0 identity nul" 3 o -0 identity -i "$T/nul"
check "-0 crc32 nulnofinal" 2 s -0 crc32 -i "$T/nulnofinal"
check "-0 seq nulnofinal" 3 s -0 "$TESTPLUG_SO:seq" -i "$T/nulnofinal"
check "--block 1000 identity" 3 o --block 1000 identity -i "$T/blk"
check "--block 1000 seq" 2 s --block 1000 "$TESTPLUG_SO:seq" -i "$T/blk"
check "--block 4k crc32 (fewer blocks than ranks)" 3 s --block 4k crc32 -i "$T/blksmall"

# gzip: its blocks line up with the ranges, so the bytes are the same too.
n=2
for f in $gz_inputs; do
	n=$((5 - n))
	check "gzip $f" "$n" o gzip -i "$T/$f"
	[ -f "$T/out" ] && gzip -dc "$T/out" > "$T/dec" &&
		same "$T/$f" "$T/dec" "gzip $f, $n ranks: decompressed"
done
check "gzip:1 --lines" 3 s gzip:1 --lines -i "$T/text"
[ -f "$T/out" ] && gzip -dc "$T/out" > "$T/dec" &&
	same "$T/text" "$T/dec" "gzip --lines, 3 ranks: decompressed"
# Blocks smaller than a range, so every rank has some: BGZF's end-of-file
# block comes once, at the end; zstd's frames line up as gzip's members.
check "gzip --bgzf --block 128k" 3 o gzip --bgzf --block 128k -i "$T/text"
check "zstd --block 128k" 2 s zstd --block 128k -i "$T/text"

# The ranks over TCP on loopback, as between nodes (the rest: shared memory).
OMPI_MCA_btl=self,tcp check "identity text over TCP" 3 o identity -i "$T/text"

# The record indices and byte offsets failures name are the input's own:
# the messages are rpmap's, word for word.
seq 1 3000 | sed 's/^2500$/CRASH/; s/^700$/FAIL/' > "$T/crash"
mrun 3 -k "$TESTPLUG_SO:testfn" -i "$T/crash" -o "$T/out" 2> "$T/err" && rc=0 || rc=$?
expect_rc 1 "$rc" "-k with failed records"
"$RPMAP" -k "$TESTPLUG_SO:testfn" -i "$T/crash" > "$T/want" 2> "$T/wanterr" || true
grep '^rpmap: record' "$T/err" | sort > "$T/msgs"
grep '^rpmap: record' "$T/wanterr" | sort > "$T/wantmsgs"
[ "$(wc -l < "$T/msgs")" = 2 ] && pass "-k: two failures reported" || fail "-k: $(cat "$T/msgs")"
same "$T/wantmsgs" "$T/msgs" "-k: rpmap's messages (record index, input byte)"
same "$T/want" "$T/out" "-k -o: OUT written, failed records skipped"
no_tmp "$T/out"
finish
