#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages ringpool needs, only those missing.
# Usage: bash .ci/deps.sh [build|all]   (default: all)
#   build: compiler, meson, liburing, Criterion, zlib, libdeflate, libzstd:
#          enough to build and test
#   all:   also the model checker, sanitizer runtimes, benchmark peers, the
#          reference tools rpmap's codecs are tested against (pigz, zstd, bgzip),
#          groff for the man page check, cmake for the consumer builds, Open MPI
#          for rpmap-mpi and its loopback tests (openmpi-bin, libopenmpi-dev)
set -euo pipefail

build_pkgs=(gcc clang meson ninja-build pkg-config liburing-dev libcriterion-dev zlib1g-dev gzip
            libdeflate-dev libzstd-dev)
all_pkgs=("${build_pkgs[@]}" spin libclang-rt-14-dev valgrind strace
          python3 libzmq3-dev pigz parallel gnuplot-nox g++ libuv1-dev libtbb-dev
          zstd tabix groff-base cmake openmpi-bin libopenmpi-dev)

case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  all) want=("${all_pkgs[@]}") ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
