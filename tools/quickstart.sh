#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README's first command: install what is missing, build (release), and run
# the main job on its built-in default input: rpmap compresses 256 MiB of
# generated text on every core and on one worker, checks the result with
# gunzip, and prints both throughputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/deps.sh build
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release >/dev/null
bash tools/rpmap/demo.sh build-release
