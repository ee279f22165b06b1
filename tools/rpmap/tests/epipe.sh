#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The reader goes away (head -1): rpmap ends quietly, by SIGPIPE (status
# 141, like cat), with no message and no process left behind.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 64M > "$T/epipe-input"
for fn in identity upper "$TESTPLUG_SO:slow"; do
	set +e
	"$RPMAP" "$fn" -i "$T/epipe-input" 2> "$T/err" | head -1 > "$T/out"
	rc=${PIPESTATUS[0]}
	set -e
	expect_rc 141 "$rc" "EPIPE ($fn)"
	[ ! -s "$T/err" ] && pass "EPIPE ($fn): nothing on stderr" || fail "EPIPE ($fn): stderr: $(cat "$T/err")"
	head -1 "$T/epipe-input" | if [ "$fn" = upper ]; then tr a-z A-Z; else cat; fi > "$T/want"
	same "$T/want" "$T/out" "EPIPE ($fn): first line"
	no_procs "$T/epipe-input"
done
finish
