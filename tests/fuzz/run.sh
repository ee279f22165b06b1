#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the fuzz targets with clang (libFuzzer + ASan + UBSan) and fuzz each
# for SECONDS (default 20), the targets side by side. Prints each target's
# executions, edge coverage and corpus, then line coverage of the code under
# test when llvm-profdata/llvm-cov are there. Exits non-zero if a target
# crashes, hangs (-timeout), leaks or breaks an invariant; the input that
# did it is kept under the output directory (printed).
#
#   tests/fuzz/run.sh [SECONDS]
#   SRC=/other/tree tests/fuzz/run.sh     fuzz another checkout's lib/ and shm/
#   FUZZ_OUT=dir                          keep the build and corpora there
#   FUZZ_TARGETS="fuzz_results"           a subset
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${SRC:-$here/../..}" && pwd)
secs=${1:-20}
cc=${CC:-clang}
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ringpool-fuzz.XXXXXX")}
targets=${FUZZ_TARGETS:-"fuzz_results fuzz_collect"}
mkdir -p "$out/obj"

command -v "$cc" >/dev/null || { echo "run.sh: $cc not found" >&2; exit 2; }

# The library's own source lists, so a file added to the build is fuzzed too.
files_of() { # files_of MESON_FILE VAR: the quoted .c names in VAR = files(...)
  sed -n "/^$2 = files(/,/)/p" "$1" | grep -o "'[^']*\.c'" | tr -d "'"
}
srcs="$(files_of "$src/meson.build" shm_src) $(files_of "$src/lib/meson.build" lib_src | sed 's|^|lib/|')"
[ -n "${srcs// /}" ] || { echo "run.sh: no sources found in $src" >&2; exit 2; }

# The version header meson generates, from the version in project().
ver=$(sed -n "s/^  version : '\([0-9.]*\)',/\1/p" "$src/meson.build")
IFS=. read -r vmaj vmin vpat <<<"$ver"
mkdir -p "$out/include"
sed -e "s/@MAJOR@/$vmaj/g; s/@MINOR@/$vmin/g; s/@PATCH@/$vpat/g; s/@VERSION@/$ver/g" \
  "$src/lib/include/ringpool_version.h.in" > "$out/include/ringpool_version.h"

common=(-std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -I"$src/shm" -I"$src/lib" -I"$src/lib/include" -I"$out/include" -I"$here")
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)

build() { # build OUTDIR EXTRA_FLAGS...  -> OUTDIR/<target>
  local dir=$1 objs=() f o
  shift
  mkdir -p "$dir"
  for f in $srcs; do
    o="$dir/$(echo "$f" | tr / _).o"
    "$cc" "${common[@]}" "$@" -fsanitize=fuzzer-no-link -c "$src/$f" -o "$o" || return 1
    objs+=("$o")
  done
  for t in $targets; do
    "$cc" "${common[@]}" "$@" -fsanitize=fuzzer "$here/$t.c" "${objs[@]}" -lpthread -luring -ldl \
      -o "$dir/$t" || return 1
  done
}

echo "=== building from $src into $out"
build "$out/obj" "${san[@]}" || { echo "run.sh: build failed" >&2; exit 2; }

rc=0
pids=()
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/crash/$t"
  seeds="$here/corpus/${t#fuzz_}"
  # New inputs go to the first (scratch) corpus; the seeds stay as they are.
  ( cd "$out/crash/$t" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    "$out/obj/$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/crash/$t/" \
      "$out/corpus/$t" "$seeds" >"$out/$t.log" 2>&1 ) &
  pids+=($!)
done
i=0
for t in $targets; do
  wait "${pids[$i]}"
  r=$?
  i=$((i + 1))
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/$t.log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log")
  echo "=== $t: exit $r, ${execs:-?} execs (${speed:-?}/s) in ${secs}s"
  echo "    ${done_line:-$(grep -E '^#[0-9]+' "$out/$t.log" | tail -1)}"
  if [ "$r" -ne 0 ]; then
    rc=1
    echo "=== FAILED: $t (log $out/$t.log; inputs in $out/crash/$t/)" >&2
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz invariant' \
      "$out/$t.log" >&2
    grep -m12 -E '^ +#[0-9]+ ' "$out/$t.log" >&2
  fi
done

# Line coverage of the code under test, replaying each final corpus.
if [ "$rc" -eq 0 ] && command -v llvm-profdata >/dev/null && command -v llvm-cov >/dev/null; then
  if build "$out/cov" -fprofile-instr-generate -fcoverage-mapping 2>/dev/null; then
    for t in $targets; do
      LLVM_PROFILE_FILE="$out/cov/$t.profraw" "$out/cov/$t" -runs=0 \
        "$out/corpus/$t" "$here/corpus/${t#fuzz_}" >/dev/null 2>&1
      llvm-profdata merge -sparse "$out/cov/$t.profraw" -o "$out/cov/$t.profdata" || continue
      echo "=== $t: coverage of the parent's reader: function, regions, lines, branches"
      llvm-cov report -show-functions "$out/cov/$t" -instr-profile="$out/cov/$t.profdata" \
        "$src/shm/rp_ring.h" "$src/shm/ring.c" "$src/lib/collect.c" "$src/lib/job.c" \
        "$src/lib/pool.c" "$src/lib/chunk.c" "$src/lib/fault.c" "$src/lib/owner.c" \
        "$src/lib/stream.c" 2>/dev/null |
        grep -E "^(($t|collect|ring|job|pool|fault|owner|stream)\.c:)?(rp_ring_peek|rp_ring_cons_attach|rp__head|take|pump_ring|next_ordered|next_any|rp_next|rp_release|j_deliver|put_result|fail_held|rp__worker_broke_protocol|rp__worker_died|rp__chunk_each) " |
        awk '$2 > 1 && $4 != "0.00%" { printf "    %-36s %8s %8s %8s\n", $1, $4, $7, $10 }'
    done
  fi
fi
echo "=== fuzz output in $out"
exit "$rc"
