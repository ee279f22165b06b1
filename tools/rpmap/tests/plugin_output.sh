#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A plugin whose results are far larger than its records (400 times, past
# the 16 times rpmap reserves at first): every record is written, in
# order, and rpmap learns the ratio, so batches are cut to fit their
# results instead of overflowing one after another (each overflow ran the
# rest of its batch again, one task at a time, in the rerun pool: 333
# tasks for this input before). The ratio changing mid-stream, both ways,
# is fine too.
. "$(dirname "$0")/lib.sh"

# want FILE: the output `sized` gives for the numbers in FILE
want() { python3 -c '
import sys
out = sys.stdout.buffer
for line in open(sys.argv[1], "rb"):
    out.write(b"x" * int(line) + b"\n")' "$1"; }

rep() { awk -v n="$1" -v v="$2" 'BEGIN { for (i = 0; i < n; i++) print v }'; }

rep 20000 2000 > "$T/in"
want "$T/in" | cksum > "$T/want"
for mode in "" --spawn; do
	m=${mode:-fork}
	set +e
	"$RPMAP" $mode -j 2 --stats "$TESTPLUG_SO:sized" < "$T/in" 2> "$T/err" | cksum > "$T/out"
	rc=${PIPESTATUS[0]}
	set -e
	expect_rc 0 $rc "$m: results 400 times the records"
	same "$T/want" "$T/out" "$m: results 400 times the records: every one written"
	n=$(sed -n 's/.*recovery: \([0-9]*\) tasks run again.*/\1/p' "$T/err")
	[ "${n:-999}" -lt 50 ] && pass "$m: batches cut to fit their results ($n run again)" ||
		fail "$m: $n tasks run again: batches overflow their results"
done

{ rep 5000 10; rep 5000 3000; rep 20000 1; rep 50 70000; } > "$T/in"
want "$T/in" | cksum > "$T/want"
"$RPMAP" -j 3 "$TESTPLUG_SO:sized" < "$T/in" | cksum > "$T/out"
same "$T/want" "$T/out" "results 1 to 7000 times the records, changing mid-stream"
"$RPMAP" -j 2 -u "$TESTPLUG_SO:sized" < "$T/in" | sort | uniq -c | awk '{ print $1, length($2) }' > "$T/out"
sort -n "$T/in" | uniq -c | awk '{ print $1, $2 }' | sort > "$T/want"
sort "$T/out" -o "$T/out"
same "$T/want" "$T/out" "--unordered: the same results"
finish
