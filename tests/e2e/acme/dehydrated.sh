#!/bin/bash
# dehydrated (Debian) against the real server: registration and http-01 from a webroot served
# by a plain HTTP server on loopback. dehydrated never retries a badNonce, so this also shows that
# valid nonces are never rejected.
source "$(dirname "$0")/lib.sh"
need dehydrated openssl curl
start_server "$1"
host_zone example.test
step "server up, zone hosted"

mkdir -p "$TMP/www/.well-known/acme-challenge" "$TMP/dh"
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$HTTP01_PORT" \
  > "$TMP/www.log" 2>&1 &
BG_PIDS+=("$!")
echo probe > "$TMP/www/.well-known/acme-challenge/probe"
wait_for 10 "webroot server" curl -sf --noproxy '*' "http://127.0.0.1:$HTTP01_PORT/.well-known/acme-challenge/probe"
rm "$TMP/www/.well-known/acme-challenge/probe"

cat > "$TMP/dh/config" <<CFG
CA="$DIRECTORY"
CHALLENGETYPE="http-01"
BASEDIR="$TMP/dh"
WELLKNOWN="$TMP/www/.well-known/acme-challenge"
CURL_OPTS="--cacert $CACERT --noproxy localhost,127.0.0.1"
CONTACT_EMAIL="admin@example.test"
KEY_ALGO=prime256v1
CFG
dehydrated -f "$TMP/dh/config" --register --accept-terms > "$TMP/dh1.log" 2>&1 \
  || fail_with "dehydrated registration" "$TMP/dh1.log"
dehydrated -f "$TMP/dh/config" -c -d www.example.test -d example.test > "$TMP/dh2.log" 2>&1 \
  || fail_with "dehydrated http-01 issuance" "$TMP/dh2.log"
verify_chain "$TMP/dh/certs/www.example.test/fullchain.pem" www.example.test example.test
step "http-01 ecdsa"

dehydrated -f "$TMP/dh/config" -c -d rsa.example.test -a rsa \
  > "$TMP/dh3.log" 2>&1 || fail_with "dehydrated http-01 rsa issuance" "$TMP/dh3.log"
verify_chain "$TMP/dh/certs/rsa.example.test/fullchain.pem" rsa.example.test
openssl x509 -noout -text -in "$TMP/dh/certs/rsa.example.test/cert.pem" | grep rsaEncryption >/dev/null \
  || fail "dehydrated -a rsa did not get an RSA certificate"
step "http-01 rsa"
echo "PASS dehydrated: registration, http-01 (ecdsa, rsa)"
