#!/bin/bash
# certbot against the real server: http-01 standalone (ECDSA and RSA keys), renew, revoke; the
# CRL at the URL in the certificate then lists the serial.
source "$(dirname "$0")/lib.sh"
start_server "$1"
export REQUESTS_CA_BUNDLE=$CACERT
CB=(certbot --non-interactive --agree-tos -m admin@example.test --server "$DIRECTORY"
    --config-dir "$TMP/cb/config" --work-dir "$TMP/cb/work" --logs-dir "$TMP/cb/logs")

"${CB[@]}" certonly --standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
  --key-type ecdsa -d www.example.test -d example.test --cert-name ec > "$TMP/cb1.log" 2>&1 \
  || { cat "$TMP/cb1.log" "$TMP/server.log" >&2; fail "certbot ecdsa issuance"; }
LIVE=$TMP/cb/config/live
verify_chain "$LIVE/ec/fullchain.pem" www.example.test example.test
openssl x509 -noout -text -in "$LIVE/ec/cert.pem" | grep -q "id-ecPublicKey" || fail "not an EC key"

"${CB[@]}" certonly --standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
  --key-type rsa -d rsa.example.test --cert-name rsa > "$TMP/cb2.log" 2>&1 \
  || { cat "$TMP/cb2.log" >&2; fail "certbot rsa issuance"; }
verify_chain "$LIVE/rsa/fullchain.pem" rsa.example.test

OLD_SERIAL=$(openssl x509 -noout -serial -in "$LIVE/ec/cert.pem")
"${CB[@]}" renew --force-renewal --cert-name ec --standalone --http-01-address 127.0.0.1 \
  --http-01-port "$HTTP01_PORT" > "$TMP/cb3.log" 2>&1 || { cat "$TMP/cb3.log" >&2; fail "certbot renew"; }
NEW_SERIAL=$(openssl x509 -noout -serial -in "$LIVE/ec/cert.pem")
[ "$OLD_SERIAL" != "$NEW_SERIAL" ] || fail "renew did not replace the certificate"
verify_chain "$LIVE/ec/fullchain.pem" www.example.test example.test

"${CB[@]}" revoke --cert-path "$LIVE/rsa/cert.pem" --reason superseded --no-delete-after-revoke \
  > "$TMP/cb4.log" 2>&1 || { cat "$TMP/cb4.log" "$TMP/server.log" >&2; fail "certbot revoke"; }
CRL_URL=$(openssl x509 -noout -ext crlDistributionPoints -in "$LIVE/rsa/cert.pem" | grep -o 'https://[^ ]*')
curl -sf --noproxy '*' --cacert "$CACERT" -o "$TMP/crl.der" "$CRL_URL" || fail "CRL download from $CRL_URL"
SERIAL=$(openssl x509 -noout -serial -in "$LIVE/rsa/cert.pem" | cut -d= -f2)
openssl crl -inform DER -noout -text -in "$TMP/crl.der" | grep -q "$SERIAL" || fail "CRL lacks $SERIAL"
echo "PASS certbot: ecdsa+rsa issuance, renew, revoke, CRL"
