#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real-text corpus for the compression benchmarks, from files any Debian
# system has: licenses, Perl modules, Python sources, C headers, in that
# order and sorted by path within each (LC_ALL=C), concatenated and cut at
# MB MiB. Not generated text. Same system, same packages: same bytes.
# Usage: bench/corpus.sh OUT [MB]   (default 128)
# Prints the corpus size in bytes on stdout; what went in, on stderr.
set -euo pipefail
out=${1:?usage: bench/corpus.sh OUT [MB]}
mb=${2:-128}
want=$((mb * 1048576))
list=$(mktemp)
trap 'rm -f "$list"' EXIT

# list DIR... -- PATTERN...: regular files under the existing DIRs whose
# names match a PATTERN, NUL-separated, sorted.
list() {
	local dirs=() pats=()
	while [ "$1" != -- ]; do [ -d "$1" ] && dirs+=("$1"); shift; done
	shift
	for p in "$@"; do pats+=(-o -name "$p"); done
	[ ${#dirs[@]} -eq 0 ] && return 0
	find "${dirs[@]}" -type f \( -false "${pats[@]}" \) -print0 2> /dev/null | LC_ALL=C sort -z
}
{
	list /usr/share/common-licenses -- '*'
	list /usr/share/perl /usr/share/perl5 /usr/lib/x86_64-linux-gnu/perl \
		/usr/lib/x86_64-linux-gnu/perl-base /usr/lib/x86_64-linux-gnu/perl5 -- \
		'*.pm' '*.pl' '*.pod'
	list /usr/lib/python3 /usr/lib/python3.* -- '*.py'
	list /usr/include -- '*.h'
} > "$list"
# head closes the pipe once it has enough: cat's SIGPIPE is expected.
{ xargs -0 cat -- < "$list" 2> /dev/null || true; } | head -c "$want" > "$out"
size=$(stat -c %s "$out")
files=$(tr -cd '\0' < "$list" | wc -c)
echo "corpus: $size bytes from the first of $files files (licenses, Perl, Python, C headers)" >&2
[ "$size" -lt "$want" ] && echo "corpus: this system has only $size bytes of such text, not $want" >&2
echo "$size"
