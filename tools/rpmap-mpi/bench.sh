#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpmap-mpi's overhead on one machine: R ranks x j workers against
# single-node rpmap with the same R*j workers, same input, same run, the
# runs interleaved (upper: the I/O path; gzip: CPU-bound). Also 1 rank x R*j
# (the wrapper alone: launch, temporary file, MPI-IO copy) and an empty input
# (the launch alone). Prints each run's wall time, the median and best of N,
# and the ratio of medians to rpmap; every output is compared with rpmap's. Never asserts: on a
# shared machine timings are information, not a test.
#
# Usage: tools/rpmap-mpi/bench.sh BUILD_DIR [MB] [RUNS] [R] [J]
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [MB] [RUNS] [R] [J]" >&2; exit 2; }
mb=${2:-64}
runs=${3:-3}
R=${4:-2}
J=${5:-1}
RPMAP=$1/tools/rpmap/rpmap
GENTEXT=$1/tools/rpmap/rpmap-gentext
RPMAP_MPI=$1/tools/rpmap-mpi/rpmap-mpi
[ -x "$RPMAP_MPI" ] || { echo "no $RPMAP_MPI (needs Open MPI: -Dmpi=auto)" >&2; exit 2; }
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
MPIRUN=(timeout 600 mpirun --oversubscribe --bind-to none)
T=$(mktemp -d "${TMPDIR:-/tmp}/rpmap-mpi-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

"$GENTEXT" "$((mb * 1000 * 1000))" > "$T/in"
: > "$T/empty"
echo "input: $mb MB of text; $(nproc) CPUs ($(uptime | sed 's/.*load/load/'))"
echo "rpmap -j $((R * J)) vs mpirun -n $R rpmap-mpi -j $J vs mpirun -n 1 rpmap-mpi -j $((R * J))"

# run NAME CMD...: one timed run (ms) appended to $T/NAME.ms.
run() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" > /dev/null 2> "$T/$name.err" || { echo "$name failed:"; cat "$T/$name.err"; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >> "$T/$name.ms"
}

# best NAME, med NAME: the smallest and the median of its runs.
best() { sort -n "$T/$1.ms" | head -1; }
med() { sort -n "$T/$1.ms" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for fn in upper gzip:1; do
	"$RPMAP" "$fn" -i "$T/in" -o "$T/want"
	for _ in $(seq "$runs"); do
		run "rpmap-$fn" "$RPMAP" -j $((R * J)) "$fn" -i "$T/in" -o "$T/o1"
		run "mpi-$fn" "${MPIRUN[@]}" -n "$R" "$RPMAP_MPI" -j "$J" "$fn" -i "$T/in" -o "$T/o2"
		run "mpi1-$fn" "${MPIRUN[@]}" -n 1 "$RPMAP_MPI" -j $((R * J)) "$fn" -i "$T/in" \
			-o "$T/o3"
		for o in o1 o2 o3; do
			cmp -s "$T/want" "$T/$o" || { echo "$fn: $o differs from rpmap's"; exit 1; }
		done
	done
	b=$(med "rpmap-$fn")
	printf '%-7s rpmap -j %d: median %5d ms (best %5d)   runs: %s\n' "$fn" $((R * J)) \
		"$b" "$(best "rpmap-$fn")" "$(tr '\n' ' ' < "$T/rpmap-$fn.ms")"
	for v in "mpi:$R:$J" "mpi1:1:$((R * J))"; do
		IFS=: read -r k n j <<< "$v"
		m=$(med "$k-$fn")
		printf '%-7s %d rank(s) x -j %d: median %5d ms (best %5d), %.2fx rpmap   runs: %s\n' \
			"$fn" "$n" "$j" "$m" "$(best "$k-$fn")" "$(echo "$m / $b" | bc -l)" \
			"$(tr '\n' ' ' < "$T/$k-$fn.ms")"
	done
done
for _ in $(seq "$runs"); do
	run launch "${MPIRUN[@]}" -n "$R" "$RPMAP_MPI" -j "$J" identity -i "$T/empty" -o "$T/o4"
done
echo "launch alone (empty input, $R ranks): median $(med launch) ms   runs: $(tr '\n' ' ' < "$T/launch.ms")"
"${MPIRUN[@]}" -n "$R" "$RPMAP_MPI" -j "$J" --stats gzip:1 -i "$T/in" -o "$T/o2" 2>&1 |
	grep '^rpmap-mpi:'
