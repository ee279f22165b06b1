#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --spawn: workers are exec'd rpmap binaries, not forks. Built-ins, a mapped
# input (file or stdin) and a pipe give the same bytes; plugins are loaded
# again in each worker, and rpmap's rp_task_result shim (rp_task_result_len
# too) still serves them there; crashes, --retries and --timeout behave as
# with fork.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 3M > "$T/text"
"$RPMAP" --spawn identity < "$T/text" > "$T/out"
same "$T/text" "$T/out" "identity, stdin a file"
"$RPMAP" --spawn -j 3 identity -i "$T/text" > "$T/out"
same "$T/text" "$T/out" "identity -i"
cat "$T/text" | "$RPMAP" --spawn identity > "$T/out"
same "$T/text" "$T/out" "identity from a pipe"
"$RPMAP" --spawn --stats -j 2 gzip < "$T/text" 2> "$T/err" | gzip -dc > "$T/out"
same "$T/text" "$T/out" "gzip round trip"
has "$T/err" "exec'd [2-9]" "workers were exec'd"
# The function's argument reaches exec'd workers (parsed again there).
"$RPMAP" -j 2 gzip:1 < "$T/text" > "$T/want"
"$RPMAP" --spawn -j 2 gzip:1 < "$T/text" > "$T/out"
same "$T/want" "$T/out" "gzip:1: the same bytes as forked workers"
"$RPMAP" --spawn count:7 < <(seq 1 100) > "$T/out"
[ "$(sort -u "$T/out")" = 7 ] && pass "count:7 in exec'd workers" || fail "count:7: $(sort -u "$T/out" | head -3)"
tr a-z A-Z < "$T/text" > "$T/want"
"$RPMAP" --spawn upper -i "$T/text" > "$T/out"
same "$T/want" "$T/out" "upper"

rev < "$T/text" > "$T/want"
"$RPMAP" --spawn "$REV_SO:rev" < "$T/text" > "$T/out"
same "$T/want" "$T/out" "rev plugin"
seq 1 5000 | "$RPMAP" --spawn "$TESTPLUG_SO:seq" > "$T/out"
seq 0 4999 > "$T/want"
same "$T/want" "$T/out" "plugin using rp_task_result_len sees t->seq"
# A relative plugin path: exec'd workers must load the same file.
(cd "$(dirname "$TESTPLUG_SO")" && seq 1 100 | "$RPMAP" --spawn "$(basename "$TESTPLUG_SO"):seq") > "$T/out"
seq 0 99 > "$T/want"
same "$T/want" "$T/out" "plugin given by a relative path"
# A result larger than the plugin's slice: run alone with bigger rings.
{ seq 1 10; echo BIG; seq 11 20; } > "$T/big"
"$RPMAP" --spawn "$TESTPLUG_SO:testfn" < "$T/big" > "$T/out"
{ seq 1 10; head -c $((3 << 20)) /dev/zero | tr '\0' x; echo; seq 11 20; } > "$T/want"
same "$T/want" "$T/out" "3 MiB plugin result"

run() { set +e; "$RPMAP" "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
seq 1 20 | sed 's/^7$/CRASH/' > "$T/crash"
run --spawn -j 2 "$TESTPLUG_SO:testfn" < "$T/crash"
expect_rc 1 $rc "crash"
has "$T/err" "record 6 \(input byte 12\): worker killed by signal 11" "crash: record and signal"
seq 1 6 > "$T/want"
same "$T/want" "$T/out" "crash: every result before it"
run --spawn -k "$TESTPLUG_SO:testfn" < "$T/crash"
expect_rc 1 $rc "crash --keep-going"
grep -v CRASH "$T/crash" > "$T/want"
same "$T/want" "$T/out" "crash --keep-going: other records in order"

export RPMAP_MARKS="$T/marks"
mkdir "$RPMAP_MARKS"
seq 1 30 | sed 's/^5$/FLAKY2/' > "$T/flaky"
run --spawn --retries 2 "$TESTPLUG_SO:flaky" < "$T/flaky"
expect_rc 0 $rc "--retries 2"
same "$T/flaky" "$T/out" "--retries 2: every record"

seq 1 20 | sed 's/^4$/SLEEP5000/' > "$T/sleep"
run --spawn -k --timeout 300 "$TESTPLUG_SO:sleepy" < "$T/sleep"
expect_rc 1 $rc "--timeout"
has "$T/err" "record 3 .*timed out after 300 ms, skipped" "--timeout: record named"
grep -v SLEEP "$T/sleep" > "$T/want"
same "$T/want" "$T/out" "--timeout: other records in order"

set +e
"$RPMAP" --spawn identity -i "$T/text" 2> "$T/err" | head -1 > /dev/null
rc=${PIPESTATUS[0]}
set -e
expect_rc 141 "$rc" "EPIPE"
[ ! -s "$T/err" ] && pass "EPIPE: quiet" || fail "EPIPE: $(cat "$T/err")"
finish
