#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# zstd: one frame per record (content size and XXH64 checksum), the whole
# one valid multi-frame zstd file that zstd -t accepts and zstd -d decodes
# back to the input: sizes 0, 1, a block less one, a block, a block and
# one; levels 1-22. Compressed output to a terminal is refused unless -f.
. "$(dirname "$0")/lib.sh"

if ! command -v zstd > /dev/null; then
	echo "skip: zstd not installed"
	exit 77
fi
B=$((4064 * 1024))	# the default record
"$GENTEXT" 9M > "$T/text"
printf 'x' > "$T/one"
: > "$T/empty"
head -c $((B - 1)) "$T/text" > "$T/b-1"
head -c $B "$T/text" > "$T/b"
head -c $((B + 1)) "$T/text" > "$T/b+1"
roundtrip() { # roundtrip FILE.zst ORIGINAL WHAT
	zstd -q -t "$1" && pass "zstd -t ($3)" || fail "zstd -t ($3)"
	zstd -q -d -c "$1" > "$T/back"
	same "$2" "$T/back" "zstd -d gives the input back ($3)"
}
for f in text one empty b-1 b b+1; do
	"$RPMAP" zstd < "$T/$f" > "$T/out.zst"
	roundtrip "$T/out.zst" "$T/$f" "$f"
done
cat "$T/b+1" | "$RPMAP" -j 2 zstd > "$T/out.zst"
roundtrip "$T/out.zst" "$T/b+1" "a block and one, from a pipe"

# Frames: one per 4064 KiB block, each with its content size and checksum.
frames() { python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
print(d.count(b"\x28\xb5\x2f\xfd"))' "$1"; }
"$RPMAP" zstd < "$T/text" > "$T/out.zst"
[ "$(frames "$T/out.zst")" = 3 ] && pass "9M: 3 frames" || fail "9M: $(frames "$T/out.zst") frames, want 3"
zstd -lv "$T/out.zst" > "$T/list" 2>&1 || true
has "$T/list" "Check: XXH64" "frames carry a checksum"
has "$T/list" "Decompressed Size: *9.00 MiB" "frames carry their content size"

head -c 300000 "$T/text" > "$T/300k"
for lv in 1 3 9 19 22; do
	"$RPMAP" --block 100k zstd:$lv < "$T/300k" > "$T/out.zst"
	roundtrip "$T/out.zst" "$T/300k" "zstd:$lv"
done
[ "$("$RPMAP" zstd:1 < "$T/text" | wc -c)" -gt "$("$RPMAP" zstd:19 < "$T/text" | wc -c)" ] &&
	pass "zstd:1 larger than zstd:19" || fail "levels do not change the output"
head -c 30000 "$T/text" > "$T/30k"
for opt in "--lines zstd" "-0 zstd" "-j 3 --block 1 zstd" "--block 10k -j 1 zstd"; do
	# shellcheck disable=SC2086
	"$RPMAP" $opt < "$T/30k" > "$T/out.zst"
	roundtrip "$T/out.zst" "$T/30k" "rpmap $opt"
done
set +e
for bad in zstd:0 zstd:23 zstd:-1 zstd: zstd:3x; do
	"$RPMAP" $bad < /dev/null > /dev/null 2> "$T/err"
	expect_rc 2 $? "$bad refused"
done
"$RPMAP" --bgzf zstd < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "--bgzf with zstd refused"
set -e
has "$T/err" "bgzf" "--bgzf with zstd: message"
if command -v script > /dev/null; then
	set +e
	script -qec "'$RPMAP' zstd < '$T/one'" /dev/null > "$T/tty" 2>&1
	expect_rc 2 $? "zstd to a terminal"
	set -e
	has "$T/tty" "not written to a terminal" "terminal: message"
fi
finish
