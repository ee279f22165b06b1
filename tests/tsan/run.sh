#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build tests/tsan/tsan_ring with clang and ThreadSanitizer in its own build
# directory ($BUILD_DIR, default build-tsan/) and run that test alone.
# Arguments go to the program (e.g. --seconds 60 --records 5000000).
#
# Clang 14's TSan expects at most 28 bits of mmap randomisation; on kernels
# set higher (vm.mmap_rnd_bits = 32 on some) it dies at start with
# "FATAL: ThreadSanitizer: unexpected memory mapping". Then this script runs
# the test under `setarch -R` (ASLR off for that process tree only).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-tsan}
cd "$root"

if ! command -v clang >/dev/null; then
	echo "run.sh: clang not found (Debian: apt-get install clang)" >&2
	exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Db_sanitize=thread -Db_lundef=false \
		-Dbuildtype=debugoptimized >/dev/null
fi
san=$(meson introspect "$build" --buildoptions |
      python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
if [ "$san" != thread ]; then
	echo "run.sh: $build is not a ThreadSanitizer build (b_sanitize=$san); remove it" \
	     "or set BUILD_DIR" >&2
	exit 2
fi
exe=$build/tests/tsan/tsan_ring
if ninja -C "$build" -t targets all 2>/dev/null | grep '^tests/tsan/tsan_ring:' >/dev/null; then
	ninja -C "$build" tests/tsan/tsan_ring
	via_meson=1
else
	echo "run.sh: $build has no tests/tsan target (is subdir('tsan') in" \
	     "tests/meson.build?); compiling directly" >&2
	exe=$build/tsan_ring_direct
	clang -O1 -g -std=gnu11 -D_GNU_SOURCE -fsanitize=thread -Wall -Wextra -Ishm \
		-Itests/stress tests/tsan/tsan_ring.c tests/stress/stress_side.c shm/*.c \
		-lpthread -o "$exe"
	via_meson=0
fi

# Does TSan start at all here, or does it need ASLR off?
wrap=()
probe() {
	"$@" "$exe" --phase same --records 100 --seconds 1 >/dev/null 2>&1
}
if ! probe; then
	if probe setarch "$(uname -m)" -R; then
		echo "run.sh: TSan cannot start with this kernel's ASLR; running under setarch -R"
		wrap=(setarch "$(uname -m)" -R)
	else
		echo "run.sh: tsan_ring does not start, even with ASLR off:" >&2
		"$exe" --phase same --records 100 --seconds 1 || true
		exit 1
	fi
fi

if [ $via_meson = 1 ]; then
	test_args=()
	if [ $# -gt 0 ]; then
		test_args=(--test-args "$*")
	fi
	"${wrap[@]}" meson test -C "$build" --no-rebuild --suite tsan --print-errorlogs -v \
		"${test_args[@]}" tsan_ring
else
	# The same options as the meson test() in tests/tsan/meson.build.
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
		"${wrap[@]}" "$exe" --seconds 20 --records 1000000 "$@"
fi
