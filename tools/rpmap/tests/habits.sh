#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The habits of the neighbouring tools (issue 15, points 7-9): -j 0 is every
# CPU rpmap may run on, and so is the default under taskset; time values
# take units (a bare number is milliseconds); a repeated -i is an error;
# --stats=json is one JSON object; --joblog writes one line per failed
# record (index, input byte, cause); --progress counts records, shows a
# small input's bytes, and a file's total, percentage and ETA.
. "$(dirname "$0")/lib.sh"

workers() { python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["workers"])'; }
n=$(echo hi | "$RPMAP" -j 0 --stats=json identity 2>&1 > /dev/null | workers)
[ "$n" = "$(nproc)" ] && pass "-j 0: $n workers, every CPU" || fail "-j 0: $n workers, want $(nproc)"
if command -v taskset > /dev/null; then
	n=$(echo hi | taskset -c 0 "$RPMAP" --stats=json identity 2>&1 > /dev/null | workers)
	[ "$n" = 1 ] && pass "taskset -c 0: 1 worker by default" || fail "taskset -c 0: $n workers"
	n=$(echo hi | taskset -c 0 "$RPMAP" -j 0 --stats=json identity 2>&1 > /dev/null | workers)
	[ "$n" = 1 ] && pass "taskset -c 0 -j 0: 1 worker" || fail "taskset -c 0 -j 0: $n workers"
fi

seq 1000 > "$T/in"
"$RPMAP" --stats=json identity < "$T/in" 2> "$T/err" > /dev/null
python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["records"] == 1000 and d["failed"] == 0 and d["bytes_in"] == 3893, d' "$T/err" &&
	pass "--stats=json: one JSON object, the right counts" || fail "--stats=json: $(cat "$T/err")"

# Progress: records as well as bytes, in a unit that shows a small input
# (never a bar stuck at 0 MiB), and the total and percentage of a file.
"$RPMAP" --progress identity -i "$T/in" 2> "$T/err" > /dev/null
tr '\r' '\n' < "$T/err" | tail -n 1 > "$T/last"
has "$T/last" "^rpmap: 3.8 KiB of 3.8 KiB \(100%\), 1000 records" "--progress: bytes, total, records"
"$RPMAP" --progress --pipe 'sleep 0.3' -i "$T/in" --block 1k 2> "$T/err" > /dev/null
has "$T/err" "ETA [0-9]+ s" "--progress: an ETA for a file"
cat "$T/in" | "$RPMAP" --progress identity 2> "$T/err" > /dev/null
tr '\r' '\n' < "$T/err" | tail -n 1 > "$T/last"
has "$T/last" "^rpmap: 3.8 KiB, 1000 records" "--progress from a pipe: no total"

set +e
for t in 0 -1 5x 1e400 '' ' 5' ms; do
	"$RPMAP" --timeout "$t" identity < /dev/null > /dev/null 2> "$T/err"
	expect_rc 2 $? "--timeout '$t' refused"
done
for t in 500 300ms 0.2s 1m 1h 1us; do
	"$RPMAP" --timeout "$t" identity < "$T/in" > "$T/out" 2> "$T/err"
	expect_rc 0 $? "--timeout $t accepted"
done
# Units: a command past 0.2s is killed at 200 ms.
echo x | "$RPMAP" --timeout 0.2s --pipe 'sleep 30' > /dev/null 2> "$T/err"
expect_rc 1 $? "--timeout 0.2s"
has "$T/err" "timed out after 200 ms" "--timeout 0.2s is 200 ms"
echo x | "$RPMAP" --timeout 1us --pipe 'sleep 30' > /dev/null 2> "$T/err"
has "$T/err" "timed out after 1 ms" "--timeout 1us: rounded up to 1 ms"

"$RPMAP" -i "$T/in" -i "$T/in" identity > /dev/null 2> "$T/err"
expect_rc 2 $? "a repeated -i"
has "$T/err" "-i given twice" "a repeated -i: message"

# --joblog: the failed chunks of --pipe -k, as stderr says them.
seq 1 100000 > "$T/nums"
"$RPMAP" -k --block 10k --joblog "$T/log" --pipe 'awk "/^(5000|90000)\$/ { exit 4 } { print }"' \
	< "$T/nums" > /dev/null 2> "$T/err"
expect_rc 1 $? "--joblog run"
set -e
python3 -c '
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert rows[0] == ["record", "input_byte", "cause"], rows[0]
assert len(rows) == 3, rows
nums = open(sys.argv[2], "rb").read()
for rec, off, cause in rows[1:]:
    assert cause == "command exited with status 4", cause
    start = int(off)
    assert start == 0 or nums[start - 1:start] == b"\n"
    chunk = nums[start:start + 10240]
    assert b"\n5000\n" in b"\n" + chunk or b"\n90000\n" in b"\n" + chunk, (rec, off)
' "$T/log" "$T/nums" && pass "--joblog: index, input byte, cause of each failed chunk" ||
	fail "--joblog: $(cat "$T/log")"
set +e
"$RPMAP" --joblog /nonexistent/dir/log identity < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "--joblog in a missing directory"
set -e
no_procs '^sleep 30$'
finish
