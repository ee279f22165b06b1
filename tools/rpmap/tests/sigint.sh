#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ctrl-C mid-stream: rpmap writes the results in flight, so the output is
# a complete prefix of whole records, dies by SIGINT (130), and leaves no
# worker behind.
. "$(dirname "$0")/lib.sh"

seq 1 200000 > "$T/sigint-input"
for j in 1 2; do
	# A background job of a script ignores SIGINT unless job control is on.
	set -m
	"$RPMAP" -j $j "$TESTPLUG_SO:slow" -i "$T/sigint-input" > "$T/out" 2> "$T/err" &
	pid=$!
	set +m
	sleep 0.7
	kill -INT $pid
	set +e
	wait $pid; rc=$?
	set -e
	expect_rc 130 $rc "SIGINT -j$j"
	n=$(wc -l < "$T/out")
	[ "$n" -gt 0 ] && [ "$n" -lt 200000 ] && pass "SIGINT -j$j: stopped early ($n records)" ||
		fail "SIGINT -j$j: $n records"
	head -n "$n" "$T/sigint-input" > "$T/want"
	same "$T/want" "$T/out" "SIGINT -j$j: output is a complete prefix"
	[ ! -s "$T/err" ] && pass "SIGINT -j$j: quiet" || fail "SIGINT -j$j: stderr: $(cat "$T/err")"
	no_procs "$T/sigint-input"
done
finish
