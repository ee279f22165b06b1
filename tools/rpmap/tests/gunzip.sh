#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gunzip and unzstd: members split and decoded in the workers, in order;
# what cannot be split (gzip's and pigz's single member) decoded serially.
# Differential: the output is what gzip -d / zstd -d give, byte for byte,
# for rpmap's own output (RP subfield, --bgzf), bgzip's, pigz's, gzip's,
# zstd -T's, concatenations of them, from a pipe and a mapped file; sizes
# 0, 1, a block less one, a block, a block and one. Adversarial: a corrupt
# member, a truncated stream, trailing garbage, the wrong format, plain
# text: exit 2 and a message, and the output is never more than a prefix
# of the right one (serial decoding: see below).
. "$(dirname "$0")/lib.sh"

B=$((4064 * 1024))
"$GENTEXT" 9M > "$T/text"
printf 'x' > "$T/one"
: > "$T/empty"
head -c $((B - 1)) "$T/text" > "$T/b-1"
head -c $B "$T/text" > "$T/b"
head -c $((B + 1)) "$T/text" > "$T/b+1"

# check FUNCTION FILE ORIGINAL WHAT: from a pipe and from a mapped file, -j 1 and 3
check() {
	local j
	for j in 1 3; do
		cat "$2" | "$RPMAP" -j $j "$1" > "$T/back"
		same "$3" "$T/back" "$4: $1 -j $j from a pipe"
	done
	"$RPMAP" -j 2 "$1" -i "$2" > "$T/back"
	same "$3" "$T/back" "$4: $1 from a mapped file"
}
for f in text one empty b-1 b b+1; do
	"$RPMAP" gzip < "$T/$f" > "$T/z.gz"
	check gunzip "$T/z.gz" "$T/$f" "rpmap gzip $f"
	"$RPMAP" zstd < "$T/$f" > "$T/z.zst"
	check unzstd "$T/z.zst" "$T/$f" "rpmap zstd $f"
done
"$RPMAP" --bgzf gzip < "$T/text" > "$T/z.gz"
check gunzip "$T/z.gz" "$T/text" "rpmap --bgzf"
"$RPMAP" --block 1000 gzip:1 < "$T/b+1" > "$T/z.gz"
check gunzip "$T/z.gz" "$T/b+1" "rpmap --block 1000 gzip (4000 members)"
gzip -c < "$T/text" > "$T/z.gz"
check gunzip "$T/z.gz" "$T/text" "gzip (serial)"
if command -v pigz > /dev/null; then
	pigz -c < "$T/text" > "$T/z.gz"
	check gunzip "$T/z.gz" "$T/text" "pigz (serial)"
fi
if command -v bgzip > /dev/null; then
	bgzip -c < "$T/text" > "$T/z.gz"
	check gunzip "$T/z.gz" "$T/text" "bgzip"
fi
# Split, then serial, then what comes after it: all of it, in order.
{ "$RPMAP" gzip < "$T/b+1"; gzip -c < "$T/one"; "$RPMAP" gzip < "$T/text"; } > "$T/z.gz"
cat "$T/b+1" "$T/one" "$T/text" > "$T/want"
check gunzip "$T/z.gz" "$T/want" "rpmap gzip + gzip + rpmap gzip"
zstd -q -T2 -c < "$T/text" > "$T/z.zst"
check unzstd "$T/z.zst" "$T/text" "zstd -T2"
cat "$T/text" | zstd -q -c > "$T/z.zst"	# no content size in the frame
check unzstd "$T/z.zst" "$T/text" "zstd from a pipe (no content size)"
{ "$RPMAP" zstd < "$T/one"; printf '\x50\x2a\x4d\x18\x03\x00\x00\x00abc'; "$RPMAP" zstd < "$T/b"; } \
	> "$T/z.zst"
cat "$T/one" "$T/b" > "$T/want"
check unzstd "$T/z.zst" "$T/want" "a skippable frame"

# prefix_of OUT RIGHT WHAT: OUT is a prefix of RIGHT (nothing wrong written)
prefix_of() {
	local n
	n=$(stat -c %s "$1")
	if head -c "$n" "$2" | cmp -s - "$1"; then pass "$3: output a prefix ($n bytes)"
	else fail "$3: output is not a prefix of the right one"; fi
}
# bad FUNCTION FILE RIGHT MESSAGE WHAT: exit 2, MESSAGE, output a prefix of
# RIGHT (-: not checked)
bad() {
	local rc
	for src in pipe file; do
		set +e
		if [ $src = pipe ]; then cat "$2" | "$RPMAP" -j 2 "$1" > "$T/out" 2> "$T/err"
			rc=${PIPESTATUS[1]}
		else "$RPMAP" -j 2 "$1" -i "$2" > "$T/out" 2> "$T/err"; rc=$?; fi
		set -e
		expect_rc 2 $rc "$5 ($src)"
		has "$T/err" "$4" "$5 ($src): message"
		[ "$3" = - ] || prefix_of "$T/out" "$3" "$5 ($src)"
	done
}
corrupt() { python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[int(sys.argv[2])] ^= 0x55
sys.stdout.buffer.write(d)' "$@"; }
"$RPMAP" gzip < "$T/text" > "$T/z.gz"
corrupt "$T/z.gz" 2500000 > "$T/bad.gz"
bad gunzip "$T/bad.gz" "$T/text" "member [0-9]+ \(input byte [0-9]+\): (corrupt|gzip member)" "corrupt member"
head -c -100 "$T/z.gz" > "$T/bad.gz"
bad gunzip "$T/bad.gz" "$T/text" "truncated" "truncated stream"
head -c 15 "$T/z.gz" > "$T/bad.gz"
bad gunzip "$T/bad.gz" "$T/empty" "truncated" "15 bytes of a member"
{ cat "$T/z.gz"; printf 'garbage'; } > "$T/bad.gz"
bad gunzip "$T/bad.gz" "$T/text" "not a gzip or zstd member" "trailing garbage"
gzip -c < "$T/text" > "$T/p.gz"
corrupt "$T/p.gz" 2500000 > "$T/bad.gz"
# Serial: as with gzip -d, a member's output goes out before its CRC-32 is
# checked (a member may be larger than memory): exit 2 says it is wrong.
bad gunzip "$T/bad.gz" - "corrupt gzip member|invalid" "corrupt gzip -c member (serial)"
head -c -100 "$T/p.gz" > "$T/bad.gz"
bad gunzip "$T/bad.gz" "$T/text" "truncated|cut short|unexpected end" "truncated gzip -c stream (serial)"
"$RPMAP" zstd < "$T/text" > "$T/z.zst"
corrupt "$T/z.zst" 2500000 > "$T/bad.zst"
bad unzstd "$T/bad.zst" "$T/text" "member [0-9]+ \(input byte [0-9]+\)" "corrupt frame"
head -c -100 "$T/z.zst" > "$T/bad.zst"
bad unzstd "$T/bad.zst" "$T/text" "truncated" "truncated zstd stream"
bad unzstd "$T/z.gz" "$T/empty" "a gzip member, not a zstd frame" "unzstd of gzip"
bad gunzip "$T/z.zst" "$T/empty" "a zstd frame, not a gzip member" "gunzip of zstd"
bad gunzip "$T/text" "$T/empty" "not a gzip or zstd member" "gunzip of text"
bad gunzip "$T/empty" "$T/empty" "empty input, not a gzip stream" "gunzip of empty input (as gzip -d)"
bad unzstd "$T/empty" "$T/empty" "empty input, not a zstd stream" "unzstd of empty input (as zstd -d)"

# The mapped input shrinks while read: exit 2, "input shrank", and the
# output is every member before the byte the message names, nothing else.
"$RPMAP" --block 100k gzip:1 < "$T/text" > "$T/s.gz"
mkfifo "$T/fifo"
"$RPMAP" -j 2 gunzip -i "$T/s.gz" > "$T/fifo" 2> "$T/err" &
pid=$!
exec 3< "$T/fifo"
for _ in $(seq 1 200); do
	grep -q "$T/s.gz" "/proc/$pid/maps" 2> /dev/null && break
	sleep 0.05
done
truncate -s 500000 "$T/s.gz"
timeout 60 cat <&3 > "$T/out"
exec 3<&-
set +e
wait $pid
expect_rc 2 $? "gunzip: input shrank"
set -e
has "$T/err" "input shrank from [0-9]+ to 500000 bytes" "gunzip: input shrank: message"
prefix_of "$T/out" "$T/text" "gunzip: input shrank"
n=$(stat -c %s "$T/out")
[ $((n % 102400)) = 0 ] && pass "gunzip: input shrank: whole members only ($n bytes)" ||
	fail "gunzip: input shrank: $n bytes, not whole 100k members"

"$RPMAP" --spawn -j 2 gunzip -i "$T/z.gz" > "$T/back"
same "$T/text" "$T/back" "--spawn gunzip from a mapped file"
"$RPMAP" --spawn -j 2 unzstd < "$T/z.zst" > "$T/back"
same "$T/text" "$T/back" "--spawn unzstd from a pipe"
set +e
"$RPMAP" gunzip:1 < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "gunzip:1 refused"
"$RPMAP" --lines gunzip < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "gunzip with a record option refused"
"$RPMAP" -u gunzip < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "gunzip -u refused"
"$RPMAP" gunzip < "$T/z.gz" >&- 2> "$T/err"
expect_rc 2 $? "closed stdout"
cp "$T/z.gz" "$T/same"
"$RPMAP" gunzip -i "$T/same" -o "$T/same" 2> "$T/err"
expect_rc 2 $? "same file in and out"
set -e
same "$T/z.gz" "$T/same" "same file: left alone"
finish
