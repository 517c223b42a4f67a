#!/usr/bin/env bash
# ACME issuance benchmark: the C++ load driver (tests/bench/acme/acme_bench) runs N concurrent full
# issuances (ES256 accounts reused, P-256 CSR keys, http-01 answered by the driver on loopback,
# persistent TLS connections) against `hostplane serve --dev` (SQLite, store.synchronous=full as in
# production, through its nginx TLS front) and, in the same run, against Pebble
# (PEBBLE_VA_NOSLEEP=1, in-memory, with pebble-challtestsrv as its DNS). Prints issuances/s,
# per-request p50/p99, and the servers' CPU time per issuance read from /proc.
#
# Usage: tests/bench/acme.sh [build-dir]
# Environment: DURATION=60 WARMUP=5 CONCURRENCY=32 ACCOUNTS=8 TARGETS="hostplane pebble"
#   PEBBLE_CONCURRENCY=4  Pebble 2.4.0 stops answering (deadlock) at 8 or more concurrent
#                 issuances with this driver; 4 is the most it sustains
#   PREFILL=N     insert N certificates (+ their orders and authorizations) into hostplane's
#                 database before it starts (bench-only generator acme_prefill, batched inserts)
#   HP_ENV="K=V"  extra HOSTPLANE_* settings for the hostplane run
#   HP_PRELOAD=lib.so  LD_PRELOAD for the hostplane process only (allocator experiments)
#   HP_BIN=path   another hostplane binary to measure with this driver (A/B against an older build)
#   PERF=1        record a perf profile of the hostplane process during the measurement
#   KEEP=1        keep the temporary directory (logs, databases, perf data)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=${HP_BIN:-$BUILD/controlplane/hostplane}
DRIVER=$BUILD/tests/bench/acme/acme_bench
PREFILLER=$BUILD/tests/bench/acme/acme_prefill
for f in "$BIN" "$DRIVER"; do
  [ -x "$f" ] || { echo "build first: ninja -C $BUILD hostplane acme_bench acme_prefill" >&2; exit 1; }
done
DURATION=${DURATION:-60} WARMUP=${WARMUP:-5} CONCURRENCY=${CONCURRENCY:-32} ACCOUNTS=${ACCOUNTS:-8}
TARGETS=${TARGETS:-hostplane pebble} PREFILL=${PREFILL:-0} PEBBLE_CONCURRENCY=${PEBBLE_CONCURRENCY:-4}
TMP=$(mktemp -d /tmp/hp-acme-bench-XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { "$(dirname "${BASH_SOURCE[0]}")/../support/free-port"; }  # never from the ephemeral range
wait_url() {  # wait_url URL CACERT PID
  local i
  for i in $(seq 1 600); do
    curl -sf --noproxy '*' --cacert "$2" "$1" > /dev/null 2>&1 && return 0
    kill -0 "$3" 2>/dev/null || { echo "server exited" >&2; return 1; }
    sleep 0.1
  done
  echo "server not ready" >&2; return 1
}
HTTP01=$(free_port)
DRIVE=("$DRIVER" --http01-port "$HTTP01" --concurrency "$CONCURRENCY" --duration "$DURATION"
       --warmup "$WARMUP" --accounts "$ACCOUNTS")
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# concurrency $CONCURRENCY, accounts $ACCOUNTS, duration $DURATION s, warm-up $WARMUP s"

run_hostplane() {
  local port var=$TMP/hp/var
  port=$(free_port)
  mkdir -p "$TMP/hp"
  # Limits stay on (their rows are written per issuance) but high enough for a benchmark.
  export HOSTPLANE_HTTP_LISTEN=127.0.0.1:$port HOSTPLANE_DNS_LISTEN=127.0.0.1:0
  export HOSTPLANE_ACME_VA_HTTP_PORT=$HTTP01 HOSTPLANE_ACME_VA_STATIC_IPS=127.0.0.1
  export HOSTPLANE_ACME_LIMITS_NEW_ORDERS_PER_ACCOUNT_3H=1000000000
  export HOSTPLANE_ACME_LIMITS_CERTS_PER_DOMAIN_WEEK=1000000000
  export HOSTPLANE_ACME_LIMITS_NEW_ACCOUNTS_PER_IP_3H=1000000
  export HOSTPLANE_LOG_FILE=$TMP/hp/server.log
  local kv
  for kv in ${HP_ENV:-}; do export "${kv?}"; done
  if [ "$PREFILL" -gt 0 ]; then
    [ -x "$PREFILLER" ] || { echo "build acme_prefill first" >&2; exit 1; }
    "$BIN" migrate --var "$var" > /dev/null
    local t0=$SECONDS
    "$PREFILLER" --db "$var/hostplane.db" --certificates "$PREFILL"
    echo "# prefill: $PREFILL certificates in $((SECONDS - t0)) s, database $(du -h "$var/hostplane.db" | cut -f1)"
  fi
  LD_PRELOAD=${HP_PRELOAD:-} "$BIN" serve --dev --var "$var" > "$TMP/hp/stdout.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_url "https://localhost:$port/acme/directory" "$var/tls/server.crt" "$pid"
  local master workers
  master=$(pgrep -f -- "$var/front" | head -1)
  workers=$(pgrep -P "$master" | paste -sd, -)
  echo "# hostplane $("$BIN" version | cut -d' ' -f2) ($BIN, tree $(git rev-parse --short HEAD 2>/dev/null)): store.synchronous=${HOSTPLANE_STORE_SYNCHRONOUS:-full}, pid $pid, nginx $master,$workers ${HP_ENV:-} ${HP_PRELOAD:+LD_PRELOAD=$HP_PRELOAD}"
  if [ -n "${PERF:-}" ]; then
    (sleep "$WARMUP"; perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$pid" \
       -o "$TMP/hp/perf.data" -- sleep "$(( DURATION < 20 ? DURATION : 20 ))" > /dev/null 2>&1) &
  fi
  "${DRIVE[@]}" --directory "https://localhost:$port/acme/directory" --cacert "$var/tls/server.crt" \
    --cpu "hostplane=$pid" --cpu "nginx=$master,$workers" --label hostplane \
    --save-chain "$TMP/hp/chain.pem"
  openssl verify -CAfile "$var/ca/root.pem" -untrusted "$TMP/hp/chain.pem" "$TMP/hp/chain.pem" > /dev/null \
    || echo "WARNING: the saved chain does not verify"
  echo "# database after the run: $(du -h "$var/hostplane.db" | cut -f1), WAL $(du -h "$var/hostplane.db-wal" 2>/dev/null | cut -f1)"
  kill -TERM "$pid"; wait "$pid" || true
  unset HOSTPLANE_LOG_FILE
}

run_pebble() {
  command -v pebble > /dev/null || { echo "pebble missing (scripts/bootstrap)" >&2; return 1; }
  local d=$TMP/pebble port mport dns cmgmt
  mkdir -p "$d"
  port=$(free_port); mport=$(free_port); dns=$(free_port); cmgmt=$(free_port)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$d/key.pem" -out "$d/cert.pem" 2> /dev/null
  cat > "$d/config.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$mport",
 "certificate": "$d/cert.pem", "privateKey": "$d/key.pem", "httpPort": $HTTP01, "tlsPort": $(free_port),
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  pebble-challtestsrv -dns01 "127.0.0.1:$dns" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$cmgmt" -defaultIPv4 127.0.0.1 -defaultIPv6 "" > "$d/challtestsrv.log" 2>&1 &
  local cpid=$!
  PIDS+=("$cpid")
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$d/config.json" -dnsserver "127.0.0.1:$dns" > "$d/pebble.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_url "https://localhost:$port/dir" "$d/cert.pem" "$pid"
  echo "# pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null): PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0, in-memory storage, pid $pid, challtestsrv $cpid"
  "${DRIVE[@]}" --directory "https://localhost:$port/dir" --cacert "$d/cert.pem" \
    --cpu "pebble=$pid" --cpu "challtestsrv=$cpid" --label pebble --concurrency "$PEBBLE_CONCURRENCY"
  kill -TERM "$pid" "$cpid"; wait "$pid" "$cpid" 2>/dev/null || true
}

for t in $TARGETS; do
  echo
  "run_$t" > >(tee "$TMP/$t.out")
done
echo
if [ -f "$TMP/hostplane.out" ] && [ -f "$TMP/pebble.out" ]; then
  python3 - "$TMP/hostplane.out" "$TMP/pebble.out" <<'PY'
import re, sys
def res(path):
    for line in open(path):
        if line.startswith("RESULT"):
            return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
h, p = res(sys.argv[1]), res(sys.argv[2])
print("RATIO hostplane/pebble: issuances/s %.2fx, p50 %.2fx, p99 %.2fx, server CPU per issuance %.2fx"
      % (h["issuances_per_s"] / p["issuances_per_s"], h["p50_ms"] / p["p50_ms"],
         h["p99_ms"] / p["p99_ms"], h["server_cpu_ms"] / p["server_cpu_ms"]))
PY
fi
if [ -n "${PERF:-}" ] && [ -f "$TMP/hp/perf.data" ]; then
  perf report -i "$TMP/hp/perf.data" --children --sort sym -g none 2>/dev/null | grep -v '^#' \
    | grep -E 'hp::' | head -40 > "$TMP/hp/perf.txt" || true
  echo "perf profile: $TMP/hp/perf.data (top hp:: symbols in $TMP/hp/perf.txt)"
  KEEP=1
fi
