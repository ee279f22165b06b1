#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shared library exports exactly what ringpool.h declares with RP_API:
# no rp__ internals, no shm/ layer, nothing undeclared, and every declared
# function is there. Usage: test_symbols.sh LIBRINGPOOL_SO RINGPOOL_H
set -euo pipefail
so=$1 header=$2
command -v nm >/dev/null || { echo "nm not found: skipped"; exit 77; }
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TWDBR]$/ {print $3}' | sort -u)
declared=$(grep -v '^#' "$header" | grep -o 'RP_API[^(]*(' | grep -o '[a-z_0-9]*($' | tr -d '(' | sort -u)
bad=0
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
if [ -n "$extra" ]; then
	echo "exported but not declared in ringpool.h:"; echo "$extra" | sed 's/^/  /'; bad=1
fi
if [ -n "$missing" ]; then
	echo "declared but not exported:"; echo "$missing" | sed 's/^/  /'; bad=1
fi
echo "$(echo "$exported" | wc -l) symbols exported, $(echo "$declared" | wc -l) declared"
exit $bad
