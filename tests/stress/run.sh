#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run the ring stress test (ring_stress.c) in three shapes:
#   both-ways   4 KiB rings, random sizes, bursts and pauses: both sides fill,
#               drain, sleep and wake all the time
#   tiny-ring   256 B rings (records up to 104 B): constant wrap-around and
#               pad markers, full and empty every few records
#   sleepy      one way, no spinning, long pauses: nearly every wait sleeps
#   aborts      only with --aborts: one way, one reservation in four dropped
#               with rp_ring_abort() (its pad marker stays). Shows the lost
#               wake-up the current rp_ring_cons_publish() allows (see
#               shm/model/check.sh), so it fails until that is fixed.
# --short: about 30 s in all (20 + 5 + 5); default: about 3 minutes.
# Other arguments go to every ring_stress run (e.g. --seed 42).
#
# Builds tests/stress/ring_stress in $BUILD_DIR (default: build/, set up with
# meson if missing). If that build does not include tests/stress yet, it
# compiles the program directly with ${CC:-cc}.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
short=0
aborts=0
args=()
for a in "$@"; do
	case "$a" in
	--short) short=1 ;;
	--aborts) aborts=1 ;;
	*) args+=("$a") ;;
	esac
done
if [ $short = 1 ]; then
	t_both=20 t_tiny=5 t_sleepy=5
else
	t_both=120 t_tiny=30 t_sleepy=30
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
shape tiny-ring --seconds $t_tiny --cap 256 --spin 8 "${args[@]}"
shape sleepy --seconds $t_sleepy --oneway --spin 0 --pause-every 4 --pause-us 500 "${args[@]}"
if [ $aborts = 1 ]; then
	shape aborts --seconds $t_tiny --oneway --abort-every 4 --timeout-ms 200 "${args[@]}"
fi
echo "stress: $pass passed, $fail failed"
[ $fail = 0 ]
