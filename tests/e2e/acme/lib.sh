# Shared helpers for ACME end-to-end tests: start `hostplane serve --dev` on free loopback ports
# with its built-in DNS server, sign up through the API and host zones there, so that the CA
# validates through real DNS. Polls with deadlines, never sleeps for synchronisation.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HPAPI="/usr/bin/python3 $E2E_DIR/hpapi.py"
E2E_START=$SECONDS

fail() { echo "FAIL: $*" >&2; exit 1; }

# A client binary the test needs; scripts/bootstrap installs them, so a missing one is a failure.
need() {
  local b
  for b in "$@"; do command -v "$b" > /dev/null || fail "$b is not installed (run scripts/bootstrap)"; done
}

free_port() { "$(dirname "${BASH_SOURCE[0]}")/../../support/free-port"; }  # never from the ephemeral range

# Background processes started by a script; all are stopped on exit.
BG_PIDS=()
cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${TMP:-}" ] && [ -z "${E2E_KEEP:-}" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

# On failure print the logs that explain it: fail_with "what" LOG...
fail_with() {
  local what=$1 f; shift
  for f in "$@"; do echo "---- $f" >&2; tail -n 60 "$f" >&2 || true; done
  echo "---- server log" >&2; tail -n 40 "$TMP/server.log" >&2 || true
  fail "$what"
}

# wait_for SECONDS DESCRIPTION COMMAND... : polls COMMAND every 50 ms until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what not ready after $secs s"
    sleep 0.05
  done
}

# start_server HOSTPLANE_BINARY [KEY=VALUE...] -> TMP, PORT, HTTP01_PORT, TLSALPN_PORT, DIRECTORY,
# CACERT, ROOT, DNS_ADDR; signs up a user and exports HP_URL/HP_CACERT/HP_TOKEN/HP_ORG for hpapi.py.
# Extra KEY=VALUE pairs are exported before the server starts (HOSTPLANE_* config overrides).
start_server() {
  local bin=$1; shift
  TMP=$(mktemp -d /tmp/hp-acme-e2e-XXXXXX)
  PORT=$(free_port)
  HTTP01_PORT=${HTTP01_PORT:-$(free_port)}
  TLSALPN_PORT=${TLSALPN_PORT:-$(free_port)}
  export HOSTPLANE_HTTP_LISTEN=127.0.0.1:$PORT
  export HOSTPLANE_DNS_LISTEN=127.0.0.1:0
  export HOSTPLANE_ACME_VA_HTTP_PORT=$HTTP01_PORT
  export HOSTPLANE_ACME_VA_TLS_ALPN_PORT=$TLSALPN_PORT
  local kv
  for kv in "$@"; do export "${kv?}"; done
  "$bin" serve --dev --var "$TMP/var" > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  BG_PIDS+=("$SERVER_PID")
  DIRECTORY=https://localhost:$PORT/acme/directory
  CACERT=$TMP/var/tls/server.crt
  ROOT=$TMP/var/ca/root.pem
  local deadline=$((SECONDS + 60))
  until [ -f "$CACERT" ] && [ -s "$TMP/var/run/dns.addr" ] &&
        curl -sf --noproxy '*' --cacert "$CACERT" "$DIRECTORY" > /dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; fail "server exited"; }
    [ $SECONDS -lt $deadline ] || { cat "$TMP/server.log" >&2; fail "server not ready in 60 s"; }
    sleep 0.1
  done
  DNS_ADDR=$(head -n1 "$TMP/var/run/dns.addr")
  DNS_PORT=${DNS_ADDR##*:}
  export HP_URL=https://localhost:$PORT HP_CACERT=$CACERT
  local out
  out=$($HPAPI setup "$TMP/var" "e2e@example.test") || fail_with "sign-up through the API"
  eval "$out"
  export HP_TOKEN HP_ORG
}

# host_zone NAME [IP]: NAME and *.NAME get A records (default 127.0.0.1) on the built-in DNS.
host_zone() { $HPAPI zone "$@" || fail_with "hosting zone $1"; }

# verify_chain CHAIN_PEM NAME... : the leaf verifies against our root; its SANs are exactly NAMEs.
verify_chain() {
  local chain=$1; shift
  [ -s "$chain" ] || fail "no certificate at $chain"
  openssl verify -CAfile "$ROOT" -untrusted "$chain" "$chain" > /dev/null \
    || fail "openssl verify failed for $chain"
  local want got
  want=$(printf 'DNS:%s\n' "$@" | sort | paste -sd, -)
  got=$(openssl x509 -noout -ext subjectAltName -in "$chain" | tail -n +2 | tr -d ' ' | tr ',' '\n' | sort | paste -sd, -)
  [ "$want" = "$got" ] || fail "SANs of $chain are '$got', expected '$want'"
}

# step NAME: prints how long the previous steps took (timings end up in the ctest log).
step() { echo "[$((SECONDS - E2E_START)) s] $*"; }
