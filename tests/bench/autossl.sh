#!/bin/sh
# AutoSSL mass renewal (issue 7, acceptance 4): N hosted domains due at once renew within the
# configured rate limits, with no certificate expiring and no rate-limit error.
# Usage: tests/bench/autossl.sh [certificates=500] [names_per_site=10]
# BUILD (default build-autossl) is the CMake build directory; the script builds autossl_bench.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-autossl}
ninja -C "$BUILD" -j2 hostplane autossl_bench >/dev/null
exec "$BUILD/tests/bench/autossl/autossl_bench" "${1:-500}" "${2:-10}"
