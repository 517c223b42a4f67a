#!/usr/bin/env bash
# Start-up time of `hostplane serve --dev`, measured from the command to the first HTTPS 200 on
# /healthz (curl through the nginx TLS front): a first start in an empty var dir (creates the
# database, the dev TLS certificate and the whole CA hierarchy) and a restart on the same dir.
# Prints min/median/max over RUNS of each. Target: under 2 s for both.
# Usage: tests/bench/startup.sh [build-dir] (RUNS=10)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RUNS=${RUNS:-10}
BIN=$BUILD/controlplane/hostplane
[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target hostplane" >&2; exit 1; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

# start_once VAR_DIR -> prints milliseconds until /healthz answered 200, then stops the server.
start_once() {
  local var=$1 port t0 t1
  port=$(tests/support/free-port)
  t0=$(date +%s%N)
  HOSTPLANE_DNS_LISTEN=127.0.0.1:0 "$BIN" serve --dev --var "$var" --listen 127.0.0.1:$port >>"$TMP/server.log" 2>&1 &
  PID=$!
  # A tight poll (5 ms) so the figure is the server's, not the poll's.
  until curl -sf --noproxy '*' --cacert "$var/tls/server.crt" "https://localhost:$port/healthz" >/dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { echo "server exited; log: $TMP/server.log" >&2; tail -20 "$TMP/server.log" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo $(( (t1 - t0) / 1000000 ))
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "min=%d ms median=%d ms max=%d ms (n=%d)", a[1], a[int((NR+1)/2)], a[NR], NR}'; }

echo "# hostplane $("$BIN" version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), RUNS=$RUNS"
first=() restart=()
for i in $(seq 1 "$RUNS"); do
  first+=("$(start_once "$TMP/var$i")")
  restart+=("$(start_once "$TMP/var$i")")
  rm -rf "$TMP/var$i"
done
echo "RESULT first_start $(printf '%s\n' "${first[@]}" | stats)"
echo "RESULT restart     $(printf '%s\n' "${restart[@]}" | stats)"
