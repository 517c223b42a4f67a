#!/usr/bin/env bash
# Builds and runs the placement benchmark; prints placements/s and memory.
# Usage: tests/bench/placement/run.sh [build-dir] [hosts] [placements] [threads]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="${1:-$root/build-prov}"
ninja -C "$build" placement_bench >/dev/null
"$build/tests/bench/placement/placement_bench" "${2:-1000}" "${3:-10000}" "${4:-1}"
