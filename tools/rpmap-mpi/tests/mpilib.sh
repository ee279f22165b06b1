# SPDX-License-Identifier: MIT
# Helpers for rpmap-mpi's tests (sourced, after rpmap's lib.sh): skip (exit
# 77) without mpirun; as root, set the two variables Open MPI asks for
# (CI runs as root; failures.sh also checks --allow-run-as-root); mrun N
# ARGS runs rpmap-mpi on N ranks of this machine. meson passes RPMAP_MPI.
: "${RPMAP_MPI:?set RPMAP_MPI to the rpmap-mpi binary}"
command -v mpirun > /dev/null || { echo "SKIP: no mpirun (bash .ci/deps.sh all: openmpi-bin)"; exit 77; }
if [ "$(id -u)" = 0 ]; then
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# One machine: more ranks than CPUs, none bound to a CPU. The ob1 messaging
# layer over shared memory (vader) or TCP on loopback: Open MPI's default
# probes UCX and OFI first, which costs about 0.25 s of every launch here.
# A caller may set OMPI_MCA_btl=self,tcp (ranges.sh does, once).
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
MPIRUN=(mpirun --oversubscribe --bind-to none)
# Under ASan (the suite's build-asan tree): Open MPI's own allocations are
# suppressed by name (tests/lsan.supp), which needs the full stacks.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	MPIRUN+=(-x "ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0")
fi

# mrun N ARGS...: rpmap-mpi ARGS on N ranks; stdout and stderr as given.
mrun() {
	local n=$1
	shift
	timeout --kill-after=5 60 "${MPIRUN[@]}" -n "$n" "$RPMAP_MPI" "$@"
}

# no_tmp FILE: no FILE.tmp-* left next to FILE.
no_tmp() {
	local left
	left=$(ls "$1".tmp-* 2> /dev/null || true)
	[ -z "$left" ] && pass "no $(basename "$1").tmp-* left" || fail "left behind: $left"
}
