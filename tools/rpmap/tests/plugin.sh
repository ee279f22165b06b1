#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plugins: the example works; a missing file, a missing symbol, an unknown
# function and the options this build lacks are clear errors with exit 2.
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
run gzip:12
expect_rc 2 $rc "bad gzip level"
run -j 0 identity
expect_rc 2 $rc "-j 0"
run --timeout 100 identity
expect_rc 2 $rc "--timeout"
has "$T/err" "rpmap: --timeout needs per-task timeouts, not available in this build" "--timeout: message"
run --retries 3 identity
expect_rc 2 $rc "--retries"
has "$T/err" "not available in this build" "--retries: message"
run --spawn identity
expect_rc 2 $rc "--spawn"
has "$T/err" "not available in this build" "--spawn: message"
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
"$RPMAP" --help | grep -q "NOT AVAILABLE in this build" && pass "--help tells what is missing" ||
	fail "--help"
finish
