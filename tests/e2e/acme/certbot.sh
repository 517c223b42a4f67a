#!/bin/bash
# certbot (Debian) against the real server, validating through the built-in DNS: http-01
# standalone (ECDSA and RSA keys), dns-01 through manual hooks that write TXT records with the
# REST API (a wildcard plus its apex), a wildcard over http-01 refused, CAA for another CA refused
# with a `caa` problem while CAA naming us passes, the alternate chain to Root R1 chosen with
# --preferred-chain, renew, revoke, and the CRL listing the serial.
source "$(dirname "$0")/lib.sh"
need certbot openssl curl
start_server "$1"
export REQUESTS_CA_BUNDLE=$CACERT DNS_ADDR
host_zone example.test
CB=(certbot --non-interactive --agree-tos -m admin@example.test --server "$DIRECTORY"
    --config-dir "$TMP/cb/config" --work-dir "$TMP/cb/work" --logs-dir "$TMP/cb/logs")
STANDALONE=(--standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT")
LIVE=$TMP/cb/config/live
step "server up, zone hosted"

"${CB[@]}" certonly "${STANDALONE[@]}" --key-type ecdsa -d www.example.test -d example.test \
  --cert-name ec > "$TMP/cb1.log" 2>&1 || fail_with "certbot http-01 ecdsa issuance" "$TMP/cb1.log"
verify_chain "$LIVE/ec/fullchain.pem" www.example.test example.test
openssl x509 -noout -text -in "$LIVE/ec/cert.pem" | grep "id-ecPublicKey" >/dev/null || fail "not an EC key"
step "http-01 ecdsa"

"${CB[@]}" certonly "${STANDALONE[@]}" --key-type rsa -d rsa.example.test --cert-name rsa \
  > "$TMP/cb2.log" 2>&1 || fail_with "certbot http-01 rsa issuance" "$TMP/cb2.log"
verify_chain "$LIVE/rsa/fullchain.pem" rsa.example.test
openssl x509 -noout -text -in "$LIVE/rsa/cert.pem" | grep "rsaEncryption" >/dev/null || fail "not an RSA key"
step "http-01 rsa"

# dns-01: the hooks add/delete _acme-challenge TXT records in the hosted zone through the API.
"${CB[@]}" certonly --manual --preferred-challenges dns --key-type ecdsa \
  --manual-auth-hook "$E2E_DIR/certbot-dns-hook.sh auth" \
  --manual-cleanup-hook "$E2E_DIR/certbot-dns-hook.sh cleanup" \
  -d '*.example.test' -d example.test --cert-name wild > "$TMP/cb3.log" 2>&1 \
  || fail_with "certbot dns-01 wildcard issuance" "$TMP/cb3.log"
verify_chain "$LIVE/wild/fullchain.pem" '*.example.test' example.test
/usr/bin/python3 "$E2E_DIR/hpapi.py" txt-del _acme-challenge.example.test
grep -q "added TXT" "$TMP/cb3.log" 2>/dev/null || grep -rq "added TXT" "$TMP/cb/logs" \
  || fail_with "the dns-01 auth hook did not run" "$TMP/cb3.log"
step "dns-01 wildcard + apex"

# A wildcard cannot be validated over http-01: the server offers only dns-01 for it (a name with
# no valid authorization, so that nothing is reused).
if "${CB[@]}" certonly "${STANDALONE[@]}" -d '*.sub.example.test' --cert-name wild-http \
    > "$TMP/cb4.log" 2>&1; then
  fail "a wildcard was issued through http-01"
fi
grep -qi "does not support any combination of challenges\|challenges" "$TMP/cb4.log" \
  || fail_with "wildcard over http-01 failed for another reason" "$TMP/cb4.log"
step "wildcard over http-01 refused"

# CAA through the real resolver: a zone whose CAA names another CA is refused with a caa problem;
# one whose CAA names us (acme.caa_identities, default hostplane.test) is issued.
host_zone caa-other.test
$HPAPI record caa-other.test CAA '0 issue "otherca.example"' || fail_with "adding CAA"
host_zone caa-us.test
$HPAPI record caa-us.test CAA '0 issue "hostplane.test"' || fail_with "adding CAA"
if "${CB[@]}" certonly "${STANDALONE[@]}" -d www.caa-other.test --cert-name caa-other \
    > "$TMP/cb5.log" 2>&1; then
  fail "issued although CAA names another CA"
fi
grep -rq "urn:ietf:params:acme:error:caa" "$TMP/cb/logs" "$TMP/cb5.log" \
  || fail_with "CAA refusal was not a caa problem" "$TMP/cb5.log"
"${CB[@]}" certonly "${STANDALONE[@]}" -d www.caa-us.test --cert-name caa-us > "$TMP/cb6.log" 2>&1 \
  || fail_with "issuance refused although CAA names us" "$TMP/cb6.log"
verify_chain "$LIVE/caa-us/fullchain.pem" www.caa-us.test
step "CAA other CA refused (caa), CAA us issued"

# Alternate chain (Link rel="alternate"): certbot picks the chain whose top certificate was issued
# by Root R1 (RSA); it verifies with only R1 trusted, the default chain does not.
"${CB[@]}" certonly "${STANDALONE[@]}" --key-type ecdsa -d alt.example.test --cert-name alt \
  --preferred-chain "hostplane Root R1" > "$TMP/cb-alt.log" 2>&1 \
  || fail_with "certbot --preferred-chain issuance" "$TMP/cb-alt.log"
[ "$(grep -c 'BEGIN CERTIFICATE' "$LIVE/alt/fullchain.pem")" = 3 ] \
  || fail_with "the preferred (alternate) chain does not have 3 certificates" "$LIVE/alt/fullchain.pem"
R1=$TMP/var/ca/alt-root.pem
openssl verify -CAfile "$R1" -untrusted "$LIVE/alt/fullchain.pem" "$LIVE/alt/fullchain.pem" > /dev/null \
  || fail "the alternate chain does not verify against Root R1"
if openssl verify -CAfile "$R1" -untrusted "$LIVE/ec/fullchain.pem" "$LIVE/ec/fullchain.pem" > /dev/null 2>&1; then
  fail "the default chain verified against Root R1"
fi
step "alternate chain to Root R1 (--preferred-chain)"

OLD_SERIAL=$(openssl x509 -noout -serial -in "$LIVE/ec/cert.pem")
"${CB[@]}" renew --force-renewal --no-random-sleep-on-renew --cert-name ec "${STANDALONE[@]}" > "$TMP/cb7.log" 2>&1 \
  || fail_with "certbot renew" "$TMP/cb7.log"
NEW_SERIAL=$(openssl x509 -noout -serial -in "$LIVE/ec/cert.pem")
[ "$OLD_SERIAL" != "$NEW_SERIAL" ] || fail "renew did not replace the certificate"
verify_chain "$LIVE/ec/fullchain.pem" www.example.test example.test
step "renew"

"${CB[@]}" revoke --cert-path "$LIVE/rsa/cert.pem" --reason superseded --no-delete-after-revoke \
  > "$TMP/cb8.log" 2>&1 || fail_with "certbot revoke" "$TMP/cb8.log"
CRL_URL=$(openssl x509 -noout -ext crlDistributionPoints -in "$LIVE/rsa/cert.pem" | grep -o 'https://[^ ]*')
curl -sf --noproxy '*' --cacert "$CACERT" -o "$TMP/crl.der" "$CRL_URL" || fail "CRL download from $CRL_URL"
SERIAL=$(openssl x509 -noout -serial -in "$LIVE/rsa/cert.pem" | cut -d= -f2)
openssl crl -inform DER -noout -text -in "$TMP/crl.der" | grep "$SERIAL" >/dev/null || fail "CRL lacks $SERIAL"
step "revoke + CRL"
echo "PASS certbot: http-01 ecdsa+rsa, dns-01 wildcard via API hooks, wildcard/http-01 refused, CAA, alternate chain, renew, revoke, CRL"
