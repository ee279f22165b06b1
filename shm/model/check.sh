#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Model-check the ring and wake-up protocol (ring.pml) with Spin: exhaustive
# runs of the correct model, which must pass, then the broken variants, each
# of which must FAIL with the error it is there to show. Exits 0 only if every
# run went as expected. Runs $(nproc) verifiers at a time (JOBS=n to change);
# about a minute on 2 cores, under 1 GiB of memory per verifier.
#
# Usage: shm/model/check.sh [-k]     (-k keeps the work directory)
# Needs: spin, gcc (Debian: apt-get install spin gcc).
#
# What a failure means: "invalid end state" = a state where nothing can move
# and someone is still asleep (a lost wake-up); "assertion violated" = order,
# loss, duplicate, payload or overwrite check; "acceptance cycle" = a fair
# run in which the parent never finishes.

keep=0
[ "${1:-}" = "-k" ] && keep=1

for tool in spin gcc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "check.sh: $tool not found (Debian: apt-get install spin gcc)" >&2
		exit 2
	fi
done

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/rp-model.XXXXXX") || exit 2
if [ $keep = 1 ]; then
	echo "work directory: $work"
else
	trap 'rm -rf "$work"' EXIT INT TERM
fi
cp "$here/ring.pml" "$work/" || exit 2
cd "$work" || exit 2

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
nrun=0
t_all=$(date +%s.%N)
echo "$(spin -V | head -1), $(gcc --version | head -1); $jobs verifiers at a time"

# verify DIR EXPECT MODE [spin -D options...]: one Spin run in DIR; writes
# DIR/result: "PASS|FAIL  <name>: <details>".
#   EXPECT: "pass", or the pan error text the broken variant must produce
#   MODE:   safety (assertions + invalid end states) or ltl (acceptance
#           cycles under weak fairness, claim parent_terminates; assertions)
verify() {
	dir=$1 expect=$2 mode=$3
	shift 3
	cd "$dir" || return
	cp ../ring.pml .
	if [ "$mode" = ltl ]; then
		cflags="" panflags="-a -f"
		set -- -DLTL "$@"
	else
		cflags="-DSAFETY" panflags=""
	fi
	# -O1: pan.c compiles in a third of -O2's time and runs as fast; the
	# small counterexample searches do not need optimising at all.
	opt=-O1
	[ "$expect" = pass ] || opt=-O0
	if ! spin -a "$@" ring.pml >spin.out 2>&1 ||
	   ! gcc -w $opt $cflags -DMEMLIM=4096 -o pan pan.c >gcc.out 2>&1; then
		cat spin.out gcc.out >&2
		echo "FAIL: could not build the verifier" >result
		return
	fi
	t0=$(date +%s.%N)
	./pan -m1000000 $panflags >pan.out 2>&1
	t1=$(date +%s.%N)
	secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out)
	states=$(awk '/states, stored/ { print $1; exit }' pan.out)
	trans=$(awk '/transitions \(= / { print $1; exit }' pan.out)
	depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' pan.out)
	what=$(grep -m1 '^pan:1:' pan.out | sed 's/^pan:1: //')
	if grep -q -E 'max search depth too small|out of memory|search not completed' pan.out; then
		echo "FAIL: search incomplete: $(grep -m1 -E 'depth too small|memory|not completed' pan.out)"
	elif [ "$expect" = pass ]; then
		if [ "$errors" = 0 ]; then
			echo "PASS: $states states, $trans transitions, depth $depth, ${secs}s"
		else
			echo "FAIL: ${what:-errors: $errors}"
		fi
	else
		case "$what" in
		*"$expect"*) echo "PASS: fails as it must: $what; ${states:-?} states, ${secs}s" ;;
		*) echo "FAIL: expected \"$expect\", got \"${what:-no error}\"" ;;
		esac
	fi >result
	# The counterexample stays for -k: spin -t -p <options> ring.pml in DIR.
	rm -f pan pan.[bchmpt]
}

# run NAME EXPECT MODE [options]: queue one verification, $jobs at a time.
names=()
run() {
	name=$1
	shift
	nrun=$((nrun + 1))
	names[$nrun]=$name
	mkdir "$work/$nrun"
	echo "$*" >"$work/$nrun/args"
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	(verify "$work/$nrun" "$@") &
}

# Correct model: must pass. Bounds: CAP ring slots, records of 1..CAP/2
# slots with pad markers, NREC records, indices mod 2*CAP, spin budget 0..1
# re-checks, futex word mod 4 (see ring.pml). CAP=6 is not a power of two;
# the index argument only needs CAP to divide 2*CAP.
# The worker may die at any step; the parent's sleep times out and checks
# liveness; the worker's sleep has no timeout (stricter than its 1 s). Both
# doorbell pairs: symmetric fences, and light notify + membarrier (LIGHT).
# Three records (with a pad) keep the liveness runs short; the runs below
# use five, enough to wrap the indices.
for light in 0 1; do
	for role in 1 0; do
		what="$([ $role = 1 ] && echo result || echo task)-ring death$([ $light = 1 ] && echo ", light")"
		run "$what <>parent_done" pass ltl -DNREC=3 -DPARENT_CONSUMES=$role -DDEATH=1 -DPARENT_TMO=1 -DLIGHT=$light
		run "$what safety" pass safety -DNREC=3 -DPARENT_CONSUMES=$role -DDEATH=1 -DPARENT_TMO=1 -DLIGHT=$light
	done
done

# Both sides sleep without timeouts; nobody dies. Any lost wake-up leaves a
# sleeper blocked for ever: an invalid end state.
run "no-lost-wakeup cap4 len1-2 n5" pass safety -DCAP=4 -DNREC=5
run "no-lost-wakeup cap2 len1 n5" pass safety -DCAP=2 -DMAXLEN=1 -DNREC=5
run "no-lost-wakeup result ring, light" pass safety -DCAP=4 -DNREC=5 -DLIGHT=1 -DPARENT_CONSUMES=1
run "no-lost-wakeup task ring, light" pass safety -DCAP=4 -DNREC=5 -DLIGHT=1 -DPARENT_CONSUMES=0
# An aborted reservation leaves a lone pad marker for peek to skip; and a
# consumer that publishes head only before sleeping. Both were lost wake-ups
# while rp_ring_peek stored head itself (see the broken variants).
run "aborted reservations cap6 n3" pass safety -DCAP=6 -DMAXLEN=3 -DNREC=3 -DABORTS=1
run "aborted reservations cap6 n3, light" pass safety -DCAP=6 -DMAXLEN=3 -DNREC=3 -DABORTS=1 -DLIGHT=1
run "no publish before peek" pass safety -DNO_PREPUBLISH
# Broken variants: must fail.
run "no re-check after arming" "invalid end state" safety -DBUG_NORECHECK
run "re-check before arming (no W1)" "invalid end state" safety -DBUG_RECHECK_FIRST
run "flag load before publish (no N1)" "invalid end state" safety -DBUG_NOTIFY_FIRST
run "CAS without FUTEX_WAKE" "invalid end state" safety -DBUG_NOWAKE
run "light notify, no membarrier (result)" "invalid end state" safety -DLIGHT=1 -DBUG_NO_MEMBARRIER
run "light notify, no membarrier (task)" "invalid end state" safety -DLIGHT=1 -DBUG_NO_MEMBARRIER -DPARENT_CONSUMES=0
run "commit word without position (stale lap)" "assertion violated" safety -DCAP=4 -DNREC=5 -DBUG_STALE_COMMIT
run "commit word before the record" "assertion violated" safety -DBUG_COMMIT_FIRST
run "full check ignores the pad" "assertion violated" safety -DBUG_PADCHECK
run "parent sleeps unbounded, worker dies" "invalid end state" safety -DDEATH=1 -DPARENT_TMO=0
run "no liveness check after timeout" "acceptance cycle" ltl -DDEATH=1 -DPARENT_TMO=1 -DBUG_NOLIVENESS
run "dead worker's results not drained" "assertion violated" safety -DDEATH=1 -DPARENT_TMO=1 -DBUG_NODRAIN

wait
npass=0
nfail=0
for i in $(seq 1 $nrun); do
	line=$(cat "$work/$i/result" 2>/dev/null || echo "FAIL: no result")
	printf '%s  %-40s %s\n' "${line%%:*}" "${names[$i]}" "${line#*: }"
	case "$line" in
	PASS*) npass=$((npass + 1)) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
done
t_end=$(date +%s.%N)
echo "$t_all $t_end" | awk '{ printf "model check took %.1fs wall\n", $2 - $1 }'
echo "model: $npass passed, $nfail failed"
[ $nfail = 0 ]
