#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# crc32: one line of lowercase hex per record, the CRC-32 of the record
# without its separator; checked against the CRC in gzip's trailer.
. "$(dirname "$0")/lib.sh"

crc() { printf '%s' "$1" | gzip -c | tail -c 8 | head -c 4 | od -An -tx4 | tr -d ' \n'; echo; }

{ echo hello; echo; echo "The quick brown fox"; seq 1 40; printf 'last, unterminated'; } > "$T/in"
while IFS= read -r line || [ -n "$line" ]; do crc "$line"; done < "$T/in" > "$T/want"
for j in 1 2; do
	"$RPMAP" -j $j crc32 < "$T/in" > "$T/out"
	same "$T/want" "$T/out" "crc32 lines -j$j"
done
"$RPMAP" --chunk 3 crc32 < "$T/in" > "$T/out"
same "$T/want" "$T/out" "crc32 --chunk 3"
tr '\n' '\0' < "$T/in" | "$RPMAP" -0 crc32 > "$T/out"
same "$T/want" "$T/out" "crc32 -0"
[ "$(printf '123456789' | "$RPMAP" crc32)" = cbf43926 ] && pass "crc32 check value" ||
	fail "crc32('123456789') != cbf43926"
"$RPMAP" crc32 < /dev/null > "$T/out"
[ ! -s "$T/out" ] && pass "crc32 on empty input: no output" || fail "crc32 on empty input"
finish
