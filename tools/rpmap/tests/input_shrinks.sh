#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The input file is truncated while rpmap reads it (it is mapped, in the
# parent and in every worker): a clear "input shrank" error and exit 2,
# never SIGBUS (issue 11: exit 135, no message), and the output is the
# results of exactly the records before the input byte the message names,
# every one of them written. A file that grows is read up to the size it
# had when rpmap opened it.
. "$(dirname "$0")/lib.sh"

"$GENTEXT" 30M > "$T/orig"
mkfifo "$T/fifo"

# run_truncated WHAT SIZE ARGS...: start rpmap on a copy of orig writing to
# a pipe nobody reads yet (so it stops once its buffers are full), wait
# until it has mapped the input, truncate (or, SIZE +N: append N bytes),
# then read the output. Sets rc; the output is in $T/out.
run_truncated() {
	local size=$1 pid
	shift
	cp "$T/orig" "$T/in"
	"$RPMAP" "$@" -i "$T/in" > "$T/fifo" 2> "$T/err" &
	pid=$!
	exec 3< "$T/fifo"
	for _ in $(seq 1 200); do
		grep -q "$T/in" "/proc/$pid/maps" 2> /dev/null && break
		sleep 0.05
	done
	case $size in
	+*) head -c "${size#+}" /dev/zero | tr '\0' 'z' >> "$T/in" ;;
	*) truncate -s "$size" "$T/in" ;;
	esac
	timeout 60 cat <&3 > "$T/out"
	exec 3<&-
	set +e
	wait $pid; rc=$?
	set -e
}

# stopped_at WHAT SIZE: exit 2 and the message; z = the byte it names.
stopped_at() {
	expect_rc 2 $rc "$1"
	has "$T/err" "input shrank from 31457280 to $2 bytes while being read; records from input byte [0-9]+ on were not written" "$1: message"
	z=$(sed -n 's/.*records from input byte \([0-9]*\) on.*/\1/p' "$T/err")
}

for mode in "" --spawn; do
	m=${mode:-fork}
	for j in 1 3; do
		run_truncated 1000003 $mode -j $j identity
		stopped_at "$m -j $j identity" 1000003
		head -c "${z:-0}" "$T/orig" > "$T/want"
		same "$T/want" "$T/out" "$m -j $j identity: every record before byte $z"
	done
	run_truncated 1000003 $mode -j 2 upper
	stopped_at "$m upper" 1000003
	head -c "${z:-0}" "$T/orig" | tr a-z A-Z > "$T/want"
	same "$T/want" "$T/out" "$m upper: every record before byte $z"

	run_truncated 2000000 $mode -j 2 crc32
	stopped_at "$m crc32" 2000000
	head -c "${z:-0}" "$T/orig" | python3 -c '
import sys, zlib
for l in sys.stdin.buffer.read().split(b"\n")[:-1]:
    sys.stdout.write("%08x\n" % zlib.crc32(l))' > "$T/want"
	same "$T/want" "$T/out" "$m crc32: every record before byte $z"

	run_truncated 1000003 $mode -j 2 --block 100000 gzip
	stopped_at "$m gzip" 1000003
	head -c "${z:-0}" "$T/orig" > "$T/want"
	gzip -dc < "$T/out" > "$T/got" || fail "$m gzip: output not a valid gzip file"
	same "$T/want" "$T/got" "$m gzip: every block before byte $z"

	run_truncated 5000 $mode -j 2 "$TESTPLUG_SO:slow"
	stopped_at "$m plugin" 5000
	head -c "${z:-0}" "$T/orig" > "$T/want"
	same "$T/want" "$T/out" "$m plugin: every record before byte $z"

	run_truncated 0 $mode -u -j 2 crc32
	stopped_at "$m -u crc32, truncated to 0" 0

	# Growing: the size at open is what is read.
	run_truncated +100000 $mode -j 2 identity
	expect_rc 0 $rc "$m: input grew"
	same "$T/orig" "$T/out" "$m: input grew: the bytes present at open"
done
finish
