#!/bin/bash
# Caddy (Debian) with `acme_ca` pointing at us obtains a certificate for a site it serves: the
# validator reaches Caddy's own http-01/tls-alpn-01 solvers on its http_port/https_port, and the
# site then answers over HTTPS with a chain that verifies against our root.
source "$(dirname "$0")/lib.sh"
need caddy openssl curl
HTTP01_PORT=$(free_port)   # Caddy's http_port and https_port are the validator's ports
TLSALPN_PORT=$(free_port)
start_server "$1"
host_zone caddy.test
step "server up, zone hosted"

mkdir -p "$TMP/caddy/data" "$TMP/caddy/config"
cat > "$TMP/caddy/Caddyfile" <<CFG
{
	admin off
	http_port $HTTP01_PORT
	https_port $TLSALPN_PORT
	acme_ca $DIRECTORY
	acme_ca_root $CACERT
	email admin@caddy.test
	storage file_system {
		root $TMP/caddy/data
	}
	skip_install_trust
}
www.caddy.test {
	bind 127.0.0.1
	respond "hello from caddy"
}
CFG
HOME=$TMP/caddy XDG_DATA_HOME=$TMP/caddy/data XDG_CONFIG_HOME=$TMP/caddy/config \
  caddy run --config "$TMP/caddy/Caddyfile" --adapter caddyfile > "$TMP/caddy.log" 2>&1 &
BG_PIDS+=("$!")
CADDY_PID=$!

URL=https://www.caddy.test:$TLSALPN_PORT/
served() {
  kill -0 "$CADDY_PID" 2>/dev/null || fail_with "caddy exited" "$TMP/caddy.log"
  curl -sf --noproxy '*' --cacert "$ROOT" --resolve "www.caddy.test:$TLSALPN_PORT:127.0.0.1" "$URL" \
    | grep "hello from caddy" >/dev/null
}
deadline=$((SECONDS + 90))
until served; do
  [ $SECONDS -lt $deadline ] || fail_with "caddy did not serve www.caddy.test with our certificate in 90 s" "$TMP/caddy.log"
  sleep 0.2
done
step "caddy obtained a certificate and serves the site"

openssl s_client -connect "127.0.0.1:$TLSALPN_PORT" -servername www.caddy.test -showcerts \
  < /dev/null 2> /dev/null | sed -n '/BEGIN CERT/,/END CERT/p' > "$TMP/served.pem"
verify_chain "$TMP/served.pem" www.caddy.test
grep -q "certificate obtained successfully" "$TMP/caddy.log" || fail_with "caddy log lacks the ACME issuance" "$TMP/caddy.log"
echo "PASS caddy: acme_ca issuance for a served site, chain verifies against our root"
