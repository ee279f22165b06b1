#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plugins: the example works; a missing file, a missing symbol, an unknown
# function and bad option values are clear errors with exit 2.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 2M > "$T/text"
rev < "$T/text" > "$T/want"
"$RPMAP" "$REV_SO:rev" < "$T/text" > "$T/out"
same "$T/want" "$T/out" "rev plugin = rev(1)"
"$RPMAP" -0 "$REV_SO:rev" < <(printf 'abc\0de\0f') | od -c > "$T/out"
printf 'cba\0ed\0f' | od -c > "$T/want"
same "$T/want" "$T/out" "rev plugin on NUL records keeps separators"
seq 1 5000 | "$RPMAP" "$TESTPLUG_SO:seq" > "$T/out"
seq 0 4999 > "$T/want"
same "$T/want" "$T/out" "plugins see the record index as t->seq"

run() { set +e; "$RPMAP" "$@" < /dev/null > "$T/out" 2> "$T/err"; rc=$?; set -e; }
run "$T/nosuch.so:fn"
expect_rc 2 $rc "missing plugin file"
has "$T/err" "nosuch.so: cannot load plugin: .*No such file" "missing plugin file: message"
run "$REV_SO:nosuchsym"
expect_rc 2 $rc "missing symbol"
has "$T/err" "no symbol 'nosuchsym'" "missing symbol: message"
run "$REV_SO:"
expect_rc 2 $rc "plugin without symbol"
run frobnicate
expect_rc 2 $rc "unknown function"
has "$T/err" "unknown function 'frobnicate'" "unknown function: message"
run gzip:13
expect_rc 2 $rc "bad gzip level"
run -j 257 identity
expect_rc 2 $rc "-j 257"
run --timeout 0 identity
expect_rc 2 $rc "--timeout 0"
has "$T/err" "--timeout: a time \(500, 300ms, 5s, 2m; at least 1ms\) expected, not '0'" \
	"--timeout 0: message"
run --retries 1001 identity
expect_rc 2 $rc "--retries 1001"
has "$T/err" "--retries: a count from 0 to 1000 expected" "--retries 1001: message"
run --block 2M --max-record 1M identity
expect_rc 2 $rc "--block longer than --max-record"
has "$T/err" "--block 2M is longer than --max-record 1M" "--block longer than --max-record: message"
run --timeout 100 --retries 3 --spawn identity
expect_rc 0 $rc "--timeout, --retries and --spawn are accepted"
set +e
"$RPMAP" identity -i "$T/does-not-exist" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_rc 2 $rc "missing input file"
has "$T/err" "does-not-exist: No such file or directory" "missing input file: message"
set +e
echo x | "$RPMAP" identity -o "$T/no/such/dir/out" 2> "$T/err"; rc=$?
set -e
expect_rc 2 $rc "unwritable output"
has "$T/err" "out: No such file or directory" "unwritable output: message"
"$RPMAP" --help > "$T/help"
for opt in --timeout --retries --spawn; do
	has "$T/help" "^ +$opt" "--help describes $opt"
done
grep -qi "not available" "$T/help" && fail "--help still says something is not available" ||
	pass "--help: nothing left unavailable"
finish
