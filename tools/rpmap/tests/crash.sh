#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A plugin that kills its worker (SIGSEGV) on one record: exit 1 naming the
# record and the signal, with every result before it written; with
# --keep-going every other record is written, in order. Also a record that
# fails (-EINVAL) and one that exits the worker.
. "$(dirname "$0")/lib.sh"

P=$TESTPLUG_SO:testfn
seq 1 20 | sed 's/^7$/CRASH/' > "$T/small"
seq 1 20000 | sed 's/^10007$/CRASH/' > "$T/big"
seq 1 20000 | sed 's/^[0-9]*777$/CRASH/; s/^[0-9]*555$/FAIL/; s/^12345$/EXIT/' > "$T/many"

for j in 1 2 3; do
	set +e
	"$RPMAP" -j $j "$P" < "$T/small" > "$T/out" 2> "$T/err"; rc=$?
	set -e
	expect_rc 1 $rc "crash -j$j"
	has "$T/err" "record 6 \(input byte 12\): worker killed by signal 11" "crash -j$j: names record and signal"
	seq 1 6 > "$T/want"
	same "$T/want" "$T/out" "crash -j$j: every result before it"

	set +e
	"$RPMAP" -j $j --keep-going "$P" < "$T/small" > "$T/out" 2> "$T/err"; rc=$?
	set -e
	expect_rc 1 $rc "crash --keep-going -j$j"
	has "$T/err" "record 6 .*signal 11.*skipped" "crash --keep-going -j$j: reported"
	grep -v CRASH "$T/small" > "$T/want"
	same "$T/want" "$T/out" "crash --keep-going -j$j: all other records, in order"
done

set +e
"$RPMAP" "$P" < "$T/big" > "$T/out" 2> "$T/err"; rc=$?
set -e
expect_rc 1 $rc "crash deep in the input"
has "$T/err" "record 10006 \(input byte [0-9]+\): worker killed by signal 11" "crash deep: record index"
seq 1 10006 > "$T/want"
same "$T/want" "$T/out" "crash deep: prefix written"
set +e
"$RPMAP" -k "$P" < "$T/big" > "$T/out" 2> "$T/err"; rc=$?
set -e
expect_rc 1 $rc "crash deep --keep-going"
grep -v CRASH "$T/big" > "$T/want"
same "$T/want" "$T/out" "crash deep --keep-going: other records in order"

set +e
"$RPMAP" -k -j 2 "$P" < "$T/many" > "$T/out" 2> "$T/err"; rc=$?
set -e
expect_rc 1 $rc "many failures --keep-going"
grep -Ev 'CRASH|FAIL|EXIT' "$T/many" > "$T/want"
same "$T/want" "$T/out" "many failures --keep-going: other records in order"
[ "$(grep -c 'signal 11' "$T/err")" = 20 ] && pass "20 crashes reported" || fail "crashes: $(grep -c 'signal 11' "$T/err")"
[ "$(grep -c 'Invalid argument' "$T/err")" = 20 ] && pass "20 -EINVAL reported" || fail "-EINVAL: $(grep -c 'Invalid argument' "$T/err")"
has "$T/err" "record 12344 .*worker exited with status 7" "worker exit reported"
set +e
"$RPMAP" -u -k "$P" < "$T/many" | sort -n > "$T/out"
set -e
sort -n "$T/want" > "$T/want.sorted"
same "$T/want.sorted" "$T/out" "many failures --unordered --keep-going: same records"
finish
