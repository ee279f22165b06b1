#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README's "Install and use", done by an outside project: install the library
# alone into a temporary prefix, then build consumer.c and README's short
# program (extracted, so the README cannot rot) in a directory outside the
# tree four ways -- pkg-config shared, pkg-config static, meson subproject,
# CMake -- and run each. Also checks what was installed (headers, .pc, a man
# page for every function). Usage: tests/consumer/run.sh   (~1 min on 2 cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringpool-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
# Nothing from the caller's environment may find a ringpool for us.
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR CMAKE_PREFIX_PATH LD_LIBRARY_PATH CFLAGS LDFLAGS

die() { echo "consumer: $*" >&2; exit 1; }
t0=$SECONDS
say() { echo "--- $* ($((SECONDS - t0)) s)"; }
strict=(-std=c11 -Wall -Wextra -Wpedantic -Werror)

# The programs, outside the tree.
src=$tmp/src
mkdir -p "$src"
cp "$here/consumer.c" "$here/meson.build" "$here/CMakeLists.txt" "$src/"
awk '/^## The short program/ {s = 1} s && /^```c$/ {c = 1; next} c && /^```$/ {exit} c {print}' \
	"$root/README.md" >"$src/square.c"
grep -q 'rp_run(' "$src/square.c" || die "README's short program (a C block under '## The short program') not found"

say "install the library alone (tests, bench, examples, tools disabled)"
prefix=$tmp/prefix
meson setup "$tmp/build" "$root" --prefix="$prefix" -Dtests=disabled -Dbench=disabled \
	-Dexamples=disabled -Dtools=disabled >"$tmp/setup.log" || { cat "$tmp/setup.log"; exit 1; }
meson install -C "$tmp/build" --quiet >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
pc=$(find "$prefix" -name ringpool.pc)
[ -n "$pc" ] || die "no ringpool.pc installed"
headers=$(cd "$prefix/include" && ls)
[ "$headers" = $'ringpool.h\nringpool_version.h' ] || die "installed headers: $headers"
# Every public function has a man page under its own name (a link for most).
declared=$(bash "$root/tests/public_functions.sh" "$root/lib/include/ringpool.h")
for f in $declared; do
	page=$prefix/share/man/man3/$f.3
	[ -e "$page" ] || die "no man page for $f"
	name=$(awk '/^\.SH NAME/ {on = 1; next} on && /^\.SH/ {exit} on {print}' "$page")
	grep -qw "$f" <<<"$name" || die "$page does not name $f"
done
[ -f "$prefix/share/man/man7/ringpool.7" ] || die "no ringpool.7"
echo "installed: $(echo "$declared" | wc -w) functions with man pages, $(ls "$prefix/share/man/man3" | wc -l) man3 names"

run() { # run NAME PROGRAM: the consumer prints "consumer: ok"; square exits 0
	local out
	out=$("$2/consumer") || die "$1: consumer failed"
	echo "$1: $out"
	"$2/square" || die "$1: README's short program exited $?"
}

say "pkg-config, shared"
export PKG_CONFIG_PATH=${pc%/*}
libdir=$(pkg-config --variable=libdir ringpool)
ver=$(pkg-config --modversion ringpool)
grep -q "RINGPOOL_VERSION_STRING \"$ver\"" "$prefix/include/ringpool_version.h" ||
	die "pkg-config says $ver, ringpool_version.h differs"
mkdir "$tmp/shared"
# shellcheck disable=SC2046 # pkg-config's output is a list of words
cc "${strict[@]}" -o "$tmp/shared/consumer" "$src/consumer.c" $(pkg-config --cflags --libs ringpool) \
	-Wl,-rpath,"$libdir"
# shellcheck disable=SC2046
cc -o "$tmp/shared/square" "$src/square.c" $(pkg-config --cflags --libs ringpool) -Wl,-rpath,"$libdir"
loads_from() { # loads_from PROGRAM DIR: PROGRAM loads libringpool.so from DIR
	local deps
	deps=$(ldd "$1")
	grep -q "libringpool\.so\.[0-9.]* => $2/" <<<"$deps" ||
		die "$1 does not load libringpool from $2: $deps"
}
loads_from "$tmp/shared/consumer" "$libdir"
run "pkg-config shared" "$tmp/shared"
if command -v c++ >/dev/null; then
	# shellcheck disable=SC2046
	echo '#include <ringpool.h>' | c++ -fsyntax-only -Wall -Wextra -Werror -x c++ - \
		$(pkg-config --cflags ringpool) || die "ringpool.h does not compile as C++"
fi

say "pkg-config, static"
# Both libraries are installed and the linker prefers the shared one: name
# the archive, and take the rest of the link line from --static.
mkdir "$tmp/static"
static_libs=$(pkg-config --static --libs ringpool | sed 's/-lringpool\b/-l:libringpool.a/')
# shellcheck disable=SC2086
cc "${strict[@]}" -o "$tmp/static/consumer" "$src/consumer.c" $(pkg-config --cflags ringpool) $static_libs
# shellcheck disable=SC2086,SC2046
cc -o "$tmp/static/square" "$src/square.c" $(pkg-config --cflags ringpool) $static_libs
for p in consumer square; do
	deps=$(ldd "$tmp/static/$p")
	! grep -q libringpool <<<"$deps" || die "static $p needs libringpool.so: $deps"
done
run "pkg-config static" "$tmp/static"
unset PKG_CONFIG_PATH

say "meson subproject"
sub=$tmp/sub
mkdir -p "$sub/subprojects"
cp "$src/meson.build" "$src/consumer.c" "$src/square.c" "$sub/"
ln -s "$root" "$sub/subprojects/ringpool"
meson setup "$sub/build" "$sub" --force-fallback-for=ringpool >"$tmp/sub.log" ||
	{ cat "$tmp/sub.log"; exit 1; }
grep -q 'Dependency ringpool found: YES.*(overridden)' "$sub/build/meson-logs/meson-log.txt" ||
	die "dependency('ringpool') did not come from subprojects/ringpool"
ninja -C "$sub/build" >"$tmp/sub-ninja.log" || { cat "$tmp/sub-ninja.log"; exit 1; }
# ringpool_dep gives the consumer the public include directory only (in the
# source and the build tree: ringpool_version.h is generated), not lib/, shm/.
cmds=$(grep '"command".*consumer\.c' "$sub/build/compile_commands.json")
incs=$(grep -o ' -I[^ ]*' <<<"$cmds" | sed 's/^ -I//' | grep ringpool | sort -u || true)
[ -n "$incs" ] || die "no ringpool include directory on the consumer's command line"
if echo "$incs" | grep -v '/lib/include$'; then die "ringpool_dep exposes more than lib/include"; fi
run "meson subproject" "$sub/build"

say "CMake, pkg_check_modules(IMPORTED_TARGET)"
command -v cmake >/dev/null || die "cmake not found (bash .ci/deps.sh all installs it)"
cmake -S "$src" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" ||
	{ cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake" >"$tmp/cmake-build.log" || { cat "$tmp/cmake-build.log"; exit 1; }
loads_from "$tmp/cmake/consumer" "$libdir"
run "CMake" "$tmp/cmake"

say "all four consumer builds ran"
