#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README's first command: install what is missing, build (release), and run
# the main job on its built-in default input.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/deps.sh build
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release >/dev/null
./build-release/examples/demo_map
