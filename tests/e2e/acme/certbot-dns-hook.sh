#!/bin/bash
# certbot --manual-auth-hook / --manual-cleanup-hook for dns-01: writes the _acme-challenge TXT
# record into the zone hosted on hostplane's built-in DNS through the REST API (hpapi.py, with
# HP_URL/HP_CACERT/HP_TOKEN/HP_ORG from the environment) and waits until DNS_ADDR serves it.
set -euo pipefail
api="/usr/bin/python3 $(dirname "$0")/hpapi.py"
name=_acme-challenge.${CERTBOT_DOMAIN#\*.}
case $1 in
  auth)
    $api txt-add "$name" "$CERTBOT_VALIDATION"
    $api txt-wait "$name" "$CERTBOT_VALIDATION" "$DNS_ADDR"
    echo "added TXT $name"
    ;;
  cleanup) $api txt-del "$name" "$CERTBOT_VALIDATION" ;;
esac
