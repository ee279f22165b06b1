#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap's codec modules against the reference tools, through codectool:
# what we write, gzip/pigz/bgzip/zstd read back (and -t accept); what they
# write, our splitter + member decoder and our serial decoder read back;
# corrupted and truncated input fails, or decodes exactly as the reference
# tool decodes it (never different bytes with exit status 0, never a crash).
set -euo pipefail
: "${CODECTOOL:?set CODECTOOL to the rpmap-codectool binary}"
C=$CODECTOOL
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-codecs.XXXXXX")
trap 'rm -rf "$T"' EXIT
failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); }
# same FILE1 FILE2 WHAT
same() { if cmp -s "$1" "$2"; then ok; else fail "$3 ($(cmp "$1" "$2" 2>&1 | head -1))"; fi; }
# run WHAT CMD...: the command must succeed
run() { local w=$1; shift; if "$@" 2> "$T/err"; then ok; else fail "$w: $(head -c 300 "$T/err")"; fi; }
have() { command -v "$1" > /dev/null; }
for tool in gzip zstd; do
	have $tool || { echo "skip: no $tool (bash .ci/deps.sh all)"; exit 77; }
done

# ---- inputs: real text, incompressible bytes, and the sizes at the limits
bash "$(dirname "$0")/../../../bench/corpus.sh" "$T/text" 3 2> /dev/null > /dev/null
tsize=$(stat -c %s "$T/text")
[ "$tsize" -gt 1000000 ] || { echo "skip: too little text on this system ($tsize bytes)"; exit 77; }
"$C" rand 300000 1 > "$T/rand"
: > "$T/s0"
printf x > "$T/s1"
for n in 65279 65280 65281 130560 130561; do head -c $n "$T/text" > "$T/s$n"; done
"$C" rand 65280 2 > "$T/r65280"
"$C" rand 65281 3 > "$T/r65281"
inputs="s0 s1 s65279 s65280 s65281 s130560 s130561 r65280 r65281 rand text"

# decode_all FILE WHAT: our two decoders (split, serial), in one piece and
# fed in small pieces, give back the input
decode_all() { # decode_all COMPRESSED ORIGINAL WHAT
	for mode in "unsplit" "unsplit -p 7" "serial" "serial -p 1000"; do
		# shellcheck disable=SC2086
		run "$3: codectool $mode" "$C" $mode < "$1" > "$T/dec"
		same "$T/dec" "$2" "$3: codectool $mode gives the input back"
	done
}

# ---- 1. gzip: rpmap layout (RP subfield)
for f in $inputs; do
	for lv in 1 6 12; do
		"$C" gzip -l $lv < "$T/$f" > "$T/o.gz"
		run "gzip -t ($f, level $lv)" gzip -t "$T/o.gz"
		gzip -dc "$T/o.gz" > "$T/dec" && same "$T/dec" "$T/$f" "gzip -d ($f, level $lv)"
		if have pigz; then
			pigz -dc "$T/o.gz" > "$T/dec" && same "$T/dec" "$T/$f" "pigz -d ($f, $lv)"
		fi
		if have bgzip; then
			bgzip -dc < "$T/o.gz" > "$T/dec" && same "$T/dec" "$T/$f" "bgzip -d ($f, $lv)"
		fi
		[ $lv = 6 ] && decode_all "$T/o.gz" "$T/$f" "gzip ($f)"
	done
done
for lv in 0 9; do
	"$C" gzip -l $lv -b 1M < "$T/text" > "$T/o.gz"
	gzip -dc "$T/o.gz" > "$T/dec" && same "$T/dec" "$T/text" "gzip -d (level $lv, 1M blocks)"
done
if "$C" gzip -l 13 < /dev/null > /dev/null 2>&1; then fail "level 13 accepted"; else ok; fi

# ---- 2. BGZF: bgzip -t/-d, gzip -t, the EOF block, BC on every block,
# and htslib's own random access (bgzip -r builds the index only on BGZF)
for f in $inputs; do
	"$C" gzip --bgzf < "$T/$f" > "$T/o.gz"
	run "gzip -t (bgzf, $f)" gzip -t "$T/o.gz"
	if have bgzip; then
		run "bgzip -t (bgzf, $f)" bgzip -t "$T/o.gz"
		bgzip -dc < "$T/o.gz" > "$T/dec" && same "$T/dec" "$T/$f" "bgzip -d (bgzf, $f)"
	fi
	tail -c 28 "$T/o.gz" | od -An -tx1 | tr -d ' \n' > "$T/eof"
	[ "$(cat "$T/eof")" = 1f8b08040000000000ff0600424302001b0003000000000000000000 ] && ok ||
		fail "bgzf ($f): no EOF block at the end"
	decode_all "$T/o.gz" "$T/$f" "bgzf ($f)"
done
"$C" gzip --bgzf < "$T/text" > "$T/o.gz"
# Walk the blocks: each starts with the BC header and is <= 64 KiB.
have python3 && { python3 - "$T/o.gz" "$tsize" << 'EOF' && ok || fail "bgzf block walk"; }
import struct, sys
d = open(sys.argv[1], 'rb').read()
i = n = 0
while i < len(d):
    assert d[i:i+4] == b'\x1f\x8b\x08\x04' and d[i+10:i+16] == b'\x06\x00BC\x02\x00', i
    bsize = struct.unpack('<H', d[i+16:i+18])[0] + 1
    isize = struct.unpack('<I', d[i+bsize-4:i+bsize])[0]
    assert bsize <= 65536 and isize <= 65280, (i, bsize, isize)
    i += bsize; n += 1
assert i == len(d) and n == (int(sys.argv[2]) + 65279) // 65280 + 1, (i, n)
EOF
if have bgzip; then
	run "bgzip -r (index our BGZF)" bgzip -r "$T/o.gz"
	bgzip -b 123456 -s 70000 "$T/o.gz" > "$T/dec"
	tail -c +123457 "$T/text" > "$T/tail"
	head -c 70000 "$T/tail" > "$T/want"
	same "$T/dec" "$T/want" "bgzip -b/-s random access into our BGZF"
fi

# ---- 3. zstd: one frame per block, zstd -t/-d
for f in $inputs; do
	for lv in 1 3; do
		"$C" zstd -l $lv < "$T/$f" > "$T/o.zst"
		run "zstd -t ($f, $lv)" zstd -q -t "$T/o.zst"
		zstd -q -dc "$T/o.zst" > "$T/dec" && same "$T/dec" "$T/$f" "zstd -d ($f, $lv)"
	done
	decode_all "$T/o.zst" "$T/$f" "zstd ($f)"
done
"$C" zstd -l 19 -b 1M < "$T/s130561" > "$T/o.zst"
zstd -q -dc "$T/o.zst" > "$T/dec" && same "$T/dec" "$T/s130561" "zstd -d (level 19)"
"$C" zstd -l -5 < "$T/text" > "$T/o.zst"
zstd -q -dc "$T/o.zst" > "$T/dec" && same "$T/dec" "$T/text" "zstd -d (level -5)"
frames=$(zstd -lv "$T/o.zst" 2> /dev/null | sed -n 's/^# Zstandard Frames: *\([0-9]*\).*/\1/p')
[ "${frames:-0}" = $(( (tsize + 131071) / 131072 )) ] && ok ||
	fail "zstd -lv counts ${frames:-?} frames, want one per 128 KiB block"

# ---- 4. the reference tools' output through our decoders
cat "$T/s65281" "$T/rand" "$T/text" > "$T/cat3"
gzip -c < "$T/s65281" > "$T/g3.gz"; gzip -c < "$T/rand" >> "$T/g3.gz"
gzip -c < "$T/text" >> "$T/g3.gz"
decode_all "$T/g3.gz" "$T/cat3" "gzip -c concatenation (plain members: serial)"
if have pigz; then
	pigz -p 2 -c < "$T/text" > "$T/p.gz"
	decode_all "$T/p.gz" "$T/text" "pigz output"
fi
if have bgzip; then
	bgzip -c < "$T/text" > "$T/b.gz"
	decode_all "$T/b.gz" "$T/text" "bgzip output"
	"$C" unsplit -v < "$T/b.gz" 2>&1 > /dev/null | grep -q ' 0 decoded serially' && ok ||
		fail "bgzip output was not split"
fi
cp "$T/text" "$T/tfile"
zstd -q -T2 -f "$T/tfile" -o "$T/z2.zst"
decode_all "$T/z2.zst" "$T/text" "zstd -T2 (one frame, content size)"
zstd -q -T2 -c < "$T/text" > "$T/zs.zst"
decode_all "$T/zs.zst" "$T/text" "zstd -T2 from a pipe (no content size)"
zstd -q --no-content-size -f "$T/tfile" -o "$T/zn.zst"
decode_all "$T/zn.zst" "$T/text" "zstd --no-content-size"
zstd -q -c < "$T/s65281" > "$T/z3.zst"; zstd -q -c < "$T/rand" >> "$T/z3.zst"
zstd -q -c < "$T/text" >> "$T/z3.zst"
decode_all "$T/z3.zst" "$T/cat3" "zstd -c concatenation"
# A mixed stream: ours (split), plain gzip (serial), zstd, and a skippable
# frame (magic 0x184D2A5A, 3 bytes), then BGZF again: back to splitting.
"$C" gzip < "$T/s65281" > "$T/mix"; gzip -c < "$T/rand" >> "$T/mix"
"$C" zstd < "$T/text" >> "$T/mix"; printf '\x5a\x2a\x4d\x18\x03\x00\x00\x00abc' >> "$T/mix"
"$C" gzip --bgzf < "$T/s130561" >> "$T/mix"
cat "$T/s65281" "$T/rand" "$T/text" "$T/s130561" > "$T/want"
decode_all "$T/mix" "$T/want" "mixed stream"
"$C" unsplit -v < "$T/mix" 2>&1 > /dev/null | grep -q 'split, 1 decoded serially' && ok ||
	fail "mixed stream: not back to splitting after the plain member"
# Caps: over them the member is decoded serially, still correctly.
"$C" gzip -b 1M < "$T/text" > "$T/o.gz"
run "caps" "$C" unsplit --max-out 100k --max-len 50k -v < "$T/o.gz" > "$T/dec"
same "$T/dec" "$T/text" "members over the caps decode serially"
grep -q 'more than the limit\|longer than the limit' "$T/err" && ok || fail "caps: no message"

# ---- 5. corrupted and truncated input: fail, or match the reference tool
# check CORRUPT REFCMD WHAT
check() {
	local rc ref
	for mode in unsplit serial; do
		rc=0
		"$C" $mode < "$1" > "$T/dec" 2> "$T/err" || rc=$?
		if grep -q 'Sanitizer\|runtime error' "$T/err" || [ $rc -gt 1 ]; then
			fail "$3 ($mode): crashed, exit $rc: $(head -c 300 "$T/err")"
			continue
		fi
		[ $rc = 1 ] && [ ! -s "$T/err" ] && { fail "$3 ($mode): error without a message"; continue; }
		if [ $rc = 0 ]; then
			ref=0
			$2 < "$1" > "$T/ref" 2> /dev/null || ref=$?
			if [ $ref != 0 ] || ! cmp -s "$T/dec" "$T/ref"; then
				fail "$3 ($mode): exit 0 where the reference says $ref / differs"
				continue
			fi
		fi
		ok
	done
}
# flip FILE OFFSET OUT: OUT is FILE with byte OFFSET inverted
flip() {
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 0xff)))" | dd of="$3" bs=1 seek="$2" conv=notrunc 2> /dev/null
}
for kind in gzip bgzf zstd; do
	case $kind in
	gzip) "$C" gzip -b 64k < "$T/s130561" > "$T/good"; ref="gzip -dc" ;;
	bgzf) "$C" gzip --bgzf < "$T/s130561" > "$T/good"; ref="gzip -dc" ;;
	zstd) "$C" zstd -b 64k < "$T/s130561" > "$T/good"; ref="zstd -q -dc" ;;
	esac
	size=$(stat -c %s "$T/good")
	for off in 0 1 2 3 4 8 9 10 11 12 13 14 15 16 17 18 19 20 21 30 100 1000 \
		$((size / 2)) $((size - 40)) $((size - 30)) $((size - 9)) $((size - 8)) \
		$((size - 5)) $((size - 4)) $((size - 1)); do
		flip "$T/good" $off "$T/bad"
		check "$T/bad" "$ref" "$kind, byte $off flipped"
	done
	for len in 1 2 5 10 17 25 $((size / 3)) $((size / 2)) $((size - 29)) $((size - 28)) \
		$((size - 1)); do
		head -c $len "$T/good" > "$T/bad"
		check "$T/bad" "$ref" "$kind, truncated to $len"
	done
	for tail in 'garbage' '\0\0\0\0' '\x1f' '\x28\xb5\x2f'; do
		{ cat "$T/good"; printf "$tail"; } > "$T/bad"
		check "$T/bad" "$ref" "$kind + trailing '$tail'"
		if "$C" unsplit < "$T/bad" > /dev/null 2> "$T/err"; then
			fail "$kind + trailing '$tail': accepted"
		else
			ok
		fi
	done
done
grep -q 'trailing garbage\|not a gzip or zstd\|truncated' "$T/err" && ok ||
	fail "trailing garbage: unclear message: $(cat "$T/err")"
for junk in "hello world" '\x1f\x8b\x08\x00' '\x28\xb5\x2f\xfd\x00'; do
	printf "$junk" > "$T/bad"
	check "$T/bad" "gzip -dc" "junk '$junk'"
done

# ---- 6. --pipe: the command's output, byte for byte, with and without sh
for cmd in "tr a-z A-Z" "sort -u" "tr a-z A-Z | sort | uniq -c" "wc -l" "head -c 1000"; do
	run "pipe '$cmd'" "$C" pipe "$cmd" < "$T/text" > "$T/dec"
	sh -c "$cmd" < "$T/text" > "$T/want"
	same "$T/dec" "$T/want" "pipe '$cmd'"
done
rc=0
"$C" pipe "exit 7" < "$T/s1" > /dev/null 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -q 'exit status 7' "$T/err" && ok || fail "pipe 'exit 7': rc $rc: $(cat "$T/err")"

echo "$checks checks"
if [ $failures -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "all passed"
