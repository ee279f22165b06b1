#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The differential test of rpmap (difftest.py): random inputs, every record
# mode, function and option that changes how records are cut or collected,
# each output compared with a reference. The suite runs it for about 35 s;
#   difftest.sh --long            runs it for an hour,
#   difftest.sh --seconds N       for N seconds,
#   difftest.sh --seed S | --case C   repeats a run or one failing case.
# Skipped (exit 77) without python3.
set -euo pipefail
: "${RPMAP:?set RPMAP to the rpmap binary}"
command -v python3 > /dev/null || { echo "SKIP: no python3"; exit 77; }
args=(--seconds "${DIFFTEST_SECONDS:-35}")
if [ "${1:-}" = --long ]; then
	shift
	args=(--seconds 3600)
fi
exec python3 "$(dirname "$0")/difftest.py" "${args[@]}" "$@"
