#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every example and check what it prints. Usage: examples/run.sh BUILD_DIR
set -euo pipefail
b=${1:-build}/examples
want='[0, 30000000, 60000000, 90000000, 120000000, 150000000, 180000000, 210000000, 240000000, 270000000]'
for j in 2 0; do
  out=$("$b/seed_pool" -j "$j" 2>/dev/null | head -1)
  [ "$out" = "$want" ] || { echo "seed_pool -j $j printed: $out" >&2; exit 1; }
  echo "seed_pool -j $j: ok"
done
"$b/map_example" | grep -q 'sum of squared distances 33611700000 (0 failed)'
echo "map_example: ok"
"$b/async_example" | grep -q 'fib(90) = 2880067194370816120'
echo "async_example: ok"
got=$(printf 'abc\nxyz\n' | "$b/stream_example")
[ "$got" = $'ABC\nXYZ' ]
seq 1 100000 | sed 's/$/ x/' | "$b/stream_example" | tail -1 | grep -qx '100000 X'
echo "stream_example: ok"
"$b/demo_map" 200000 >/dev/null
echo "demo_map: ok"
# Issue 16: one pool per MPI rank (built and run when Open MPI is there).
if [ -x "$b/mpi_map" ] && command -v mpirun > /dev/null; then
  [ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # 131434424: the Collatz steps of 1..10^6, computed in Python.
  timeout 120 mpirun --oversubscribe --bind-to none -n 2 "$b/mpi_map" |
    grep -qx "Collatz steps for 1..1000000: 131434424 (2 ranks, workers exec'd)"
  echo "mpi_map (2 ranks): ok"
else
  echo "mpi_map: skipped (not built, or no mpirun)"
fi
