#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Closed standard streams: a closed stream rpmap needs for data (stdin
# without -i, stdout without -o) is an error naming it, exit 2, like cat;
# a closed stream it does not need is no harm, and no fd rpmap opens (the
# board, -i, -o, the pool's) ever takes its number, so rpmap never reads
# or writes one of them as if it were stdin or stdout (issue 11: `<&-`
# printed 1,088 NUL bytes, `>&-` lost the output, both with exit 0).
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 300k > "$T/in"
for mode in "" --spawn; do
	m=${mode:-fork}
	set +e
	"$RPMAP" $mode identity < "$T/in" >&- 2> "$T/err"; rc=$?
	set -e
	expect_rc 2 $rc "$m: stdout closed"
	has "$T/err" "standard output: Bad file descriptor" "$m: stdout closed: message"

	set +e
	"$RPMAP" $mode identity <&- > "$T/out" 2> "$T/err"; rc=$?
	set -e
	expect_rc 2 $rc "$m: stdin closed"
	has "$T/err" "standard input: Bad file descriptor" "$m: stdin closed: message"
	[ -s "$T/out" ] && fail "$m: stdin closed: output written" || pass "$m: stdin closed: no output"

	set +e
	"$RPMAP" $mode -j 2 identity -i "$T/in" -o "$T/out" <&- >&- 2>&-; rc=$?
	set -e
	expect_rc 0 $rc "$m: -i and -o with all three closed"
	same "$T/in" "$T/out" "$m: -i and -o with all three closed: output"

	set +e
	"$RPMAP" $mode identity -i "$T/in" <&- > "$T/out" 2> "$T/err"; rc=$?
	set -e
	expect_rc 0 $rc "$m: -i with stdin closed"
	same "$T/in" "$T/out" "$m: -i with stdin closed: output"

	set +e
	"$RPMAP" $mode identity -o "$T/out" < "$T/in" >&- 2> "$T/err"; rc=$?
	set -e
	expect_rc 0 $rc "$m: -o with stdout closed"
	same "$T/in" "$T/out" "$m: -o with stdout closed: output"

	set +e
	cat "$T/in" | "$RPMAP" $mode -j 2 gzip 2>&- | gzip -dc > "$T/out"; rc=${PIPESTATUS[1]}
	set -e
	expect_rc 0 $rc "$m: stderr closed"
	same "$T/in" "$T/out" "$m: stderr closed: output"

	# A failed record's message has nowhere to go: the status still says so.
	set +e
	printf 'a\nFAIL\nb\n' | "$RPMAP" $mode -k "$TESTPLUG_SO:testfn" > "$T/out" 2>&-; rc=$?
	set -e
	expect_rc 1 $rc "$m: failed record with stderr closed"
	printf 'a\nb\n' > "$T/want"
	same "$T/want" "$T/out" "$m: failed record with stderr closed: output"
done
for opt in --help --version; do
	set +e
	"$RPMAP" $opt >&- 2> "$T/err"; rc=$?
	set -e
	expect_rc 2 $rc "$opt with stdout closed"
	has "$T/err" "standard output: Bad file descriptor" "$opt with stdout closed: message"
	set +e
	"$RPMAP" $opt > /dev/full 2> "$T/err"; rc=$?
	set -e
	expect_rc 2 $rc "$opt to a full disk"
done
finish
