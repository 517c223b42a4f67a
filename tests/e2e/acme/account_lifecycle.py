#!/usr/bin/python3
"""Account key rollover (RFC 8555 §7.3.5) and deactivation (§7.3.6) with python3-acme, which has
no key-change call of its own: the inner JWS is built with acme.jws and posted through the
client's signed transport. Also checks that a wildcard authorization offers dns-01 only and that
a name in no hosted zone fails validation with a `dns` problem.

usage: account_lifecycle.py DIRECTORY CACERT HTTP01_PORT OUT_DIR
Writes OUT_DIR/rollover.pem (the chain issued to the rolled-over key). Exits non-zero with a
FAIL line on the first broken expectation.
"""
import datetime
import http.server
import json
import os
import sys
import threading
import time

import josepy as jose
from acme import client, crypto_util, errors, jws, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DIRECTORY, CACERT, HTTP01_PORT, OUT = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ec_key():
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def connect(key, regr=None):
    net = client.ClientNetwork(key, account=regr, alg=jose.ES256, user_agent="hostplane-e2e",
                               verify_ssl=CACERT)
    return client.ClientV2(client.ClientV2.get_directory(DIRECTORY, net), net), net


def problem_type(exc):
    return getattr(exc, "typ", "") or str(exc)


# Serves http-01 key authorizations on 127.0.0.1:HTTP01_PORT.
RESPONSES = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = RESPONSES.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        if body:
            self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def issue_http01(acme, key, names):
    cert_key = ec.generate_private_key(ec.SECP256R1())
    pem = cert_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    order = acme.new_order(crypto_util.make_csr(pem, names))
    for authz in order.authorizations:
        chall = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
        response, validation = chall.chall.response_and_validation(key)
        RESPONSES[chall.chall.path] = validation
        acme.answer_challenge(chall, response)
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    return acme.poll_and_finalize(order, deadline).fullchain_pem


server = http.server.ThreadingHTTPServer(("127.0.0.1", HTTP01_PORT), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()

# 1. Register with key 1; a wildcard authorization offers dns-01 only.
key1 = ec_key()
acme, net = connect(key1)
regr = acme.new_account(messages.NewRegistration.from_data(
    email="rollover@example.test", terms_of_service_agreed=True))
csr_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
order = acme.new_order(crypto_util.make_csr(csr_key, ["*.wild.example.test"]))
types = sorted(c.chall.typ for a in order.authorizations for c in a.body.challenges)
if types != ["dns-01"]:
    fail(f"a wildcard authorization offers {types}, expected only dns-01")
print("wildcard authorization offers dns-01 only")

# A name in no hosted zone has no address: http-01 fails with a dns problem, never a connection.
order = acme.new_order(crypto_util.make_csr(csr_key, ["www.not-hosted.test"]))
authz = order.authorizations[0]
chall = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
acme.answer_challenge(chall, chall.chall.response(key1))
deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
while True:
    authz, _ = acme.poll(authz)
    if authz.body.status.name != "pending" or datetime.datetime.now() > deadline:
        break
    time.sleep(0.2)  # polling with a deadline, like a client
errs = [c.error for c in authz.body.challenges if c.error]
if authz.body.status.name != "invalid" or not errs or errs[0].typ != "urn:ietf:params:acme:error:dns":
    fail(f"unhosted name: status {authz.body.status.name}, errors {errs}, expected a dns problem")
print("unhosted name refused with a dns problem:", errs[0].detail)

# 2. Key rollover: inner JWS signed by the new key over {account, oldKey}, outer by the old key.
key2 = ec_key()
kc_url = acme.directory["keyChange"]
payload = json.dumps({"account": regr.uri, "oldKey": key1.public_key().to_partial_json()})
inner = jws.JWS.sign(payload.encode(), key=key2, alg=jose.ES256, nonce=None, url=kc_url)
resp = net.post(kc_url, inner)
if resp.status_code != 200:
    fail(f"key-change answered {resp.status_code}: {resp.text}")
print("key-change accepted")

# The old key no longer finds the account; the new key does and can issue.
old, _ = connect(key1)
try:
    old.new_account(messages.NewRegistration.from_data(only_return_existing=True))
    fail("the old key still finds the account after key-change")
except errors.Error as e:
    if "accountDoesNotExist" not in problem_type(e):
        fail(f"old key lookup failed with {e!r}, expected accountDoesNotExist")
new, _ = connect(key2)
try:
    new.new_account(messages.NewRegistration.from_data(only_return_existing=True))
    fail("the new key found no existing account")
except errors.ConflictError as e:  # python3-acme reports "account exists" as a conflict
    if e.location != regr.uri:
        fail(f"the new key finds {e.location}, expected {regr.uri}")
regr2 = messages.RegistrationResource(uri=regr.uri, body=regr.body)
new, _ = connect(key2, regr2)
chain = issue_http01(new, key2, ["rollover.example.test"])
with open(os.path.join(OUT, "rollover.pem"), "w") as f:
    f.write(chain)
print("issued with the rolled-over key")

# 3. Deactivation: the account reports deactivated and can do nothing more.
regr3 = new.deactivate_registration(regr2)
if regr3.body.status != "deactivated":
    fail(f"deactivation left status {regr3.body.status}")
try:
    new.new_order(crypto_util.make_csr(csr_key, ["after.example.test"]))
    fail("a deactivated account created an order")
except errors.Error as e:
    if "unauthorized" not in problem_type(e):
        fail(f"order of a deactivated account failed with {e!r}, expected unauthorized")
print("deactivated account refused (unauthorized)")
server.shutdown()
print("PASS account lifecycle")
