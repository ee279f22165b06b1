# SPDX-License-Identifier: MIT
# Helpers for rpmap's shell tests (sourced). meson passes RPMAP, GENTEXT,
# REV_SO and TESTPLUG_SO in the environment; run by hand, pass them too.
set -euo pipefail

: "${RPMAP:?set RPMAP to the rpmap binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# same FILE1 FILE2 WHAT: byte-identical
same() {
	if cmp -s "$1" "$2"; then pass "$3"; else fail "$3 ($(cmp "$1" "$2" 2>&1 | head -1))"; fi
}

# expect_rc WANT GOT WHAT
expect_rc() {
	if [ "$1" = "$2" ]; then pass "$3: exit $2"; else fail "$3: exit $2, want $1"; fi
}

# has FILE PATTERN WHAT: grep -E
has() {
	if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3: no /$2/ in: $(head -c 300 "$1")"; fi
}

# no_procs TOKEN: no process has TOKEN in its command line (workers included)
no_procs() {
	local left
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		left=$(pgrep -f -- "$1" || true)
		[ -z "$left" ] && { pass "no process left ($1)"; return; }
		sleep 0.2
	done
	fail "processes left for $1: $left"
	pkill -KILL -f -- "$1" || true
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)" >&2
		exit 1
	fi
	echo "all passed"
}
