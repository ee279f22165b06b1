#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --timeout MS: a record that runs longer than MS fails with "timed out
# after MS ms" naming its index, whatever else shares its task; exit 1,
# with every result before it written, or with --keep-going every other
# record in order. Records that only add up to more than MS in one task do
# not fail, and their task is not killed: the batch task marks each record
# (rp_task_mark), which restarts the library's deadline. A record past the
# limit while rpmap is blocked writing (so the library cannot kill it) is
# measured by its worker and fails the same way.
. "$(dirname "$0")/lib.sh"

P=$TESTPLUG_SO:sleepy
seq 1 40 | sed 's/^13$/SLEEP5000/' > "$T/sleep"
seq 1 40 | sed 's/^13$/SPIN5000/' > "$T/spin"
run() { set +e; "$RPMAP" "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

for j in 1 2 3; do
	run -j $j --timeout 300 "$P" < "$T/sleep"
	expect_rc 1 $rc "sleeping record -j$j"
	has "$T/err" "^rpmap: record 12 \(input byte 27\): timed out after 300 ms$" "sleeping record -j$j: named"
	[ "$(wc -l < "$T/err")" = 1 ] && pass "sleeping record -j$j: one message" || fail "stderr: $(cat "$T/err")"
	head -12 "$T/sleep" > "$T/want"
	same "$T/want" "$T/out" "sleeping record -j$j: every result before it"

	run -j $j -k --timeout 300 "$P" < "$T/sleep"
	expect_rc 1 $rc "sleeping record -k -j$j"
	has "$T/err" "record 12 .*timed out after 300 ms, skipped" "sleeping record -k -j$j: reported"
	grep -v SLEEP "$T/sleep" > "$T/want"
	same "$T/want" "$T/out" "sleeping record -k -j$j: all other records, in order"
done

# A record that spins (SIGKILL does not care), in one task with others.
run -k --chunk 40 --timeout 300 --stats "$P" < "$T/spin"
expect_rc 1 $rc "spinning record in a 40-record task"
has "$T/err" "record 12 .*timed out after 300 ms, skipped" "spinning record: named"
has "$T/err" "killed for the deadline [1-9]" "spinning record: the worker was killed"
grep -v SPIN "$T/spin" > "$T/want"
same "$T/want" "$T/out" "spinning record: all other records, in order"

# Two slow records in one task, and --unordered.
seq 1 60 | sed 's/^5$/SLEEP5000/; s/^31$/SPIN5000/' > "$T/two"
run -k --chunk 60 --timeout 300 "$P" < "$T/two"
expect_rc 1 $rc "two slow records in one task"
has "$T/err" "record 4 .*timed out after 300 ms" "two slow records: the first"
has "$T/err" "record 30 .*timed out after 300 ms" "two slow records: the second"
grep -Ev 'SLEEP|SPIN' "$T/two" > "$T/want"
same "$T/want" "$T/out" "two slow records: all other records, in order"
run -u -k --timeout 300 "$P" < "$T/two"
expect_rc 1 $rc "two slow records --unordered"
sort -n "$T/out" > "$T/out.sorted"
sort -n "$T/want" > "$T/want.sorted"
same "$T/want.sorted" "$T/out.sorted" "two slow records --unordered: same records"

# 64 records of 10 ms in tasks of 32 (320 ms each) under a 150 ms limit:
# no record ran past the limit, and the deadline is per record, so no task
# is killed. (Before rp_task_mark the deadline was per task: these tasks
# were killed and their records run again. The limit is on wall-clock
# time: the margin, 140 ms, is for a loaded machine.)
for i in $(seq 1 64); do echo "r$i SLEEP10"; done > "$T/sum"
run --chunk 32 --timeout 150 --stats "$P" < "$T/sum"
expect_rc 0 $rc "tasks over the limit, records under it"
same "$T/sum" "$T/out" "tasks over the limit: every record written"
has "$T/err" "killed for the deadline 0," "tasks over the limit: no task was killed"
has "$T/err" "\(0 failed\)" "tasks over the limit: no record failed"

# rpmap blocked writing for 3 s (the reader sleeps; 300 KB of output) while
# a record sleeps 600 ms under a 300 ms limit: if its task was in flight,
# the library cannot kill it and its worker measures it; if the adaptive
# per-worker limit kept the task back until rpmap came back, the library
# kills it at the deadline. Either way the record is named and skipped.
{ for i in $(seq 1 3000); do printf '%099d\n' "$i"; done; echo SLEEP600; echo last; } > "$T/blocked"
set +e
"$RPMAP" -k --stats --chunk 200 --timeout 300 "$P" < "$T/blocked" 2> "$T/err" |
	{ sleep 3; cat > "$T/out"; }
rc=${PIPESTATUS[0]}
set -e
expect_rc 1 "$rc" "slow record while rpmap is blocked writing"
has "$T/err" "record 3000 .*timed out after 300 ms, skipped" "blocked writer: record named"
has "$T/err" "killed for the deadline [0-9]*," "blocked writer: measured or killed"
grep -v SLEEP "$T/blocked" > "$T/want"
same "$T/want" "$T/out" "blocked writer: all other records, in order"

# Built-ins: without slow records nothing changes.
"$GENTEXT" 1M > "$T/text"
"$RPMAP" --timeout 1000 crc32 < "$T/text" > "$T/out"
"$RPMAP" crc32 < "$T/text" > "$T/want"
same "$T/want" "$T/out" "crc32 with --timeout"
"$RPMAP" --timeout 1000 gzip < "$T/text" | gzip -dc > "$T/out"
same "$T/text" "$T/out" "gzip with --timeout"

run --timeout 0 identity < /dev/null
expect_rc 2 $rc "--timeout 0"
run --timeout 1.5x identity < /dev/null
expect_rc 2 $rc "--timeout 1.5x"
finish
