#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# identity (and upper) give back exactly the input: trailing newline or
# not, empty input, NUL records, fixed blocks, files and pipes, any -j.
. "$(dirname "$0")/lib.sh"

printf 'one\ntwo\nthree\n' > "$T/nl"
printf 'one\ntwo\nthree' > "$T/nonl"
: > "$T/empty"
printf '\n\n\n' > "$T/blank"
printf 'a\0bb\0\0ccc' > "$T/nul"
printf 'a\0bb\0\0ccc\0' > "$T/nul2"
"$GENTEXT" 5M > "$T/text"          # several read segments
head -c 3000000 /dev/urandom > "$T/bin"

for f in nl nonl empty blank text; do
	for j in 1 2 3; do
		"$RPMAP" -j $j identity < "$T/$f" > "$T/out"
		same "$T/$f" "$T/out" "identity -j$j $f"
	done
done
cat "$T/text" | "$RPMAP" identity > "$T/out"
same "$T/text" "$T/out" "identity from a pipe"
"$RPMAP" identity -i "$T/nonl" -o "$T/out"
same "$T/nonl" "$T/out" "identity -i/-o"
"$RPMAP" --chunk 1 identity < "$T/nonl" > "$T/out"
same "$T/nonl" "$T/out" "identity --chunk 1"
"$RPMAP" --batch 1k identity < "$T/text" > "$T/out"
same "$T/text" "$T/out" "identity --batch 1k"
for f in nul nul2 empty; do
	"$RPMAP" -0 identity < "$T/$f" > "$T/out"
	same "$T/$f" "$T/out" "identity -0 $f"
done
for b in 1 7 4096 64k 1M; do
	"$RPMAP" --block $b identity < "$T/bin" > "$T/out"
	same "$T/bin" "$T/out" "identity --block $b"
done
"$RPMAP" --block 100 identity < "$T/empty" > "$T/out"
same "$T/empty" "$T/out" "identity --block on empty input"

tr a-z A-Z < "$T/text" > "$T/want"
"$RPMAP" upper < "$T/text" > "$T/out"
same "$T/want" "$T/out" "upper = tr a-z A-Z"
"$RPMAP" -u upper < "$T/text" | sort > "$T/out"
sort "$T/want" > "$T/want.sorted"
same "$T/want.sorted" "$T/out" "upper --unordered: same records"
tr a-z A-Z < "$T/nonl" > "$T/want"
"$RPMAP" --block 3 upper < "$T/nonl" > "$T/out"
same "$T/want" "$T/out" "upper --block 3"
# stdin is read from its offset, as cat does, and left where rpmap stopped.
for mode in "" --spawn; do
	for skip in 5000 4096 1; do
		{ dd bs=$skip count=1 of=/dev/null status=none; "$RPMAP" $mode -j 2 identity; } \
			< "$T/text" > "$T/out"
		tail -c +$((skip + 1)) "$T/text" > "$T/want"
		same "$T/want" "$T/out" "identity $mode, stdin already read up to byte $skip"
	done
	{ "$RPMAP" $mode identity > /dev/null; cat; } < "$T/text" > "$T/out"
	[ -s "$T/out" ] && fail "$mode: stdin's offset not moved to the end" ||
		pass "identity $mode leaves stdin at its end"
done
{ cat > /dev/null; "$RPMAP" identity; } < "$T/text" > "$T/out"
[ -s "$T/out" ] && fail "stdin at its end: output" || pass "stdin at its end: no output"
finish
