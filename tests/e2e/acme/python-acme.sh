#!/bin/bash
# python3-acme (Debian) against the real server: account key rollover, issuance with the new key
# (http-01), account deactivation, and a wildcard authorization offering dns-01 only.
source "$(dirname "$0")/lib.sh"
need openssl
/usr/bin/python3 -c 'import acme.client, josepy' 2>/dev/null || fail "python3-acme is not installed (run scripts/bootstrap)"
start_server "$1"
host_zone example.test
step "server up, zone hosted"
/usr/bin/python3 "$E2E_DIR/account_lifecycle.py" "$DIRECTORY" "$CACERT" "$HTTP01_PORT" "$TMP" \
  > "$TMP/py.log" 2>&1 || fail_with "account lifecycle" "$TMP/py.log"
cat "$TMP/py.log"
verify_chain "$TMP/rollover.pem" rollover.example.test
step "rollover, issuance with the new key, deactivation"
echo "PASS python3-acme: key rollover, deactivation, wildcard offers dns-01 only, unhosted name is a dns problem"
