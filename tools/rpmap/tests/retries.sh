#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --retries N, per record: a record whose worker dies is run again up to N
# times and reported only after N + 1 deaths, whichever records share its
# task. The `flaky` plugin crashes on a record containing FLAKY<K> the
# first K times it runs it, counting runs with marker files <index>.<k>.
. "$(dirname "$0")/lib.sh"

P=$TESTPLUG_SO:flaky
export RPMAP_MARKS="$T/marks"
seq 1 50 | sed 's/^7$/FLAKY1/; s/^9$/FLAKY1/; s/^30$/FLAKY3/' > "$T/in"
run() { rm -rf "$RPMAP_MARKS"; mkdir "$RPMAP_MARKS"; set +e; "$RPMAP" "$@" < "$T/in" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
runs() { find "$RPMAP_MARKS" -name "$1.*" | wc -l | tr -d ' '; }

for chunk in "" "--chunk 50" "--chunk 4"; do
	# shellcheck disable=SC2086
	run -k $chunk "$P"
	expect_rc 1 $rc "no --retries $chunk"
	for r in 6 8 29; do
		has "$T/err" "record $r \(input byte [0-9]+\): worker killed by signal 11 .*skipped" \
			"no --retries $chunk: record $r reported"
	done
	[ "$(runs 6)$(runs 8)$(runs 29)" = 111 ] && pass "no --retries $chunk: each ran once" ||
		fail "no --retries $chunk: runs $(runs 6) $(runs 8) $(runs 29)"
	grep -v FLAKY "$T/in" > "$T/want"
	same "$T/want" "$T/out" "no --retries $chunk: other records in order"

	# shellcheck disable=SC2086
	run -k --retries 1 $chunk "$P"
	expect_rc 1 $rc "--retries 1 $chunk"
	[ "$(grep -c '^rpmap: record' "$T/err")" = 1 ] && pass "--retries 1 $chunk: one failure" ||
		fail "--retries 1 $chunk: $(cat "$T/err")"
	has "$T/err" "record 29 .*signal 11" "--retries 1 $chunk: record 29 after 2 crashes"
	[ "$(runs 6)$(runs 8)$(runs 29)" = 112 ] && pass "--retries 1 $chunk: runs counted per record" ||
		fail "--retries 1 $chunk: runs $(runs 6) $(runs 8) $(runs 29)"
	grep -v FLAKY3 "$T/in" > "$T/want"
	same "$T/want" "$T/out" "--retries 1 $chunk: other records in order"

	# shellcheck disable=SC2086
	run --retries 3 --stats $chunk "$P"
	expect_rc 0 $rc "--retries 3 $chunk"
	same "$T/in" "$T/out" "--retries 3 $chunk: every record"
done
has "$T/err" "tasks retried [1-9]" "--retries 3: the library's retries were used"

run --retries 2 "$P"
expect_rc 1 $rc "--retries 2 without --keep-going"
has "$T/err" "^rpmap: record 29 \(input byte 88\): worker killed by signal 11 \(Segmentation fault\)$" \
	"--retries 2: record 29 after 3 crashes"
[ "$(runs 29)" = 3 ] && pass "--retries 2: record 29 ran 3 times" || fail "record 29 ran $(runs 29) times"
head -29 "$T/in" > "$T/want"
same "$T/want" "$T/out" "--retries 2: every result before record 29"

# A record that always crashes is run N + 1 times, then reported.
seq 1 30 | sed 's/^12$/CRASH/' > "$T/in"
run -k --retries 4 "$P"
expect_rc 1 $rc "always crashing --retries 4"
has "$T/err" "record 11 .*signal 11.*skipped" "always crashing: reported"
grep -v CRASH "$T/in" > "$T/want"
same "$T/want" "$T/out" "always crashing: other records in order"

run --retries 1001 "$P"
expect_rc 2 $rc "--retries 1001"
finish
