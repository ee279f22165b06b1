#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A record larger than the pool's rings (2 MiB rings take 1 MiB): rpmap
# runs it alone in a one-worker pool sized for it, in its place. Longer
# than --max-record: refused with exit 2 and a clear message.
. "$(dirname "$0")/lib.sh"

{ seq 1 1000; head -c 3000000 /dev/zero | tr '\0' 'a'; echo; seq 1001 2000; \
  head -c 5000000 /dev/zero | tr '\0' 'b'; } > "$T/in"
"$RPMAP" identity < "$T/in" > "$T/out"
same "$T/in" "$T/out" "identity with 3 MB and 5 MB records"
tr a-z A-Z < "$T/in" > "$T/want"
"$RPMAP" -j 2 upper < "$T/in" > "$T/out"
same "$T/want" "$T/out" "upper with large records"
"$RPMAP" crc32 < "$T/in" > "$T/out"
got=$(sed -n 1001p "$T/out")
want=$(head -c 3000000 /dev/zero | tr '\0' 'a' | gzip -c | tail -c 8 | head -c 4 | od -An -tx4 | tr -d ' ')
[ "$got" = "$want" ] && pass "crc32 of the 3 MB record" || fail "crc32 of the 3 MB record: $got, want $want"
[ "$(wc -l < "$T/out")" = 2002 ] && pass "crc32: one line per record" || fail "crc32 lines: $(wc -l < "$T/out")"
rev < "$T/in" > "$T/want" 2>/dev/null || fail "rev(1) missing"
"$RPMAP" "$REV_SO:rev" < "$T/in" > "$T/out"
same "$T/want" "$T/out" "plugin rev with large records"
"$RPMAP" gzip --lines < "$T/in" > "$T/out.gz"
gzip -dc "$T/out.gz" > "$T/out"
same "$T/in" "$T/out" "gzip --lines with large records"

set +e
"$RPMAP" --max-record 2M identity < "$T/in" > "$T/out" 2> "$T/err"
rc=$?
set -e
expect_rc 2 $rc "record over --max-record"
has "$T/err" "record at input byte [0-9]+ is longer than --max-record" "over --max-record: message"
finish
