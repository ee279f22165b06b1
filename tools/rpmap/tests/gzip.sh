#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gzip (libdeflate): one member per record, each with its compressed size
# in an "RP" extra subfield; the whole is a valid gzip file that gzip -t
# accepts and gzip and pigz decode back to the input: sizes 0, 1, a block
# less one, a block, a block and one; levels 0-12. --bgzf: BGZF blocks of
# at most 64 KiB and the end-of-file block, which bgzip -t and -d accept
# and htslib's random access reads. Compressed output to a terminal is
# refused unless -f.
. "$(dirname "$0")/lib.sh"

B=$((4064 * 1024))	# the default record: 4064 KiB
"$GENTEXT" 9M > "$T/text"
printf 'no newline at the end' > "$T/short"
printf 'x' > "$T/one"
: > "$T/empty"
head -c $((B - 1)) "$T/text" > "$T/b-1"
head -c $B "$T/text" > "$T/b"
head -c $((B + 1)) "$T/text" > "$T/b+1"
roundtrip() { # roundtrip FILE.gz ORIGINAL WHAT
	gzip -t "$1" && pass "gzip -t ($3)" || fail "gzip -t ($3)"
	gzip -dc "$1" > "$T/back"
	same "$2" "$T/back" "gzip -d gives the input back ($3)"
	if command -v pigz > /dev/null; then
		pigz -dc "$1" > "$T/back"
		same "$2" "$T/back" "pigz -d gives the input back ($3)"
	fi
}
for f in text short one empty b-1 b b+1; do
	"$RPMAP" gzip < "$T/$f" > "$T/out.gz"
	roundtrip "$T/out.gz" "$T/$f" "$f"
done
cat "$T/b+1" | "$RPMAP" gzip > "$T/out.gz"
roundtrip "$T/out.gz" "$T/b+1" "a block and one, from a pipe"

# Members: one per 4064 KiB block; each says its size ("RP", 32 bits).
members() { python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
pos = n = 0
while pos < len(d):
    assert d[pos:pos + 4] == b"\x1f\x8b\x08\x04", "no FEXTRA at %d" % pos
    assert d[pos + 12:pos + 16] == b"RP\x04\x00", "no RP subfield at %d" % pos
    pos += int.from_bytes(d[pos + 16:pos + 20], "little")
    n += 1
assert pos == len(d), "sizes do not add up"
print(n)' "$1"; }
for f in text empty b b+1; do
	"$RPMAP" gzip < "$T/$f" > "$T/out.gz"
	n=$(members "$T/out.gz" 2>&1) || true
	size=$(stat -c %s "$T/$f")
	want=$(( size ? (size + B - 1) / B : 1 ))
	[ "$n" = "$want" ] && pass "$f: $want members, sizes in RP subfields" ||
		fail "$f: members: $n, want $want"
done

head -c 300000 "$T/text" > "$T/300k"
for lv in 0 1 4 6 9 12; do
	"$RPMAP" --block 100k gzip:$lv < "$T/300k" > "$T/out.gz"
	roundtrip "$T/out.gz" "$T/300k" "gzip:$lv"
done
[ "$("$RPMAP" gzip:1 < "$T/text" | wc -c)" -gt "$("$RPMAP" gzip:9 < "$T/text" | wc -c)" ] &&
	pass "gzip:1 larger than gzip:9" || fail "levels do not change the output"
for opt in "gzip:9 -j 1" "--block 10k gzip:0" "--lines gzip" "-0 gzip" "-j 3 --block 1 gzip"; do
	# shellcheck disable=SC2086
	head -c 30000 "$T/text" | "$RPMAP" $opt > "$T/out.gz"
	head -c 30000 "$T/text" > "$T/want"
	roundtrip "$T/out.gz" "$T/want" "rpmap $opt"
done
set +e
for bad in gzip:13 gzip:-1 gzip: gzip:6x; do
	"$RPMAP" $bad < /dev/null > /dev/null 2> "$T/err"
	expect_rc 2 $? "$bad refused"
done
set -e
has "$T/err" "gzip: level must be 0-12" "bad level: message"

# --bgzf
if command -v bgzip > /dev/null; then
	for f in text one empty b+1; do
		"$RPMAP" --bgzf gzip < "$T/$f" > "$T/out.bgz"
		bgzip -t "$T/out.bgz" && pass "bgzip -t ($f)" || fail "bgzip -t ($f)"
		bgzip -dc "$T/out.bgz" > "$T/back"
		same "$T/$f" "$T/back" "bgzip -d gives the input back ($f)"
		roundtrip "$T/out.bgz" "$T/$f" "--bgzf $f"
	done
	# htslib's random access: an index, then a range read from it.
	"$RPMAP" --bgzf gzip:9 -i "$T/text" -o "$T/r.gz"
	if bgzip -r "$T/r.gz" 2> /dev/null; then
		bgzip -b 5000000 -s 1000 -d "$T/r.gz" -c > "$T/back" 2> /dev/null || true
		python3 -c 'import sys; f = open(sys.argv[1], "rb"); f.seek(5000000)
sys.stdout.buffer.write(f.read(1000))' "$T/text" > "$T/want"
		same "$T/want" "$T/back" "--bgzf: bgzip -r index and -b/-s range read"
	fi
else
	echo "skip: bgzip not installed (Debian package tabix)"
fi
"$RPMAP" --bgzf gzip < "$T/empty" | od -An -tx1 | tr -d ' \n' > "$T/got"
printf '1f8b08040000000000ff0600424302001b0003000000000000000000' > "$T/want"
same "$T/want" "$T/got" "--bgzf on empty input: the EOF block alone"
python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
pos = blocks = 0
while pos < len(d):
    assert d[pos + 12:pos + 16] == b"BC\x02\x00"
    size = int.from_bytes(d[pos + 16:pos + 18], "little") + 1
    assert size <= 65536
    assert int.from_bytes(d[pos + size - 4:pos + size], "little") <= 65280
    pos += size
    blocks += 1
assert pos == len(d) and d[-28:] == bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
' "$T/out.bgz" && pass "--bgzf: blocks of at most 64 KiB (65280 input bytes), EOF block last" ||
	fail "--bgzf: block layout"
set +e
"$RPMAP" --bgzf identity < /dev/null > /dev/null 2> "$T/err"
expect_rc 2 $? "--bgzf with identity refused"
set -e

# A terminal: refused (exit 2, nothing written) unless -f.
if command -v script > /dev/null; then
	set +e
	script -qec "'$RPMAP' gzip < '$T/short'" /dev/null > "$T/tty" 2>&1
	rc=$?
	set -e
	expect_rc 2 $rc "gzip to a terminal"
	has "$T/tty" "compressed data not written to a terminal \(use -f to force\)" "terminal: message"
	script -qec "'$RPMAP' -f gzip < '$T/short' | wc -c" /dev/null > "$T/tty" 2>&1
	has "$T/tty" "^[0-9]" "-f: written to the pipe anyway"
	set +e
	script -qec "'$RPMAP' -f gzip < '$T/short' > /dev/null" /dev/null > "$T/tty" 2>&1
	expect_rc 0 $? "-f: written to a terminal"
	script -qec "'$RPMAP' upper < '$T/short'" /dev/null > "$T/tty" 2>&1
	expect_rc 0 $? "upper to a terminal"
	set -e
else
	echo "skip: no script(1) to make a terminal"
fi
finish
