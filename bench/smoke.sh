#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CI smoke run of the benchmark driver: every program runs in --quick mode and
# the tables are printed. No thresholds: benchmarks are not tests. Fails only
# if the driver itself fails. Usage: bench/smoke.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$(dirname "$0")/driver/run_all.py" --quick --build "$build" --out "$out"
