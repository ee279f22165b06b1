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

# no_procs PATTERN: no process whose command line matches PATTERN (an ERE,
# as pgrep -f; anchor it, e.g. '^sleep 30$', or it matches "sleep 300"
# too and the clean-up below kills that) (workers included)
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

# in_memcg LIMIT COMMAND...: run COMMAND in a new memory cgroup limited to
# LIMIT bytes (no swap): cgroup v1's memory controller, a cgroup v2 sibling
# of ours, or systemd-run --scope. Returns COMMAND's status, or 77 (and
# says why on stderr) if this machine does not let the test make one.
in_memcg() {
	local lim=$1 mnt rel d rc
	shift
	mnt=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
	rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
	d="$mnt${rel%/}/rpmap-test-$$-$RANDOM"
	if [ -n "$mnt" ] && [ -n "$rel" ] && mkdir "$d" 2> /dev/null; then
		echo "$lim" > "$d/memory.limit_in_bytes" || { rmdir "$d"; return 77; }
	else
		mnt=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
		rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
		d="$mnt$(dirname "${rel:-/x}")/rpmap-test-$$-$RANDOM"
		if [ -n "$mnt" ] && [ -f "$mnt$rel/memory.max" ] && mkdir "$d" 2> /dev/null; then
			echo "$lim" > "$d/memory.max" || { rmdir "$d"; return 77; }
			[ -f "$d/memory.swap.max" ] && echo 0 > "$d/memory.swap.max"
		elif [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
			systemd-run --quiet --scope -p MemoryMax="$lim" -p MemorySwapMax=0 -- "$@"
			return
		else
			echo "no memory cgroup can be made here (not root, no cgroup v1 memory" \
			     "controller, no delegated cgroup v2, no systemd)" >&2
			return 77
		fi
	fi
	set +e
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$d" "$@"
	rc=$?
	set -e
	for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$d" 2> /dev/null && break; sleep 0.2; done
	return $rc
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)" >&2
		exit 1
	fi
	echo "all passed"
}
