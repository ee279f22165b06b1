#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap-mpi against single-node rpmap, byte for byte, on 2 and 3 ranks, over
# inputs that put range boundaries everywhere they can fall: inside a record,
# a record larger than a range (ranks left empty), fewer records than ranks,
# no final separator, an empty input, one byte, NUL records, fixed blocks
# whose count is not a multiple of the ranks. identity on every input; upper,
# crc32, two plugins (rev, and seq: the global record index as t->seq) and
# gzip (also decompressed) on most. -o and stdout alternate with the ranks.
# RPMAP_MPI_QUICK=1 (meson sets it in sanitizer builds, where each launch
# takes seconds): 3 ranks only, and fewer inputs per function.
. "$(dirname "$0")/../../rpmap/tests/lib.sh"
. "$(dirname "$0")/mpilib.sh"

id_inputs="text longrec two nofinal one byte newline empty"
fn_inputs="text longrec two nofinal empty"
gz_inputs="text longrec nofinal empty"
if [ "${RPMAP_MPI_QUICK:-0}" = 1 ]; then
	id_inputs="longrec two nofinal empty"
	fn_inputs="longrec"
	gz_inputs="text empty"
fi

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
	[ "${RPMAP_MPI_QUICK:-0}" = 1 ] && [ "$n" != 3 ] && return
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
for f in $fn_inputs; do
	for fn in upper crc32 "$REV_SO:rev" "$TESTPLUG_SO:seq"; do
		check "$(basename "$fn") $f" 2 s "$fn" -i "$T/$f"
		check "$(basename "$fn") $f" 3 o "$fn" -i "$T/$f"
	done
done
for f in nul nulnofinal; do
	check "-0 identity $f" 3 o -0 identity -i "$T/$f"
	check "-0 crc32 $f" 2 s -0 crc32 -i "$T/$f"
	check "-0 seq $f" 3 s -0 "$TESTPLUG_SO:seq" -i "$T/$f"
done
check "--block 1000 identity" 3 o --block 1000 identity -i "$T/blk"
check "--block 1000 seq" 2 s --block 1000 "$TESTPLUG_SO:seq" -i "$T/blk"
check "--block 4k crc32 (fewer blocks than ranks)" 3 s --block 4k crc32 -i "$T/blksmall"
check "--block 4k upper" 2 o --block 4k upper -i "$T/blksmall"

# gzip: 128k blocks line up with the ranges, so the bytes are the same too.
for f in $gz_inputs; do
	for n in 2 3; do
		check "gzip $f" "$n" o gzip -i "$T/$f"
		[ -f "$T/out" ] && gzip -dc "$T/out" > "$T/dec" &&
			same "$T/$f" "$T/dec" "gzip $f, $n ranks: decompressed"
	done
done
check "gzip:1 --lines" 3 s gzip:1 --lines -i "$T/text"
gzip -dc "$T/out" > "$T/dec" && same "$T/text" "$T/dec" "gzip --lines, 3 ranks: decompressed"

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
