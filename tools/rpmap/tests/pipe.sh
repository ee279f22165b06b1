#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --pipe CMD: one command per chunk of whole lines (or NUL records) of at
# most --block bytes, its output in input order. Differential against the
# command alone and parallel --pipe --keep-order; chunks end at separators;
# sizes 0, 1, a line longer than the block; output much larger than the
# input; a failing command (exit, signal, timeout, not found) is that
# chunk's failure (exit 1, -k goes on), --retries runs it again.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 3M > "$T/text"
printf 'x' > "$T/one"
: > "$T/empty"
tr a-z A-Z < "$T/text" > "$T/upper"
for j in 1 3; do
	"$RPMAP" -j $j --pipe 'tr a-z A-Z' < "$T/text" > "$T/out"
	same "$T/upper" "$T/out" "tr a-z A-Z, -j $j, from a pipe"
done
"$RPMAP" -j 2 --block 100k --pipe 'tr a-z A-Z' -i "$T/text" > "$T/out"
same "$T/upper" "$T/out" "tr a-z A-Z --block 100k, from a mapped file"
"$RPMAP" --spawn -j 2 --pipe 'tr a-z A-Z' < "$T/text" > "$T/out"
same "$T/upper" "$T/out" "--spawn"
"$RPMAP" --pipe 'tr a-z A-Z | rev | rev' < "$T/text" > "$T/out"
same "$T/upper" "$T/out" "shell syntax: a pipeline"
if command -v parallel > /dev/null; then
	parallel --will-cite --pipe --keep-order --block 100k 'tr a-z A-Z' < "$T/text" > "$T/want"
	"$RPMAP" --block 100k --pipe 'tr a-z A-Z' < "$T/text" > "$T/out"
	same "$T/want" "$T/out" "same as parallel --pipe --keep-order"
fi
for f in one empty; do
	"$RPMAP" --pipe 'tr a-z A-Z' < "$T/$f" > "$T/out"
	tr a-z A-Z < "$T/$f" > "$T/want"
	same "$T/want" "$T/out" "$f"
done
# Chunks end with a separator: the last byte of each chunk is a newline
# (but the input's last, which has none).
"$RPMAP" --block 1k --pipe 'tail -c 1' < "$T/text" > "$T/out"
[ -z "$(head -c -1 "$T/out" | tr -d '\n')" ] && pass "chunks end at line ends" || fail "a chunk ends mid-line"
n=$(wc -c < "$T/out")
[ "$n" -ge 3072 ] && [ "$n" -le 6000 ] && pass "--block 1k: $n chunks" || fail "--block 1k: $n chunks"
# A line longer than the block is a chunk of its own.
{ head -c 5000 /dev/zero | tr '\0' a; echo; echo b; } > "$T/long"
"$RPMAP" --block 1k --pipe 'wc -c' < "$T/long" | tr -d ' ' > "$T/out"
printf '5001\n2\n' > "$T/want"
same "$T/want" "$T/out" "a line longer than --block: a chunk of its own"
# NUL records.
printf 'a\0b\0c' > "$T/nul"
"$RPMAP" -0 --block 2 --pipe 'od -An -c' < "$T/nul" | tr -s ' \n' ' ' > "$T/out"
printf ' a \\0 b \\0 c ' > "$T/want"
same "$T/want" "$T/out" "-0: NUL-terminated chunks"
# Output much larger than the input (the chunk runs again where it fits).
seq 1 2 | "$RPMAP" --block 2 --pipe 'head -c 20000000 /dev/zero' | wc -c > "$T/out"
echo 40000000 > "$T/want"
same "$T/want" "$T/out" "20 MB of output per chunk"
# A command that does not read its input is not an error.
"$RPMAP" --block 1M --pipe 'echo hi' < "$T/text" > "$T/out"
[ "$(sort -u "$T/out")" = hi ] && pass "a command that ignores its input" || fail "ignores input"

set +e
seq 1 100000 > "$T/nums"
seq 1 100000 | grep -v '^5[0-9][0-9][0-9]$' > "$T/want"	# without 5000-5999
fl() { "$RPMAP" --block 10k "$@" < "$T/nums" > "$T/out" 2> "$T/err"; rc=$?; }
fl -k --pipe 'awk "/^5000\$/ { exit 4 } { print }"'
expect_rc 1 $rc "-k: a failing chunk"
has "$T/err" "record [0-9]+ \(input byte [0-9]+\): command exited with status 4, skipped" \
	"-k: message"
n=$(wc -l < "$T/out")
[ "$n" -lt 100000 ] && [ "$n" -gt 97000 ] && pass "-k: the other chunks written ($n lines)" ||
	fail "-k: $n lines"
fl --pipe 'awk "/^5000\$/ { exit 4 } { print }"'
expect_rc 1 $rc "a failing chunk stops rpmap"
n=$(wc -l < "$T/out")
head -n "$n" "$T/nums" | cmp -s - "$T/out" && [ "$n" -lt 5000 ] &&
	pass "stopped: the chunks before it, in order ($n lines)" || fail "stopped: $n lines"
fl --pipe 'kill -9 $$'
expect_rc 1 $rc "a command killed by a signal"
has "$T/err" "command killed by signal 9" "signal: message"
fl --timeout 200 --pipe 'sleep 30'
expect_rc 1 $rc "a command past --timeout"
has "$T/err" "command timed out after 200 ms" "timeout: message"
fl --pipe 'no-such-command-rpmap'
expect_rc 1 $rc "no such command"
has "$T/err" "cannot run the command: No such file or directory" "no such command: message"
# --retries: this one fails on its first run only.
echo 0 > "$T/cnt"
flaky="n=\$(cat '$T/cnt'); echo \$((n + 1)) > '$T/cnt'; [ \$n -ge 1 ] && cat"
printf 'a\nb\n' | "$RPMAP" -j 1 --retries 1 --pipe "$flaky" > "$T/out" 2> "$T/err"
expect_rc 0 $? "--retries 1: a command that fails once"
printf 'a\nb\n' > "$T/want"
same "$T/want" "$T/out" "--retries 1: its output"
echo 0 > "$T/cnt"
printf 'a\nb\n' | "$RPMAP" -j 1 --pipe "$flaky" > "$T/out" 2> "$T/err"
expect_rc 1 $? "--retries 0: it fails"
"$RPMAP" --pipe cat identity < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "--pipe with a FUNCTION refused"
"$RPMAP" --pipe ' ' < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "--pipe with a blank command refused"
"$RPMAP" --pipe cat < "$T/text" >&- 2> "$T/err"
expect_rc 2 $? "closed stdout"
# SIGTERM: rpmap dies by it, and so do the commands, in their own process
# groups (they would outlive their workers otherwise); likewise when a
# failure stops rpmap while other chunks' commands still run.
seq 1 200000 | "$RPMAP" -j 2 --block 100k --pipe 'sh -c "cat; sleep 31"' > /dev/null 2>&1 &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
expect_rc 143 $? "SIGTERM"
seq 1 200000 > "$T/nums"
"$RPMAP" -j 2 --block 100k --pipe 'sh -c "if grep -q ^1\$; then sleep 1; exit 3; fi; sleep 32"' \
	-i "$T/nums" > /dev/null 2> "$T/err"
expect_rc 1 $? "a failure with other commands running"
set -e
no_procs '^sleep 30$'
no_procs '^sleep 31$'
no_procs '^sleep 32$'
finish
