#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Memory: rings are sized to the tasks (not 4x the largest record per
# worker: `-j 2 --block 64M` took 2 GiB of shared memory), and in a memory
# cgroup too small for the workers rpmap refuses with a message and exit 2
# instead of being OOM-killed (issue 11); without -j it starts fewer
# workers; a record too large for the memory left is refused the same way.
. "$(dirname "$0")/lib.sh"

ring_kib() { sed -n 's/.*ring \([0-9]*\) KiB.*/\1/p' "$T/err"; }

"$GENTEXT" 20M > "$T/in"
"$RPMAP" --stats identity < "$T/in" 2> "$T/err" > /dev/null
[ "$(ring_kib)" = 2048 ] && pass "default: 2 MiB rings" || fail "default: ring $(ring_kib) KiB"
"$RPMAP" --stats -j 2 --block 64M identity < "$T/in" 2> "$T/err" > /dev/null
k=$(ring_kib)
[ -n "$k" ] && [ "$k" -le 262144 ] && pass "--block 64M: rings of $k KiB (one record + headers)" ||
	fail "--block 64M: rings of $k KiB, want at most 256 MiB"
"$RPMAP" --stats --batch 16M identity < "$T/in" 2> "$T/err" > /dev/null
k=$(ring_kib)
[ -n "$k" ] && [ "$k" -le 65536 ] && pass "--batch 16M: rings of $k KiB" ||
	fail "--batch 16M: rings of $k KiB, want at most 64 MiB"

# run_memcg LIMIT ARGS...: rpmap ARGS in a cgroup of LIMIT bytes, input
# $T/big, output through cksum into $T/out; rc is rpmap's status.
head -c 150M /dev/urandom > "$T/big"
run_memcg() {
	local lim=$1
	shift
	set +e
	in_memcg "$lim" "$RPMAP" "$@" -i "$T/big" 2> "$T/err" | cksum > "$T/out"
	rc=${PIPESTATUS[0]}
	set -e
}
if ldd "$RPMAP" | grep -q libasan; then
	# Shadow memory and the allocator's quarantine make the memory an
	# ASan build takes unrelated to what rpmap plans for.
	echo "SKIP: memory-limited cgroup tests: an AddressSanitizer build"
	finish
	exit 0
fi
run_memcg 64M identity
if [ "$rc" = 77 ]; then
	echo "SKIP: memory-limited cgroup tests: $(cat "$T/err")"
	finish
	exit 0
fi
cksum < "$T/big" > "$T/want"

run_memcg 400M -j 2 --block 64M identity
expect_rc 2 $rc "-j 2 --block 64M in 400 MiB"
has "$T/err" "not enough memory for the workers: [0-9]+ MiB of shared memory needed \(2 workers, 2 rings of 256M each\), [0-9]+ MiB available" "-j 2 --block 64M in 400 MiB: message"
has "$T/err" "use fewer workers \(-j\) or smaller records" "-j 2 --block 64M in 400 MiB: advice"

run_memcg 400M -j 1 --block 16M identity
expect_rc 0 $rc "-j 1 --block 16M in 400 MiB"
same "$T/want" "$T/out" "-j 1 --block 16M in 400 MiB: output"

run_memcg 64M -j 2 gzip
expect_rc 0 $rc "-j 2 gzip (defaults) in 64 MiB"

# Without -j, fewer workers rather than none.
run_memcg 200M --stats --block 16M identity
expect_rc 0 $rc "--block 16M, no -j, in 200 MiB"
same "$T/want" "$T/out" "--block 16M, no -j, in 200 MiB: output"

# A record too large for the memory left: refused, exit 2.
{ head -c 1000 "$T/in"; head -c 100M /dev/zero | tr '\0' a; echo; head -c 1000 "$T/in"; } > "$T/big"
run_memcg 300M -j 1 --max-record 128M identity
expect_rc 2 $rc "a 100 MB record in 300 MiB"
has "$T/err" "not enough memory for record 1[0-9] \(input byte [0-9]+, 1048576[0-9]+ bytes\)" "a 100 MB record in 300 MiB: message"
# From a pipe, the record is gathered in memory first: that too is checked.
for lim in 120M 200M; do
	set +e
	cat "$T/big" | in_memcg $lim "$RPMAP" -j 1 --max-record 128M identity 2> "$T/err" > /dev/null
	rc=${PIPESTATUS[1]}
	set -e
	expect_rc 2 $rc "a 100 MB record from a pipe in $lim"
	has "$T/err" "not enough memory (to read a record longer than [0-9]+ bytes|for record 15)" \
		"a 100 MB record from a pipe in $lim: message"
done
cksum < "$T/big" > "$T/want"
run_memcg 900M -j 1 --max-record 128M identity
expect_rc 0 $rc "a 100 MB record in 900 MiB"
same "$T/want" "$T/out" "a 100 MB record in 900 MiB: output"
finish
