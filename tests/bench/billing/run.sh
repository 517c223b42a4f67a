#!/usr/bin/env bash
# Builds and runs the billing-run benchmark; prints time, throughput and peak memory.
# Usage: tests/bench/billing/run.sh [build-dir] [subscriptions] [batch] [--normal]
# While tests/bench/CMakeLists.txt does not list this folder, the program is compiled directly
# against the build's libhp_billing.a / libhp_core.a.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="${1:-$root/build-billing}"
ninja -C "$build" hp_billing hp_core >/dev/null
bin="$build/tests/bench/billing/billing_bench"
if ninja -C "$build" -t targets all 2>/dev/null | grep '^billing_bench:' >/dev/null; then
  ninja -C "$build" billing_bench >/dev/null
else
  mkdir -p "$(dirname "$bin")"
  if [[ ! -x "$bin" || "$root/tests/bench/billing/billing_bench.cc" -nt "$bin" ||
        "$build/billing/libhp_billing.a" -nt "$bin" ]]; then
    c++ -std=c++23 -O2 -g -DNDEBUG -I"$root/billing/include" -I"$root/core/include" \
      "$root/tests/bench/billing/billing_bench.cc" -o "$bin" \
      "$build/billing/libhp_billing.a" "$build/core/libhp_core.a" \
      $(pkg-config --libs libpistache libargon2 libcurl) -lSQLiteCpp -lsqlite3 -lhpdf -lssl -lcrypto -pthread
  fi
fi
/usr/bin/time -f "wall=%es max_rss_kib=%M" "$bin" "${2:-100000}" "${3:-500}" ${4:-}
