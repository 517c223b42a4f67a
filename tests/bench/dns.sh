#!/bin/sh
# Queries per second of the built-in authoritative server and of Knot on the same zone and query
# mix, measured in one run with dnsperf on loopback. Usage: tests/bench/dns.sh [seconds]
# BUILD (default build-dns) is the CMake build directory; the script builds dns_bench_serve.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-dns}
SECS=${1:-10}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-8}
ninja -C "$BUILD" -j2 dns_bench_serve >/dev/null
TMP=$(mktemp -d)
cleanup() {
  [ -n "${OURS_PID:-}" ] && kill "$OURS_PID" 2>/dev/null || true
  [ -n "${KNOT_PID:-}" ] && kill "$KNOT_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
free_port() { "$(dirname "${BASH_SOURCE[0]}")/../support/free-port"; }  # never from the ephemeral range
"$BUILD/tests/dns/dns_bench_serve" --write-zone "$TMP/example.test.zone"
OURS_PORT=$(free_port)
KNOT_PORT=$(free_port)
cat > "$TMP/knot.conf" <<CONF
server:
  rundir: "$TMP"
  listen: 127.0.0.1@$KNOT_PORT
  udp-workers: $THREADS
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$TMP"
log:
  - target: stderr
    any: error
zone:
  - domain: example.test
    storage: "$TMP"
    file: "example.test.zone"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
CONF
"$BUILD/tests/dns/dns_bench_serve" "$OURS_PORT" "$THREADS" & OURS_PID=$!
/usr/sbin/knotd -c "$TMP/knot.conf" 2>"$TMP/knot.log" & KNOT_PID=$!
wait_up() {
  i=0
  until kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$1" example.test SOA 2>/dev/null | grep hostmaster >/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "server on port $1 did not start" >&2; exit 1; }
    sleep 0.1
  done
}
wait_up "$OURS_PORT"
wait_up "$KNOT_PORT"
run() {
  dnsperf -s 127.0.0.1 -p "$1" -d "$ROOT/tests/bench/dns/queries.txt" -l "$SECS" -c "$CLIENTS" \
    -q 200 2>&1 | awk '/Queries per second/ {print $4}'
}
OURS=$(run "$OURS_PORT")
KNOT=$(run "$KNOT_PORT")
RATIO=$(awk -v a="$OURS" -v b="$KNOT" 'BEGIN { printf "%.2f", a / b }')
echo "built-in server: $OURS qps"
echo "knot $(knotd --version | awk '{print $NF}'): $KNOT qps"
echo "ratio built-in/knot: $RATIO"
