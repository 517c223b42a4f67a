#!/bin/bash
# lego `--dns exec` program: `present|cleanup FQDN VALUE` (FQDN with a trailing dot). Writes the
# TXT record into the zone hosted on hostplane's built-in DNS through the REST API (hpapi.py, with
# HP_URL/HP_CACERT/HP_TOKEN/HP_ORG from the environment) and waits until DNS_ADDR serves it.
set -euo pipefail
api="/usr/bin/python3 $(dirname "$0")/hpapi.py"
case $1 in
  present)
    $api txt-add "$2" "$3"
    $api txt-wait "$2" "$3" "$DNS_ADDR"
    ;;
  cleanup) $api txt-del "$2" "$3" ;;
  *) exit 0 ;;  # timeout and other queries: defaults
esac
