#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh clone: configures and builds what it
# needs, then runs
#   1. the Criterion suite (build/),
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/),
#   3. the protocol model check and its must-fail variants, the
#      ThreadSanitizer ring test, the short ring stress run, the short fault
#      soak and a short libFuzzer run over the parent's readers,
#   4. the examples and the benchmark smoke run,
#   5. the install and four outside consumer builds (pkg-config shared and
#      static, meson subproject, CMake: tests/consumer/run.sh).
# Every step is bounded in time. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
passed=0
failed=0
failures=()

step() { # step NAME TIMEOUT_S COMMAND...
  local name=$1 t=$2
  shift 2
  local t0=$SECONDS
  echo "=== $name"
  if timeout --kill-after=10 "$t" "$@"; then
    passed=$((passed + 1))
    echo "=== ok: $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== FAILED: $name ($((SECONDS - t0)) s)" >&2
  fi
}

# configure DIR [meson options...]: set up (once) and build a tree.
configure='d=$1; shift; [ -f "$d/build.ninja" ] || meson setup "$d" "$@" >/dev/null || exit 1; ninja -C "$d" >/dev/null'

step "build" 600 bash -c "$configure" configure build
step "unit+integration tests" 900 meson test -C build --print-errorlogs

export ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:detect_leaks=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
step "build (ASan+UBSan)" 900 bash -c "$configure" configure build-asan \
  -Db_sanitize=address,undefined -Db_lundef=false
# (rpmap on the shared library is the same code as the static rpmap the
# sanitizers already run: its duplicate tests run in build/ only.)
step "tests under ASan+UBSan" 900 meson test -C build-asan --print-errorlogs --no-suite rpmap-shared
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

[ -x shm/model/check.sh ] || [ -f shm/model/check.sh ] && step "protocol model (spin)" 420 bash shm/model/check.sh
[ -f tests/tsan/run.sh ] && step "ring under ThreadSanitizer" 600 bash tests/tsan/run.sh
[ -f tests/stress/run.sh ] && step "ring stress (short)" 120 bash tests/stress/run.sh --short
step "fault soak (short)" 180 bash tests/soak/run.sh build 30
[ -f tests/fuzz/run.sh ] && step "fuzz the parent's readers (short)" 300 bash tests/fuzz/run.sh 20
[ -f examples/run.sh ] && step "examples" 300 bash examples/run.sh build
[ -f bench/smoke.sh ] && step "benchmark smoke run" 300 bash bench/smoke.sh build
step "install, and consumer builds outside the tree" 300 bash tests/consumer/run.sh

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
