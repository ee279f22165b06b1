#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Print the functions a header declares with RP_API, one per line, sorted:
# the public API, as the man page and consumer checks count it.
# Usage: public_functions.sh RINGPOOL_H
set -euo pipefail
grep -v '^#' "$1" | grep -o 'RP_API[^(]*(' | grep -o '[a-z_0-9]*($' | tr -d '(' | sort -u
