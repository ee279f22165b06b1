#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gzip: one member per record; the whole is a valid gzip file that gzip
# and pigz decode back to the input, empty input included.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 3M > "$T/text"
printf 'no newline at the end' > "$T/short"
: > "$T/empty"
for f in text short empty; do
	"$RPMAP" gzip < "$T/$f" > "$T/out.gz"
	gzip -t "$T/out.gz" && pass "gzip -t ($f)" || fail "gzip -t ($f)"
	gzip -dc "$T/out.gz" > "$T/out"
	same "$T/$f" "$T/out" "gunzip gives the input back ($f)"
	if command -v pigz > /dev/null; then
		pigz -dc "$T/out.gz" > "$T/out"
		same "$T/$f" "$T/out" "pigz -d gives the input back ($f)"
	fi
done
for opt in "gzip:1" "gzip:9 -j 1" "--block 10k gzip:0" "--lines gzip" "-0 gzip"; do
	# shellcheck disable=SC2086
	"$RPMAP" $opt < "$T/text" > "$T/out.gz"
	gzip -dc "$T/out.gz" > "$T/out"
	same "$T/text" "$T/out" "round trip: rpmap $opt"
done
n=$("$RPMAP" --stats gzip < "$T/text" 2>&1 > /dev/null | sed -n 's/^rpmap: \([0-9]*\) records.*/\1/p')
[ "$n" = $(( (3 * 1048576 + 131071) / 131072 )) ] && pass "gzip: 128k blocks by default" ||
	fail "gzip: $n records for 3M, want 24"
finish
