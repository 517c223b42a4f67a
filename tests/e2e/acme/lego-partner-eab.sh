#!/bin/bash
# lego (Debian) with EAB credentials a partner minted for one of its customers (issue 9,
# acceptance 4): an OEM partner is created by staff, signs /partner/v1 requests with its API key,
# creates a customer (its first owner invited by e-mail) and mints single-use EAB credentials
# with an expiry. lego registers through the partner's ACME directory and gets a certificate by
# http-01; the certificate is listed for the customer both to the partner
# (/partner/v1/customers/{customer}/certificates) and to the customer's own user
# (/api/v1/organizations/{org}/acme-certificates), and counted as "certificates" usage of the
# customer's subscription by the partner.eab.sweep job. A second account with the same key is
# refused, and a key past its expiry (the dev clock moved) is refused with a detail that says so.
# The partner's webhook receiver (a local HTTP server) gets one certificate.issued event for it.
source "$(dirname "$0")/lib.sh"
need lego openssl curl
BIN=$1
CLOCK_DIR=$(mktemp -d /tmp/hp-partner-clock-XXXXXX)
echo 0 > "$CLOCK_DIR/clock"
start_server "$BIN" HOSTPLANE_DEV_CLOCK_FILE="$CLOCK_DIR/clock" HOSTPLANE_PARTNER_WEBHOOKS_ALLOW_HTTP=true \
  HOSTPLANE_PARTNER_WEBHOOKS_ALLOWED_PRIVATE_CIDRS=127.0.0.0/8
# The partner's webhook receiver: records every request body (one file per request).
HOOK_PORT=$(free_port)
mkdir -p "$TMP/hooks"
/usr/bin/python3 - "$HOOK_PORT" "$TMP/hooks" > "$TMP/hooks.log" 2>&1 <<'PY' &
import http.server, os, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(os.path.join(sys.argv[2], "%f" % time.time()), "wb") as f:
            f.write(body)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
BG_PIDS+=("$!")
host_zone partner-eab.test
export LEGO_CA_CERTIFICATES=$CACERT
HPP="/usr/bin/python3 $E2E_DIR/hppartner.py"
step "server up, zone hosted"

printf 'Staff password 77\n' > "$TMP/staff.pw"
"$BIN" staff create --email ops@hostplane.example --password-file "$TMP/staff.pw" --var "$TMP/var" \
  > "$TMP/staff.log" 2>&1 || fail_with "staff create" "$TMP/staff.log"
out=$($HPP partner "$TMP/var" ops@hostplane.example "Staff password 77" "Kumo OEM" oem e2e@example.test) \
  || fail_with "partner and key through the staff API"
eval "$out"
export PARTNER_KEY PARTNER_SECRET
CUSTOMER=$($HPP call POST /partner/v1/customers '{"name":"Kumo customer KK","owner_email":"owner@kumo-customer.test"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail_with "partner creates a customer"
EAB=$($HPP call POST "/partner/v1/customers/$CUSTOMER/eab-keys" '{"expires_in_days":1}') \
  || fail_with "partner mints EAB credentials"
KID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["kid"])' "$EAB")
HMAC=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["hmac_key"])' "$EAB")
PDIR=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["directory"])' "$EAB")
[ "$PDIR" = "https://localhost:$PORT/acme/p/$PARTNER_ID/directory" ] || fail "EAB answer names directory '$PDIR'"
$HPP staff-product ops@hostplane.example "Staff password 77" eab-plan 1000 "$PARTNER_ID" "$HP_ORG" \
  || fail_with "staff: product, partner billing terms and sell price"
out=$($HPP customer-join "$TMP/var" owner@kumo-customer.test "$CUSTOMER" eab-plan) \
  || fail_with "the invited owner joins the customer and subscribes"
eval "$out"
export CUSTOMER_COOKIE CUSTOMER_CSRF
$HPP call POST /partner/v1/webhooks "{\"url\":\"http://127.0.0.1:$HOOK_PORT/hook\",\"events\":[\"certificate.issued\"]}" \
  > /dev/null || fail_with "partner webhook subscription"
step "OEM partner, customer $CUSTOMER (owner joined, subscribed), EAB kid $KID, webhook"

lego --accept-tos --email admin@kumo-customer.test --server "$PDIR" --path "$TMP/lego" \
  --eab --kid "$KID" --hmac "$HMAC" --key-type ec256 --domains www.partner-eab.test \
  --http --http.port "127.0.0.1:$HTTP01_PORT" run > "$TMP/lego1.log" 2>&1 \
  || fail_with "lego with partner-minted EAB" "$TMP/lego1.log"
CERT=$TMP/lego/certificates/www.partner-eab.test.crt
verify_chain "$CERT" www.partner-eab.test
SERIAL=$(openssl x509 -noout -serial -in "$CERT" | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
step "lego got a certificate through the partner's directory (serial $SERIAL)"

has_serial() {  # has_serial JSON: the list holds our certificate, issued through our kid
  python3 - "$1" "$SERIAL" "$KID" <<'PY'
import json, sys
items = json.loads(sys.argv[1])["items"]
ok = [c for c in items if c["serial"].lstrip("0") == sys.argv[2] and c["eab_kid"] == sys.argv[3]
      and c["names"] == ["www.partner-eab.test"]]
sys.exit(0 if len(ok) == 1 and len(items) == 1 else 1)
PY
}
PLIST=$($HPP call GET "/partner/v1/customers/$CUSTOMER/certificates") || fail_with "partner lists certificates"
has_serial "$PLIST" || fail "partner's certificate list of the customer: $PLIST"
CLIST=$($HPP customer-get "/api/v1/organizations/$CUSTOMER/acme-certificates") || fail_with "customer's own view"
has_serial "$CLIST" || fail "customer's acme-certificates: $CLIST"
# Another partner's customer sees nothing of it: the e2e user's own organization lists none.
OTHER=$(curl -sf --noproxy '*' --cacert "$CACERT" \
  -H "Authorization: Bearer $HP_TOKEN" "$HP_URL/api/v1/organizations/$HP_ORG/acme-certificates") \
  || fail "the e2e user's acme-certificates"
python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["items"] == [] else 1)' "$OTHER" \
  || fail "another organization sees the customer's certificate: $OTHER"
step "certificate attributed to the customer (partner view, customer view, not elsewhere)"

# The sweep runs once a minute on the server's clock: move it one slot on, then the customer's
# usage shows the certificate once.
echo 61 > "$CLOCK_DIR/clock"
export HP_CLOCK_OFFSET=61
usage_counted() {
  local u
  u=$($HPP customer-get "/api/v1/organizations/$CUSTOMER/usage") || return 1
  python3 -c 'import json,sys; i=[x for x in json.loads(sys.argv[1])["items"] if x["metric"]=="certificates"]; sys.exit(0 if len(i)==1 and i[0]["quantity"]==1 else 1)' "$u"
}
wait_for 20 "certificates usage of the customer" usage_counted
hook_arrived() {
  python3 - "$TMP/hooks" "$SERIAL" "$CUSTOMER" <<'PY'
import glob, json, sys
bodies = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*")]
ok = [b for b in bodies if b["type"] == "certificate.issued" and b["organization_id"] == sys.argv[3]
      and b["data"]["serial"].lstrip("0") == sys.argv[2]]
sys.exit(0 if len(ok) == 1 else 1)
PY
}
wait_for 20 "certificate.issued at the partner's receiver" hook_arrived
step "certificate counted as usage of the customer's subscription; certificate.issued delivered"

if lego --accept-tos --email other@kumo-customer.test --server "$PDIR" --path "$TMP/lego-other" \
    --eab --kid "$KID" --hmac "$HMAC" --domains www.partner-eab.test --http \
    --http.port "127.0.0.1:$HTTP01_PORT" run > "$TMP/lego-reuse.log" 2>&1; then
  fail "a used EAB key registered a second account"
fi
grep -q "already bound" "$TMP/lego-reuse.log" || fail_with "EAB reuse failed for another reason" "$TMP/lego-reuse.log"
KEYS=$($HPP call GET "/partner/v1/customers/$CUSTOMER/eab-keys") || fail_with "EAB key list"
python3 -c 'import json,sys; k=json.loads(sys.argv[1])["items"]; sys.exit(0 if len(k)==1 and k[0]["state"]=="bound" and "hmac_key" not in k[0] else 1)' "$KEYS" \
  || fail "EAB key list: $KEYS"
step "second use of the EAB key refused; key listed as bound"

EAB2=$($HPP call POST "/partner/v1/customers/$CUSTOMER/eab-keys" '{"expires_in_days":1}') || fail_with "second EAB"
KID2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["kid"])' "$EAB2")
HMAC2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["hmac_key"])' "$EAB2")
echo 90000 > "$CLOCK_DIR/clock"   # 25 hours later on the server's clock
export HP_CLOCK_OFFSET=90000
wait_for 10 "the server clock moving 25 h" $HPP healthz-at-least $(( $(date +%s) + 89990 ))
if lego --accept-tos --email late@kumo-customer.test --server "$PDIR" --path "$TMP/lego-late" \
    --eab --kid "$KID2" --hmac "$HMAC2" --domains www.partner-eab.test --http \
    --http.port "127.0.0.1:$HTTP01_PORT" run > "$TMP/lego-late.log" 2>&1; then
  fail "an expired EAB key registered an account"
fi
grep -q "expired" "$TMP/lego-late.log" || fail_with "expired EAB key refused for another reason" "$TMP/lego-late.log"
KEYS=$($HPP call GET "/partner/v1/customers/$CUSTOMER/eab-keys") || fail_with "EAB key list"
python3 -c 'import json,sys; k=json.loads(sys.argv[1])["items"]; sys.exit(0 if [x["state"] for x in k]==["bound","expired"] else 1)' "$KEYS" \
  || fail "EAB key list after expiry: $KEYS"
step "expired EAB key refused (unauthorized, detail says expired)"
rm -rf "$CLOCK_DIR"
echo "PASS lego partner EAB: minted by an OEM, certificate attributed to its customer, single use, expiry enforced"
