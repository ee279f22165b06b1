#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A plugin that writes to stdout (printf + fflush, write(1)) or reads stdin
# must not corrupt the result stream or swallow input, with fork and with
# --spawn, whatever stdin and stdout are (issue 11, item 3: workers get
# stdin from /dev/null and stdout pointed at stderr, in the library).
. "$(dirname "$0")/lib.sh"

seq 1 20000 > "$T/in"
for mode in "" --spawn; do
	m=${mode:-fork}
	set +e
	timeout 60 "$RPMAP" $mode -j 2 "$TESTPLUG_SO:noisy" < "$T/in" > "$T/out" 2> "$T/err"
	rc=$?
	set -e
	expect_rc 0 $rc "$m, stdin a file"
	same "$T/in" "$T/out" "$m, stdin a file: output is the records only"

	set +e
	cat "$T/in" | timeout 60 "$RPMAP" $mode -j 2 "$TESTPLUG_SO:noisy" 2> "$T/err" | cat > "$T/out"
	rc=${PIPESTATUS[1]}
	set -e
	expect_rc 0 $rc "$m, pipes"
	same "$T/in" "$T/out" "$m, pipes: no record swallowed, no noise"

	set +e
	timeout 60 "$RPMAP" $mode -j 2 "$TESTPLUG_SO:noisy" -i "$T/in" -o "$T/out" < "$T/in" > "$T/stdout" 2> "$T/err"
	rc=$?
	set -e
	expect_rc 0 $rc "$m, -i and -o"
	same "$T/in" "$T/out" "$m, -i and -o: output"
	[ -s "$T/stdout" ] && fail "$m, -i and -o: the plugin wrote to rpmap's stdout" ||
		pass "$m, -i and -o: nothing on rpmap's stdout"
done
finish
