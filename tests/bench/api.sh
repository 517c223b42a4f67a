#!/usr/bin/env bash
# wrk against the authenticated REST API of `hostplane serve --dev` on loopback, through the TLS
# front: (1) GET /api/v1/organizations/{id} with a Bearer token, (2) a creating POST (an API
# token: insert + audit row in one transaction). 2 threads, 64 connections, 10 s each.
# Usage: tests/bench/api.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/controlplane/hostplane
[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target hostplane" >&2; exit 1; }
TMP=$(mktemp -d)
PORT=$("$(dirname "$0")/../support/free-port")
cleanup() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
HOSTPLANE_API_RATE_LIMIT_PER_MINUTE=100000000 HOSTPLANE_DNS_LISTEN=127.0.0.1:0 HOSTPLANE_LOG_FILE=$TMP/server.log \
  "$BIN" serve --dev --var "$TMP/var" --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
PID=$!
URL="https://localhost:$PORT"
C=(curl -sf --cacert "$TMP/var/tls/server.crt")
for _ in $(seq 1 200); do "${C[@]}" "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
J='Content-Type: application/json'
SIGNUP=$("${C[@]}" -H "$J" -d '{"email":"bench@bench.example","password":"Bench password 1","organization_name":"Bench"}' "$URL/api/v1/signup")
ORG=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["organization"]["id"])' <<<"$SIGNUP")
for _ in $(seq 1 100); do ls "$TMP"/var/mail/*.eml >/dev/null 2>&1 && break; sleep 0.05; done
VT=$(grep -ho 'token=[A-Za-z0-9_-]*' "$TMP"/var/mail/*.eml | head -1 | cut -d= -f2)
"${C[@]}" -H "$J" -d "{\"token\":\"$VT\"}" "$URL/api/v1/email/verify" >/dev/null
SESSION=$("${C[@]}" -D "$TMP/h" -H "$J" -d '{"email":"bench@bench.example","password":"Bench password 1"}' "$URL/api/v1/sessions")
COOKIE=$(grep -i '^set-cookie:' "$TMP/h" | sed 's/.*hp_session=\([^;]*\);.*/\1/')
CSRF=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])' <<<"$SESSION")
TOKEN=$("${C[@]}" -H "$J" -H "Cookie: hp_session=$COOKIE" -H "X-CSRF-Token: $CSRF" \
  -d '{"name":"bench","scopes":["org.read","tokens.manage","tokens.read"]}' "$URL/api/v1/organizations/$ORG/tokens" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"name":"wrk","scopes":["org.read"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
echo "# hostplane $("$BIN" version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "## authenticated GET /api/v1/organizations/{id}"
wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $TOKEN" "$URL/api/v1/organizations/$ORG" | tee "$TMP/get.txt"
echo "## creating POST /api/v1/organizations/{id}/tokens"
wrk -t2 -c64 -d10s --latency -s "$TMP/post.lua" "$URL/api/v1/organizations/$ORG/tokens" | tee "$TMP/post.txt"
for k in get post; do
  RPS=$(awk '/Requests\/sec/ {print $2}' "$TMP/$k.txt"); P99=$(awk '$1=="99%" {print $2}' "$TMP/$k.txt")
  NON2XX=$(awk '/Non-2xx/ {print $5}' "$TMP/$k.txt"); echo "RESULT api_$k requests_per_s=$RPS p99=$P99 non_2xx=${NON2XX:-0}"
done
"$BIN" audit verify --var "$TMP/var"
