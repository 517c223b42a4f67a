#!/usr/bin/env bash
# wrk against GET /healthz of `hostplane serve --dev` on loopback (through the nginx TLS front):
# 2 threads, 64 connections, 10 s, keep-alive. Prints requests/s and latency percentiles.
# Usage: tests/bench/http.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/controlplane/hostplane
[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target hostplane" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: scripts/bootstrap installs it" >&2; exit 1; }
TMP=$(mktemp -d)
PORT=$("$(dirname "$0")/../support/free-port")
cleanup() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
LOGLEVEL=${HP_BENCH_LOG_LEVEL:-info}
HOSTPLANE_LOG_LEVEL=$LOGLEVEL HOSTPLANE_LOG_FILE=$TMP/server.log \
  "$BIN" serve --dev --var "$TMP/var" --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  curl -sf --cacert "$TMP/var/tls/server.crt" "https://localhost:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
echo "# hostplane $("$BIN" version | cut -d' ' -f2), log.level=$LOGLEVEL, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
wrk -t2 -c64 -d10s --latency "https://localhost:$PORT/healthz" | tee "$TMP/wrk.txt"
RPS=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")
P99=$(awk '$1=="99%" {print $2}' "$TMP/wrk.txt")
echo "RESULT healthz_https_keepalive requests_per_s=$RPS p99=$P99"
