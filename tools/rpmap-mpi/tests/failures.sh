#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap-mpi when things go wrong. A failed record: stdout gets rpmap's prefix
# and status; -o leaves OUT as it was. A rank killed mid-run: the job ends
# non-zero, OUT is not replaced, no OUT.tmp-* and no worker is left. Bad
# command lines, inputs and outputs: one clear message, status 2, nothing
# written. The launch as root with --allow-run-as-root; --help; --stats; a
# reader of mpirun's stdout that goes away.
. "$(dirname "$0")/../../rpmap/tests/lib.sh"
. "$(dirname "$0")/mpilib.sh"

run() { # run N ARGS...: rc, out, err
	set +e
	mrun "$@" > "$T/out" 2> "$T/err"
	rc=$?
	set -e
}

"$GENTEXT" 1M > "$T/text"
seq 1 3000 | sed 's/^2500$/CRASH/' > "$T/crash"

# A record fails on rank 2 of 3 (no -k): what rpmap writes and says.
run 3 "$TESTPLUG_SO:testfn" -i "$T/crash"
set +e; "$RPMAP" "$TESTPLUG_SO:testfn" -i "$T/crash" > "$T/want" 2> "$T/wanterr"; wrc=$?; set -e
expect_rc "$wrc" "$rc" "crash, stdout: rpmap's status"
same "$T/want" "$T/out" "crash, stdout: rpmap's prefix"
has "$T/err" "$(head -1 "$T/wanterr" | sed 's/[()]/\\&/g')" "crash: rpmap's message"
echo "OUT as it was" > "$T/keep"
cp "$T/keep" "$T/OUT"
run 3 "$TESTPLUG_SO:testfn" -i "$T/crash" -o "$T/OUT"
expect_rc 1 "$rc" "crash, -o"
same "$T/keep" "$T/OUT" "crash, -o: OUT untouched"
no_tmp "$T/OUT"

# A rank killed mid-run (rank 1 of 3, then rank 0 of 2), by its pid: about
# 60 records of 100 ms each, one worker per rank.
for i in $(seq 1 60); do echo "record $i SLEEP100"; done > "$T/slow"
kill_rank() { # kill_rank N RANK
	local mp victim="" workers p
	cp "$T/keep" "$T/OUT"
	"${MPIRUN[@]}" -n "$1" "$RPMAP_MPI" -j 1 "$TESTPLUG_SO:sleepy" -i "$T/slow" -o "$T/OUT" \
		> /dev/null 2> "$T/err" &
	mp=$!
	for _ in $(seq 1 50); do	# the ranks are mpirun's children
		for p in $(pgrep -P "$mp" || true); do
			tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null |
				grep -qx "OMPI_COMM_WORLD_RANK=$2" && victim=$p
		done
		[ -n "$victim" ] && [ -n "$(pgrep -P "$victim" || true)" ] && break
		sleep 0.1
	done
	sleep 0.5
	workers=$(for p in $(pgrep -P "$mp" || true); do pgrep -P "$p" || true; done)
	if [ -z "$victim" ] || [ -z "$workers" ]; then
		fail "kill rank $2 of $1: no rank or no worker found"
		kill "$mp" 2> /dev/null || true
		wait "$mp" || true
		return
	fi
	kill -KILL "$victim"
	set +e
	if ! timeout 30 tail --pid="$mp" -f /dev/null; then	# bounded: a hang fails
		fail "kill rank $2 of $1: mpirun still running after 30 s"
		kill -TERM "$mp"
		sleep 2
		kill -KILL "$mp" 2> /dev/null
	fi
	wait "$mp"
	rc=$?
	set -e
	[ "$rc" != 0 ] && pass "kill rank $2 of $1: exit $rc" || fail "kill rank $2 of $1: exit 0"
	same "$T/keep" "$T/OUT" "kill rank $2 of $1: OUT untouched"
	sleep 0.5
	# shellcheck disable=SC2086
	left=$(ps -o pid=,stat= -p $(echo $workers | tr ' ' ,) 2> /dev/null | awk '$2 !~ /Z/' || true)
	[ -z "$left" ] && pass "kill rank $2 of $1: workers gone" || fail "workers left: $left"
}
kill_rank 3 1
# mpirun ends rank 0 once rank 1 died; if that comes before rank 0 removed
# its OUT.tmp-*, the temporary stays (documented in docs/scale.md; OUT is
# untouched either way, checked above). Seen in 1 of about 5 runs.
rm -f "$T"/OUT.tmp-*
[ "${RPMAP_MPI_QUICK:-0}" = 1 ] || kill_rank 2 0
rm -f "$T"/OUT.tmp-*	# rank 0 itself killed: its OUT.tmp-* may stay (documented)

# Bad command lines and files: status 2, said once (not once per rank).
once() { # once WHAT PATTERN
	expect_rc 2 "$rc" "$1"
	has "$T/err" "$2" "$1: message"
	[ "$(grep -Ec -- "$2" "$T/err")" = 1 ] && pass "$1: said once" ||
		fail "$1: said $(grep -Ec -- "$2" "$T/err") times"
}
bad_inputs() {
	run 3 identity
	once "no -i" "one input file is needed"
	run 3 identity -i -
	once "-i -" "one input file is needed"
	run 2 identity "$T/text" "$T/text"
	once "two files" "one input file is needed"
	run 2 upper "$T/text"
	expect_rc 0 "$rc" "FILE, not -i"
	"$RPMAP" upper "$T/text" > "$T/want"
	same "$T/want" "$T/out" "FILE, not -i: rpmap's output"
	# Record kinds range.c cannot split, and options of rpmap's that every
	# rank would act on alike (issue 16, after rpmap 2).
	gzip -c "$T/text" > "$T/text.gz"
	run 2 gunzip -i "$T/text.gz" -o "$T/gz.out"
	once "gunzip" "cannot be split across ranks"
	[ ! -e "$T/gz.out" ] && pass "gunzip: no output" || fail "gunzip: output written"
	run 2 --pipe cat -i "$T/text"
	once "--pipe" "cannot be split across ranks"
	run 2 --joblog "$T/joblog" identity -i "$T/text"
	once "--joblog" "--joblog is not supported"
	run 2 --stats=json identity -i "$T/text"
	once "--stats=json" "--stats=json is not supported"
	run 2 nosuchfunction -i "$T/text"
	once "unknown function" "unknown function 'nosuchfunction'"
	run 3 identity -i "$T/nosuchfile"
	expect_rc 2 "$rc" "missing input"
	has "$T/err" "nosuchfile: No such file" "missing input: message"
	run 2 identity -i /dev/zero
	once "-i /dev/zero" "not a regular file"
	run 2 identity -i "$T/text" -o /dev/null
	once "-o /dev/null" "/dev/null: not a regular file"
	run 2 identity -i "$T/text" -o "$T/text"
	once "-o the input" "input file is output file"
	cmp -s "$T/text" <("$GENTEXT" 1M) && pass "-o the input: input intact" || fail "input changed"
	run 2 identity -i "$T/text" -o "$T/nodir/OUT"
	once "-o in a missing directory" "nodir: No such file"
	cp "$T/keep" "$T/OUT"
	launcher=("${MPIRUN[@]}")
	MPIRUN+=(-x "TMPDIR=$T/keep")	# the ranks' TMPDIR, a file (mpirun makes a missing one)
	run 2 identity -i "$T/text" -o "$T/OUT"
	MPIRUN=("${launcher[@]}")
	expect_rc 2 "$rc" "TMPDIR not a directory"
	has "$T/err" "temporary file in .*keep: Not a directory" "TMPDIR not a directory: message"
	same "$T/keep" "$T/OUT" "TMPDIR not a directory: OUT untouched"
	no_tmp "$T/OUT"
}
# Run alone with a launcher's variable left in the environment by mistake
# (no mpirun: the error comes before MPI_Init): the message is not silenced.
for v in "OMPI_COMM_WORLD_RANK=1" "SLURM_PROCID=3 SLURM_NTASKS=1"; do
	set +e
	env $v "$RPMAP_MPI" upper > "$T/out" 2> "$T/err"
	rc=$?
	set -e
	once "alone, with $v" "one input file is needed"
done
# Sanitizer builds (RPMAP_MPI_QUICK=1) skip these: each launch takes
# seconds there, and they end before any rank maps.
[ "${RPMAP_MPI_QUICK:-0}" = 1 ] || bad_inputs

# OUT's filesystem fills up during the MPI-IO writes (a 512 KiB tmpfs, as
# root where mounts are allowed). Without -o, the same cannot be checked:
# mpirun forwards the ranks' output and exits 0 when its own writes fail
# (Open MPI 4.1: `mpirun -n 1 echo hi > /dev/full`), which docs/scale.md says.
mkdir "$T/small"
if mount -t tmpfs -o size=512k tmpfs "$T/small" 2> /dev/null; then
	trap 'umount "$T/small"; rm -rf "$T"' EXIT	# also if the test is killed
	run 3 identity -i "$T/text" -o "$T/small/OUT"
	expect_rc 2 "$rc" "OUT's filesystem full"
	has "$T/err" "No space left on device|no byte written at offset" "OUT's filesystem full: message"
	[ ! -e "$T/small/OUT" ] && pass "OUT's filesystem full: no OUT" || fail "OUT written"
	no_tmp "$T/small/OUT"
	umount "$T/small"
	trap 'rm -rf "$T"' EXIT
else
	echo "skip: OUT's filesystem full (no tmpfs mount here)"
fi
head -c 3000000 /dev/zero | tr '\0' x > "$T/huge"
run 3 --max-record 1M identity -i "$T/huge" -o "$T/OUT"
expect_rc 2 "$rc" "record longer than --max-record"
has "$T/err" "longer than --max-record" "--max-record: message"
no_tmp "$T/OUT"

# --help and --version from rank 0 only; --stats per rank and in total.
if [ "${RPMAP_MPI_QUICK:-0}" != 1 ]; then
	run 3 --help
	expect_rc 0 "$rc" "--help"
	[ "$(grep -c '^Usage: mpirun' "$T/out")" = 1 ] && pass "--help printed once" ||
		fail "--help"
fi
run 3 --stats -j 1 crc32 -i "$T/text"
expect_rc 0 "$rc" "--stats"
for r in 0 1 2; do has "$T/err" "^rpmap-mpi: rank $r: bytes \[" "--stats: rank $r"; done
has "$T/err" "^rpmap-mpi: total: 3 ranks, 3 workers, [0-9]+ records \(0 failed\)" "--stats: total"

# As root: --allow-run-as-root instead of the two variables.
if [ "$(id -u)" = 0 ] && [ "${RPMAP_MPI_QUICK:-0}" != 1 ]; then
	set +e
	env -u OMPI_ALLOW_RUN_AS_ROOT -u OMPI_ALLOW_RUN_AS_ROOT_CONFIRM timeout 60 \
		"${MPIRUN[@]}" --allow-run-as-root -n 2 "$RPMAP_MPI" upper -i "$T/text" > "$T/out"
	rc=$?
	set -e
	expect_rc 0 "$rc" "as root with --allow-run-as-root"
	tr a-z A-Z < "$T/text" > "$T/want"
	same "$T/want" "$T/out" "as root with --allow-run-as-root: output"
fi

# The reader of mpirun's stdout goes away: the job ends, not 0, not hung,
# and no rank is left. (Open MPI 4.1.4's mpirun aborts the job on the
# SIGPIPE and then crashes in PMIx_Finalize: exit 139, a trace on stderr.)
"$GENTEXT" 20M > "$T/big"
set +e
mrun 3 identity -i "$T/big" 2> "$T/err" | head -c 1000 > /dev/null
rc=${PIPESTATUS[0]}
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ] && pass "stdout's reader left: exit $rc" ||
	fail "stdout's reader left: exit $rc"
for _ in $(seq 1 20); do	# this build's rpmap-mpi, with this test's input
	left=$(pgrep -f "^$RPMAP_MPI identity -i $T/big" || true)
	[ -z "$left" ] && break
	sleep 0.25
done
[ -z "$left" ] && pass "stdout's reader left: no rank left" || fail "ranks left: $left"
finish
