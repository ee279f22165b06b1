#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bounding a leaky plugin (issue 11): --max-tasks-per-worker N replaces each
# worker after N tasks, --max-rss SIZE once its peak resident size is over
# SIZE (ringpool's max_tasks_per_worker, max_rss_bytes); the output is the
# same, in order, with fork and --spawn; bad values are usage errors.
. "$(dirname "$0")/lib.sh"

replaced() { sed -n 's/.*workers: replaced \([0-9]*\),.*/\1/p' "$T/err"; }

seq 0 2999 > "$T/want"
for mode in "" --spawn; do
	m=${mode:-fork}
	seq 1 3000 | "$RPMAP" $mode --chunk 1 -j 2 --max-tasks-per-worker 10 --stats \
		"$TESTPLUG_SO:seq" > "$T/out" 2> "$T/err"
	same "$T/want" "$T/out" "$m --max-tasks-per-worker 10: output"
	n=$(replaced)
	# 3000 tasks, 10 per worker: 300 workers in all, 2 of them the first.
	[ "${n:-0}" -ge 290 ] && [ "$n" -le 300 ] && pass "$m --max-tasks-per-worker 10: $n replaced" ||
		fail "$m --max-tasks-per-worker 10: $n workers replaced, want about 298"
done

seq 1 1000 > "$T/want"
# leak: 1 MiB per record; the resident size is checked every 64 tasks.
"$RPMAP" --chunk 1 -j 2 --max-rss 100M --stats "$TESTPLUG_SO:leak" < "$T/want" > "$T/out" 2> "$T/err"
same "$T/want" "$T/out" "--max-rss 100M: output"
n=$(replaced)
[ "${n:-0}" -ge 2 ] && pass "--max-rss 100M: a leaking worker replaced ($n)" ||
	fail "--max-rss 100M: $n workers replaced"
"$RPMAP" --chunk 1 -j 2 --stats "$TESTPLUG_SO:leak" < "$T/want" > "$T/out" 2> "$T/err"
[ "$(replaced)" = 0 ] && pass "without --max-rss: none replaced" || fail "without: $(replaced) replaced"

run() { set +e; "$RPMAP" "$@" identity < /dev/null > /dev/null 2> "$T/err"; rc=$?; set -e; }
for bad in "--max-tasks-per-worker 0" "--max-tasks-per-worker x" "--max-rss 0" "--max-rss 1X"; do
	run $bad
	expect_rc 2 $rc "$bad"
	has "$T/err" "${bad%% *}: " "$bad: message"
done
"$RPMAP" --help > "$T/help"
for opt in --max-tasks-per-worker --max-rss; do
	has "$T/help" "^ +$opt" "--help describes $opt"
done
finish
