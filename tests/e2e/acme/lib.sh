# Shared helpers for ACME end-to-end tests: start `hostplane serve --dev` on free loopback ports
# and wait for its directory (polling with a deadline, never sleeping for synchronisation).
set -euo pipefail

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server HOSTPLANE_BINARY -> sets TMP, PORT, HTTP01_PORT, DIRECTORY, CACERT, ROOT, SERVER_PID
start_server() {
  local bin=$1
  TMP=$(mktemp -d /tmp/hp-acme-e2e-XXXXXX)
  PORT=$(free_port)
  HTTP01_PORT=$(free_port)
  TLSALPN_PORT=$(free_port)
  export HOSTPLANE_HTTP_LISTEN=127.0.0.1:$PORT
  export HOSTPLANE_ACME_VA_HTTP_PORT=$HTTP01_PORT
  export HOSTPLANE_ACME_VA_TLS_ALPN_PORT=$TLSALPN_PORT
  mkdir -p "$TMP/var/keys"  # works around serve not creating var/keys yet (reported)
  "$bin" serve --dev --var "$TMP/var" > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
  DIRECTORY=https://localhost:$PORT/acme/directory
  CACERT=$TMP/var/tls/server.crt
  ROOT=$TMP/var/ca/root.pem
  local deadline=$((SECONDS + 60))
  until [ -f "$CACERT" ] && curl -sf --noproxy '*' --cacert "$CACERT" "$DIRECTORY" > /dev/null 2>&1; do
    kill -0 $SERVER_PID 2>/dev/null || { cat "$TMP/server.log" >&2; fail "server exited"; }
    [ $SECONDS -lt $deadline ] || { cat "$TMP/server.log" >&2; fail "server not ready in 60 s"; }
    sleep 0.2
  done
}

# verify_chain CHAIN_PEM NAME... : the leaf verifies against our root; its SANs are exactly NAMEs.
verify_chain() {
  local chain=$1; shift
  openssl verify -CAfile "$ROOT" -untrusted "$chain" "$chain" > /dev/null \
    || fail "openssl verify failed for $chain"
  local want got
  want=$(printf 'DNS:%s\n' "$@" | sort | paste -sd, -)
  got=$(openssl x509 -noout -ext subjectAltName -in "$chain" | tail -n +2 | tr -d ' ' | tr ',' '\n' | sort | paste -sd, -)
  [ "$want" = "$got" ] || fail "SANs are '$got', expected '$want'"
}
