#!/bin/bash
# `hostplane ca` against a CA made by `hostplane serve --dev`: show (text and JSON), rotate an
# intermediate, move the ECDSA intermediate onto a SoftHSM2 token (use-pkcs11), clear errors for a
# wrong PIN and a missing key, and a restarted server issuing a leaf (certbot, http-01) signed on
# the token that verifies against the root.
set -euo pipefail
BIN=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
for b in softhsm2-util pkcs11-tool openssl curl certbot python3; do
  command -v "$b" > /dev/null || fail "$b is not installed (run scripts/bootstrap)"
done
MODULE=/usr/lib/softhsm/libsofthsm2.so
TMP=$(mktemp -d /tmp/hp-ca-cli-XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { "$(dirname "${BASH_SOURCE[0]}")/../../support/free-port"; }  # never from the ephemeral range
PORT=$(free_port)
HTTP01_PORT=$(free_port)
export HOSTPLANE_HTTP_LISTEN=127.0.0.1:$PORT HOSTPLANE_DNS_LISTEN=127.0.0.1:0
export HOSTPLANE_ACME_VA_HTTP_PORT=$HTTP01_PORT HOSTPLANE_ACME_VA_STATIC_IPS=127.0.0.1
start() {
  "$BIN" serve --dev --var "$TMP/var" > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 60))
  until curl -sf --noproxy '*' --cacert "$TMP/var/tls/server.crt" \
      "https://localhost:$PORT/acme/directory" > /dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$TMP/server.log" >&2; fail "server exited"; }
    [ $SECONDS -lt $deadline ] || fail "server not ready in 60 s"
    sleep 0.1
  done
}
stop() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=; }

start   # creates the hierarchy under var/ca
stop
CA=("$BIN" ca --var "$TMP/var")

"${CA[@]}" show > "$TMP/show.txt" || fail "ca show"
grep -q "^root .*ECDSA P-384" "$TMP/show.txt" || { cat "$TMP/show.txt"; fail "root not shown"; }
grep -q "ACTIVE  ECDSA P-256" "$TMP/show.txt" || { cat "$TMP/show.txt"; fail "no active ECDSA intermediate"; }
grep -q "ACTIVE  RSA 2048" "$TMP/show.txt" || { cat "$TMP/show.txt"; fail "no active RSA intermediate"; }
grep -q "sha256  [0-9A-F:]\{95\}" "$TMP/show.txt" || fail "no fingerprint"
grep -q "signer  file issuers/e1.key" "$TMP/show.txt" || fail "signer not shown"
# The fingerprint is the one openssl computes.
want=$(openssl x509 -noout -fingerprint -sha256 -in "$TMP/var/ca/root.pem" | cut -d= -f2)
grep -q "$want" "$TMP/show.txt" || fail "root fingerprint differs from openssl's ($want)"

"${CA[@]}" rotate-intermediate --key-type rsa > "$TMP/rot.txt" || fail "rotate-intermediate"
grep -q "new active rsa intermediate r3" "$TMP/rot.txt" || { cat "$TMP/rot.txt"; fail "rotation output"; }
"${CA[@]}" show --json > "$TMP/show.json"
python3 - "$TMP/show.json" <<'PY' || fail "show --json after rotation"
import json, sys
d = json.load(open(sys.argv[1]))
ints = {i["id"]: i for i in d["intermediates"]}
assert set(ints) == {"e1", "r2", "r3"}, ints
assert ints["r3"]["active"] and not ints["r2"]["active"] and ints["e1"]["active"], ints
assert d["root"]["key_type"] == "ECDSA P-384"
PY
if "${CA[@]}" rotate-intermediate --key-type dsa > /dev/null 2>&1; then fail "accepted --key-type dsa"; fi

# SoftHSM2 in the temp dir, an ECDSA P-256 key pair generated on the token.
export SOFTHSM2_CONF=$TMP/softhsm2.conf
mkdir -p "$TMP/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$TMP/tokens" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label hp-ca --pin 4321 --so-pin 87654321 > /dev/null
pkcs11-tool --module $MODULE --token-label hp-ca --login --pin 4321 --keypairgen \
  --key-type EC:prime256v1 --label issuer-1 --id 01 > /dev/null 2>&1 || fail "pkcs11-tool keypairgen"
echo 4321 > "$TMP/pin"; echo 0000 > "$TMP/bad-pin"

if "${CA[@]}" use-pkcs11 --module $MODULE --token hp-ca --key-label issuer-1 \
    --pin-file "$TMP/bad-pin" > "$TMP/p1.txt" 2>&1; then fail "a wrong PIN was accepted"; fi
grep -q "wrong PIN" "$TMP/p1.txt" && grep -q "acme.ca.pkcs11.pin_file" "$TMP/p1.txt" \
  || { cat "$TMP/p1.txt"; fail "wrong PIN error does not say so or name the config key"; }
if "${CA[@]}" use-pkcs11 --module $MODULE --token hp-ca --key-label nope \
    --pin-file "$TMP/pin" > "$TMP/p2.txt" 2>&1; then fail "a missing key was accepted"; fi
grep -q "acme.ca.pkcs11.key_label" "$TMP/p2.txt" || { cat "$TMP/p2.txt"; fail "missing key error"; }

"${CA[@]}" use-pkcs11 --module $MODULE --token hp-ca --key-label issuer-1 \
  --pin-file "$TMP/pin" > "$TMP/p3.txt" 2>&1 || { cat "$TMP/p3.txt"; fail "use-pkcs11"; }
grep -q "active ecdsa intermediate e4 is the key 'issuer-1' on token 'hp-ca'" "$TMP/p3.txt" \
  || { cat "$TMP/p3.txt"; fail "use-pkcs11 output"; }
"${CA[@]}" show > "$TMP/show2.txt"
grep -A4 "^e4 .*ACTIVE" "$TMP/show2.txt" | grep "signer  pkcs11 .*token=hp-ca key=issuer-1" >/dev/null \
  || { cat "$TMP/show2.txt"; fail "show does not report the token signer"; }
[ ! -e "$TMP/var/ca/issuers/e4.key" ] || fail "a key file was written for the token key"

# The restarted server signs with the token key; certbot's leaf verifies against the root.
start
grep -q "\"e4\"" "$TMP/var/ca/state.json" || fail "state.json does not name e4"
export REQUESTS_CA_BUNDLE=$TMP/var/tls/server.crt
certbot --non-interactive --agree-tos -m admin@example.test \
  --server "https://localhost:$PORT/acme/directory" --config-dir "$TMP/cb/config" \
  --work-dir "$TMP/cb/work" --logs-dir "$TMP/cb/logs" certonly --standalone \
  --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" --key-type ecdsa \
  -d hsm.example.test --cert-name hsm > "$TMP/cb.log" 2>&1 \
  || { tail -30 "$TMP/cb.log"; tail -20 "$TMP/server.log"; fail "certbot issuance"; }
CHAIN=$TMP/cb/config/live/hsm/fullchain.pem
openssl verify -CAfile "$TMP/var/ca/root.pem" -untrusted "$CHAIN" "$CHAIN" > /dev/null \
  || fail "the leaf does not verify against the root"
openssl x509 -noout -issuer -in "$CHAIN" | grep "ECDSA e4" >/dev/null || fail "the leaf was not issued by e4"
stop

# Config keys select the token key too, and a wrong PIN there stops the server with the key name.
export HOSTPLANE_ACME_CA_PKCS11_MODULE=$MODULE HOSTPLANE_ACME_CA_PKCS11_TOKEN=hp-ca
export HOSTPLANE_ACME_CA_PKCS11_KEY_LABEL=issuer-1 HOSTPLANE_ACME_CA_PKCS11_PIN_FILE=$TMP/bad-pin
if timeout 60 "$BIN" serve --dev --var "$TMP/var" > "$TMP/server2.log" 2>&1; then
  fail "the server started with a wrong PIN"
fi
grep -q "acme.ca.pkcs11.pin_file" "$TMP/server2.log" || { tail "$TMP/server2.log"; fail "start-up error does not name the key"; }
echo "ok"
