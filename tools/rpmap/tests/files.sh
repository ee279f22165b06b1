#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Several inputs (issue 15, point 6): `rpmap FUNCTION FILE...` reads them in
# order as one stream, as cat does, and a record never spans two files (a
# last line without its newline is a record of its own, a block is cut
# short, a gzip member must end in its file); "-" is standard input. A
# missing file, -i with FILE arguments, or an output that is one of the
# inputs: exit 2 before anything is written.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 2M > "$T/big"
printf 'a\nb' > "$T/f1"
printf 'c\nd\n' > "$T/f2"
: > "$T/f0"
for j in 1 3; do
	"$RPMAP" -j $j identity "$T/f1" "$T/f0" "$T/big" "$T/f2" > "$T/out"
	cat "$T/f1" "$T/f0" "$T/big" "$T/f2" > "$T/want"
	same "$T/want" "$T/out" "identity FILE... = cat, -j $j"
done
echo stdin | "$RPMAP" upper "$T/f1" - "$T/f2" > "$T/out"
printf 'A\nBSTDIN\nC\nD\n' > "$T/want"
same "$T/want" "$T/out" "- is standard input, in its place"
# A record never spans two files: f1's last line "b" is a record.
"$RPMAP" crc32 "$T/f1" "$T/f2" > "$T/out"
for r in a b c d; do printf '%s' "$r" | gzip -c | tail -c 8 | head -c 4 | od -An -tx4 |
	tr -d ' '; done > "$T/want"
same "$T/want" "$T/out" "crc32: a, b, c, d: four records, none across files"
n=$("$RPMAP" --block 2 --stats=json identity "$T/f1" "$T/f1" 2>&1 > /dev/null |
	python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["records"])')
[ "$n" = 4 ] && pass "--block 2 on 3 + 3 bytes: 2+1 and 2+1, 4 records" ||
	fail "--block 2: $n records, want 4"
# Compression and back.
"$RPMAP" -j 2 gzip "$T/big" "$T/f1" > "$T/z.gz"
cat "$T/big" "$T/f1" > "$T/want"
gzip -dc "$T/z.gz" > "$T/out"
same "$T/want" "$T/out" "gzip FILE...: gzip -d gives them back"
gzip -c < "$T/f2" > "$T/p.gz"
"$RPMAP" gunzip "$T/z.gz" "$T/p.gz" "$T/z.gz" > "$T/out"
cat "$T/big" "$T/f1" "$T/f2" "$T/big" "$T/f1" > "$T/want"
same "$T/want" "$T/out" "gunzip FILE...: split, serial, split again"
"$RPMAP" --pipe 'tr a-z A-Z' "$T/f1" "$T/f2" > "$T/out"
printf 'A\nBC\nD\n' > "$T/want"
same "$T/want" "$T/out" "--pipe CMD FILE..."
# A gzip member cut at a file's end is truncated, even if the next file
# holds the rest.
head -c 100 "$T/z.gz" > "$T/h.gz"
tail -c +101 "$T/z.gz" > "$T/t.gz"
set +e
"$RPMAP" gunzip "$T/h.gz" "$T/t.gz" > /dev/null 2> "$T/err"
expect_rc 2 $? "a member across two files"
has "$T/err" "truncated" "a member across two files: truncated"
"$RPMAP" identity "$T/f1" "$T/nonexistent" > "$T/out" 2> "$T/err"
expect_rc 2 $? "a missing file"
[ ! -s "$T/out" ] && pass "a missing file: nothing written" || fail "a missing file: output written"
"$RPMAP" identity -i "$T/f1" "$T/f2" > /dev/null 2> "$T/err"
expect_rc 2 $? "-i and FILE"
cp "$T/f2" "$T/f4"
"$RPMAP" identity "$T/f1" "$T/f4" -o "$T/f4" 2> "$T/err"
expect_rc 2 $? "-o one of the inputs"
"$RPMAP" identity "$T/f1" "$T/f4" >> "$T/f4" 2> "$T/err"
expect_rc 2 $? "stdout one of the inputs"
has "$T/err" "input file is output file" "same file: message"
set -e
same "$T/f2" "$T/f4" "same file: left alone"
finish
