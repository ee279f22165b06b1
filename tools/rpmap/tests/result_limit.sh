#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The largest result of one record is one number, 256 MiB: a record whose
# result is 256 MiB - 1 or 256 MiB is written whole, one of 256 MiB + 1
# fails with "result too large" (exit 1); and --help, rpmap.1 and README
# state that same number (issue 11: 128, 256 and 512 MiB were all claimed
# or used).
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/.." && pwd)
limit=$((256 << 20))
xs() { head -c "$1" /dev/zero | tr '\0' x; echo; }

for n in $((limit - 1)) $limit; do
	set +e
	echo $n | "$RPMAP" -j 1 "$TESTPLUG_SO:sized" 2> "$T/err" | cksum > "$T/out"
	rc=${PIPESTATUS[1]}
	set -e
	expect_rc 0 $rc "a result of $n bytes"
	[ "$rc" = 0 ] || head -c 1000 "$T/err" >&2
	xs $n | cksum > "$T/want"
	same "$T/want" "$T/out" "a result of $n bytes: written whole"
done
set +e
printf '3\n%s\n4\n' $((limit + 1)) | "$RPMAP" -k "$TESTPLUG_SO:sized" > "$T/out" 2> "$T/err"
rc=$?
set -e
expect_rc 1 $rc "a result of limit + 1 bytes"
has "$T/err" "record 1 \(input byte 2\): result too large \(more than 256 MiB\), skipped" \
	"a result of limit + 1 bytes: message"
printf 'xxx\nxxxx\n' > "$T/want"
same "$T/want" "$T/out" "a result of limit + 1 bytes: the others written"
set +e
printf '%s\n' $((limit + 1)) | "$RPMAP" --spawn "$TESTPLUG_SO:sized" > "$T/out" 2> "$T/err"
rc=$?
set -e
expect_rc 1 $rc "--spawn, a result of limit + 1 bytes"
has "$T/err" "result too large \(more than 256 MiB\)" "--spawn, limit + 1: message"

# One number everywhere.
"$RPMAP" --help > "$T/help"
has "$T/help" "256 MiB" "--help states the limit"
for f in "$T/help" "$src/rpmap.1" "$src/README.md"; do
	if grep -Eo '[0-9]+ MiB (of result|result)' "$f" | grep -v '^256 ' > "$T/other"; then
		fail "$(basename "$f") claims another result limit: $(cat "$T/other")"
	else
		pass "$(basename "$f"): no other result limit"
	fi
done
grep -q 'at most 256 MiB' "$src/rpmap.1" && pass "rpmap.1 states the limit" || fail "rpmap.1: no limit"
grep -q 'at most 256 MiB' "$src/README.md" && pass "README states the limit" || fail "README: no limit"
finish
