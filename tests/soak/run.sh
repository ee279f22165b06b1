#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Short soak for CI: 30 s (10 s per phase). Usage: tests/soak/run.sh BUILD_DIR [SECONDS]
set -euo pipefail
exec "${1:-build}/tests/soak/soak" --seconds "${2:-30}" --kill-ms 100
