#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Input and output are one file (-i F -o F, a hard link, another path to
# it, stdout appending to the input, -o naming the input pipe): refused
# before anything is truncated or written, exit 2, with a clear message,
# the file unchanged (issue 11: `upper -i F -o F` emptied F and died by
# SIGBUS). Different files, /dev/null as both, and `< F > F` (the shell
# has already emptied F: nothing to read) are fine, as with cat.
. "$(dirname "$0")/lib.sh"

seq 1 100000 > "$T/F"
cp "$T/F" "$T/orig"
ln "$T/F" "$T/hard"
ln -s "$T/F" "$T/sym"
mkdir "$T/d"

refused() { # WHAT COMMAND...: exit 2, the message, F unchanged
	local what=$1 rc
	shift
	cat "$T/orig" > "$T/F"	# in place: the links stay links
	set +e
	timeout 20 "$@" 2> "$T/err"; rc=$?
	set -e
	expect_rc 2 $rc "$what"
	has "$T/err" "input file is output file" "$what: message"
	same "$T/orig" "$T/F" "$what: F unchanged"
}
refused "-i F -o F" "$RPMAP" upper -i "$T/F" -o "$T/F"
refused "-i F -o hard link" "$RPMAP" upper -i "$T/F" -o "$T/hard"
refused "-i F -o symlink" "$RPMAP" upper -i "$T/F" -o "$T/sym"
refused "-i F -o d/../F" "$RPMAP" upper -i "$T/F" -o "$T/d/../F"
refused "< F -o F" sh -c '"$0" upper -o "$1" < "$1"' "$RPMAP" "$T/F"
refused "-i F -o /dev/stdin < F" sh -c '"$0" upper -i "$1" -o /dev/stdin < "$1"' "$RPMAP" "$T/F"
refused "--spawn -i F -o F" "$RPMAP" --spawn -j 2 gzip -i "$T/F" -o "$T/F"
refused "-i F >> F" sh -c '"$0" upper -i "$1" >> "$1"' "$RPMAP" "$T/F"
refused "< F >> F" sh -c '"$0" upper < "$1" >> "$1"' "$RPMAP" "$T/F"
refused "< F 1<> F" sh -c '"$0" upper < "$1" 1<> "$1"' "$RPMAP" "$T/F"

# rpmap writing into the pipe it reads would never see its end.
set +e
timeout 20 sh -c 'seq 1 1000 | "$0" identity -o /dev/stdin' "$RPMAP" 2> "$T/err"; rc=$?
set -e
expect_rc 2 $rc "-o /dev/stdin, stdin a pipe"
has "$T/err" "input file is output file" "-o /dev/stdin, stdin a pipe: message"

set +e
"$RPMAP" identity -i "$T/F" -o "$T/other" 2> "$T/err"; rc=$?
set -e
expect_rc 0 $rc "different files"
same "$T/orig" "$T/other" "different files: output"
set +e
"$RPMAP" identity -i /dev/null -o /dev/null 2> "$T/err"; rc=$?
set -e
expect_rc 0 $rc "/dev/null in and out"
cp "$T/orig" "$T/G"
set +e
"$RPMAP" identity < "$T/G" > "$T/G" 2> "$T/err"; rc=$?
set -e
expect_rc 0 $rc "< G > G (emptied by the shell)"
[ -s "$T/G" ] && fail "< G > G: not empty" || pass "< G > G: empty, as with cat"
finish
