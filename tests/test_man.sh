#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The library's man pages: each renders without a groff warning (-ww), has
# its version filled in and no blank line outside an example, and together
# their NAME sections name exactly the functions ringpool.h declares.
# Usage: test_man.sh MAN_DIR RINGPOOL_H   (MAN_DIR: the configured pages)
set -euo pipefail
dir=$1 header=$2
command -v groff >/dev/null || { echo "groff not found: skipped"; exit 77; }
bad=0
pages=("$dir"/*.3 "$dir"/*.7)
for p in "${pages[@]}"; do
	warn=$(groff -man -Tutf8 -ww -z "$p" 2>&1 || echo "groff failed")
	if [ -n "$warn" ]; then echo "$p:"; echo "$warn" | sed 's/^/  /'; bad=1; fi
	if grep -n '@[A-Z_]*@' "$p"; then echo "$p: unfilled placeholder"; bad=1; fi
	blank=$(awk '/^\.(EX|nf)/ {ex = 1} /^\.(EE|fi)/ {ex = 0}
		/^$/ && !ex {print FILENAME ":" NR}' "$p")
	if [ -n "$blank" ]; then echo "blank line outside an example: $blank"; bad=1; fi
done
# NAME: the lines after .SH NAME up to the one with "\-".
named=$(for p in "$dir"/*.3; do
	awk '/^\.SH NAME/ {on = 1; next} on {print} on && /\\-/ {exit}' "$p" |
		tr '\n' ' ' | sed 's/\\-.*//' | tr ',' '\n' | tr -d ' '
	echo
done | grep -v '^$' | sort)
dups=$(echo "$named" | uniq -d)
named=$(echo "$named" | sort -u)
declared=$(bash "$(dirname "$0")/public_functions.sh" "$header")
undocumented=$(comm -13 <(echo "$named") <(echo "$declared"))
stale=$(comm -23 <(echo "$named") <(echo "$declared"))
[ -z "$undocumented" ] || { echo "declared, on no page:"; echo "$undocumented" | sed 's/^/  /'; bad=1; }
[ -z "$stale" ] || { echo "on a page, not declared:"; echo "$stale" | sed 's/^/  /'; bad=1; }
[ -z "$dups" ] || { echo "on two pages:"; echo "$dups" | sed 's/^/  /'; bad=1; }
echo "${#pages[@]} pages; $(echo "$named" | wc -l) functions named, $(echo "$declared" | wc -l) declared"
exit $bad
