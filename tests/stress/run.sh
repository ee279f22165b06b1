#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run the ring stress test (ring_stress.c) in five shapes:
#   both-ways   4 KiB rings, random sizes, bursts and pauses: both sides fill,
#               drain, sleep and wake all the time
#   light       the same with the asymmetric doorbell: the child notifies
#               with rp_evc_notify_light(), the parent arms with
#               rp_evc_prepare_heavy() (membarrier), as lib does
#   tiny-ring   256 B rings (records up to 104 B): constant wrap-around and
#               pad markers, full and empty every few records
#   sleepy      one way, no spinning, long pauses: nearly every wait sleeps
#   aborts      one way, one reservation in four dropped with rp_ring_abort()
#               (its pad marker stays): the lost wake-up of the days when
#               rp_ring_peek() stored head itself (shm/model/check.sh, "old
#               peek stored head, aborted pad") shows up here within a second
# --short: about 30 s in all (10 + 8 + 4 + 4 + 4); default: about 4 minutes.
# Other arguments go to every ring_stress run (e.g. --seed 42).
#
# Builds tests/stress/ring_stress in $BUILD_DIR (default: build/, set up with
# meson if missing). If that build does not include tests/stress yet, it
# compiles the program directly with ${CC:-cc}.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
short=0
args=()
for a in "$@"; do
	case "$a" in
	--short) short=1 ;;
	*) args+=("$a") ;;
	esac
done
if [ $short = 1 ]; then
	t_both=10 t_light=8 t_tiny=4 t_sleepy=4 t_aborts=4
else
	t_both=90 t_light=60 t_tiny=30 t_sleepy=30 t_aborts=30
fi

cd "$root"
exe=$build/tests/stress/ring_stress
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null
fi
if ninja -C "$build" -t targets all 2>/dev/null | grep '^tests/stress/ring_stress:' >/dev/null; then
	ninja -C "$build" tests/stress/ring_stress
else
	echo "run.sh: $build has no tests/stress target (is subdir('stress') in" \
	     "tests/meson.build?); compiling directly" >&2
	exe=$(mktemp -d)/ring_stress
	trap 'rm -rf "$(dirname "$exe")"' EXIT
	"${CC:-cc}" -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Ishm \
		tests/stress/ring_stress.c tests/stress/stress_side.c shm/*.c -o "$exe"
fi

pass=0
fail=0
shape() {
	local name=$1
	shift
	echo "== $name: ring_stress $*"
	if "$exe" "$@"; then
		pass=$((pass + 1))
	else
		echo "== $name: FAILED"
		fail=$((fail + 1))
	fi
}

shape both-ways --seconds $t_both "${args[@]}"
shape light --seconds $t_light --light "${args[@]}"
shape tiny-ring --seconds $t_tiny --cap 256 --spin 8 "${args[@]}"
shape sleepy --seconds $t_sleepy --oneway --spin 0 --pause-every 4 --pause-us 500 "${args[@]}"
shape aborts --seconds $t_aborts --oneway --abort-every 4 --timeout-ms 200 "${args[@]}"
echo "stress: $pass passed, $fail failed"
[ $fail = 0 ]
