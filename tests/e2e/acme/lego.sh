#!/bin/bash
# lego (Debian) against a server that requires External Account Binding: the account is
# registered with an EAB key minted by `hostplane acme eab create`; then http-01 (lego's own
# server), tls-alpn-01 (lego's own responder), dns-01 through the exec provider writing TXT
# records with the REST API (a wildcard plus its apex), and renew.
source "$(dirname "$0")/lib.sh"
need lego openssl curl
BIN=$1
start_server "$BIN" HOSTPLANE_ACME_EAB_REQUIRED=true
host_zone example.test
export LEGO_CA_CERTIFICATES=$CACERT DNS_ADDR
step "server up (EAB required), zone hosted"

EAB=$("$BIN" acme eab create --owner e2e-lego --var "$TMP/var") || fail "hostplane acme eab create"
KID=$(awk '/^kid:/ {print $2}' <<< "$EAB")
HMAC=$(awk '/^hmac_key:/ {print $2}' <<< "$EAB")
[ -n "$KID" ] && [ -n "$HMAC" ] || fail "eab create printed no kid/hmac_key: $EAB"

LEGO=(lego --accept-tos --email admin@example.test --server "$DIRECTORY" --path "$TMP/lego"
      --eab --kid "$KID" --hmac "$HMAC")
CERTS=$TMP/lego/certificates

# Without EAB the server must refuse the account (lego refuses client-side too, so ask directly
# through python3-acme, which does not look at the directory's flag).
/usr/bin/python3 - "$DIRECTORY" "$CACERT" > "$TMP/noeab.log" 2>&1 <<'EOF' && fail "an account was registered without EAB"
import sys, josepy as jose
from acme import client, messages
from cryptography.hazmat.primitives.asymmetric import ec
key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
net = client.ClientNetwork(key, alg=jose.ES256, user_agent="e2e", verify_ssl=sys.argv[2])
acme = client.ClientV2(client.ClientV2.get_directory(sys.argv[1], net), net)
acme.new_account(messages.NewRegistration.from_data(email="x@example.test", terms_of_service_agreed=True))
EOF
grep -q "externalAccountRequired" "$TMP/noeab.log" || fail_with "registration without EAB failed for another reason" "$TMP/noeab.log"
step "account without EAB refused (externalAccountRequired)"

"${LEGO[@]}" --key-type ec256 --domains www.example.test --domains example.test \
  --http --http.port "127.0.0.1:$HTTP01_PORT" run > "$TMP/lego1.log" 2>&1 \
  || fail_with "lego http-01 issuance (EAB registration)" "$TMP/lego1.log"
verify_chain "$CERTS/www.example.test.crt" www.example.test example.test
grep -q "\"kid\": \"$KID\"\|$KID" "$TMP/lego/accounts/"*/admin@example.test/account.json \
  || fail "lego's account does not carry the EAB binding"
step "EAB registration + http-01"

# A second account cannot reuse the EAB key: it binds one account only.
if lego --accept-tos --email other@example.test --server "$DIRECTORY" --path "$TMP/lego-other" \
    --eab --kid "$KID" --hmac "$HMAC" --domains www.example.test --http \
    --http.port "127.0.0.1:$HTTP01_PORT" run > "$TMP/lego-reuse.log" 2>&1; then
  fail "a used EAB key registered a second account"
fi
grep -q "already bound" "$TMP/lego-reuse.log" || fail_with "EAB reuse failed for another reason" "$TMP/lego-reuse.log"
step "EAB key reuse refused"

"${LEGO[@]}" --key-type rsa2048 --domains tls.example.test --tls --tls.port "127.0.0.1:$TLSALPN_PORT" \
  run > "$TMP/lego2.log" 2>&1 || fail_with "lego tls-alpn-01 issuance" "$TMP/lego2.log"
verify_chain "$CERTS/tls.example.test.crt" tls.example.test
step "tls-alpn-01"

EXEC_PATH="$E2E_DIR/lego-dns-exec.sh" EXEC_SEQUENCE_INTERVAL=1 EXEC_POLLING_INTERVAL=1 \
EXEC_PROPAGATION_TIMEOUT=30 "${LEGO[@]}" --key-type ec256 --domains '*.example.test' \
  --domains example.test --dns exec --dns.resolvers "$DNS_ADDR" --dns.disable-cp \
  run > "$TMP/lego3.log" 2>&1 || fail_with "lego dns-01 (exec) issuance" "$TMP/lego3.log"
verify_chain "$CERTS/_.example.test.crt" '*.example.test' example.test
step "dns-01 exec wildcard + apex"

OLD=$(openssl x509 -noout -serial -in "$CERTS/www.example.test.crt")
"${LEGO[@]}" --key-type ec256 --domains www.example.test --domains example.test \
  --http --http.port "127.0.0.1:$HTTP01_PORT" renew --days 3650 --no-random-sleep > "$TMP/lego4.log" 2>&1 \
  || fail_with "lego renew" "$TMP/lego4.log"
NEW=$(openssl x509 -noout -serial -in "$CERTS/www.example.test.crt")
[ "$OLD" != "$NEW" ] || fail "renew did not replace the certificate"
verify_chain "$CERTS/www.example.test.crt" www.example.test example.test
step "renew"
echo "PASS lego: EAB (required, single use), http-01, tls-alpn-01, dns-01 exec wildcard, renew"
