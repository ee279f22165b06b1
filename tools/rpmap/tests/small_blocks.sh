#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Small fixed-size records keep every byte: a batch of many small records
# whose results outgrow the rings (gzip and crc32 write more than they
# read) is cut smaller, never run as if it were one large record (issue 11:
# --block 1 gzip gave back 2 bytes of 100,000, exit 0).
. "$(dirname "$0")/lib.sh"

head -c 100000 /dev/urandom > "$T/100k"
head -c 30000 "$T/100k" > "$T/30k"
for b in 1 4; do
	for j in 1 3; do
		"$RPMAP" -j $j --block $b gzip < "$T/100k" | gzip -dc > "$T/out"
		same "$T/100k" "$T/out" "gzip --block $b -j $j round trip"
	done
done
for b in 2 7 64; do
	"$RPMAP" -j 2 --block $b gzip < "$T/30k" | gzip -dc > "$T/out"
	same "$T/30k" "$T/out" "gzip --block $b round trip"
done
"$RPMAP" --block 1 gzip:0 -i "$T/30k" | gzip -dc > "$T/out"
same "$T/30k" "$T/out" "gzip:0 --block 1 from a mapped file"
cat "$T/30k" | "$RPMAP" --block 1 gzip | gzip -dc > "$T/out"
same "$T/30k" "$T/out" "gzip --block 1 from a pipe"

# crc32 of 1-byte records writes 9 bytes per input byte: 8 MiB in
# --batch 16M tasks is 72 MiB of results, more than the rings take.
head -c 8M /dev/urandom > "$T/8m"
python3 - "$T/8m" "$T/want" <<'PY'
import sys, zlib
table = [b"%08x\n" % zlib.crc32(bytes([i])) for i in range(256)]
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(b"".join(map(table.__getitem__, data)))
PY
"$RPMAP" --block 1 --batch 16M crc32 < "$T/8m" > "$T/out"
same "$T/want" "$T/out" "crc32 --block 1 --batch 16M: one line per byte"
head -c 300000 "$T/8m" > "$T/300k"
head -c $((300000 * 9)) "$T/want" > "$T/want300k"
cat "$T/300k" | "$RPMAP" -j 2 --block 1 crc32 > "$T/out"
same "$T/want300k" "$T/out" "crc32 --block 1 from a pipe"
"$RPMAP" -u -j 3 --block 1 crc32 < "$T/300k" | sort > "$T/out"
sort "$T/want300k" > "$T/want.sorted"
same "$T/want.sorted" "$T/out" "crc32 --block 1 --unordered: same lines"

n=$("$RPMAP" --block 3 count:1 < "$T/100k" | wc -l)
[ "$n" = 33334 ] && pass "count --block 3: one line per record" || fail "count --block 3: $n lines"
for b in 1 5; do
	"$RPMAP" --block $b identity < "$T/100k" > "$T/out"
	same "$T/100k" "$T/out" "identity --block $b"
done
"$RPMAP" --block 1 "$REV_SO:rev" < "$T/100k" > "$T/out"
same "$T/100k" "$T/out" "plugin rev --block 1 (each byte reversed is itself)"
finish
