#!/usr/bin/python3
"""Partner API helpers for the partner EAB e2e test (standard library only).

Environment: HP_URL, HP_CACERT (see hpapi.py); after `partner`, PARTNER_KEY and PARTNER_SECRET.

  hppartner.py partner VAR STAFF_EMAIL STAFF_PASSWORD NAME CHANNEL OWNER_EMAIL
        staff sign in, create a partner, its first API key and its owner (an existing user);
        prints `export PARTNER_ID=... PARTNER_KEY=... PARTNER_SECRET=...`
  hppartner.py call METHOD PATH [JSON]   a signed /partner/v1 call; prints the JSON answer
  hppartner.py customer-join VAR EMAIL ORG PRODUCT
        sign up EMAIL, accept the newest invitation mailed to it (owner of ORG), subscribe ORG
        to PRODUCT; prints `export CUSTOMER_COOKIE=... CUSTOMER_CSRF=...`
  hppartner.py customer-get PATH   GET as that customer (CUSTOMER_COOKIE); prints the JSON
  hppartner.py staff-product EMAIL PASSWORD CODE PRICE PARTNER BILLING_ORG
        a product with a list price (yen), the partner's billing terms (wholesale invoiced to
        BILLING_ORG) and its sell price of the product
  hppartner.py healthz-at-least UNIX_SECONDS   exits 0 once the server clock reached it
Exits non-zero with the API's answer on stderr when a call fails.
"""
import calendar
import glob
import hashlib
import hmac
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hpapi  # noqa: E402


def signed(method, path, body=None, want=(200, 201, 202, 204)):
    raw = json.dumps(body) if body is not None else ""
    p, _, q = path.partition("?")
    sorted_q = "&".join(sorted(q.split("&"))) if q else ""
    ts = str(int(time.time()) + int(float(os.environ.get("HP_CLOCK_OFFSET", "0"))))
    canon = "\n".join(["HMAC-SHA256", method, p, sorted_q, ts, hashlib.sha256(raw.encode()).hexdigest()])
    sig = hmac.new(os.environ["PARTNER_SECRET"].encode(), canon.encode(), hashlib.sha256).hexdigest()
    saved = os.environ.pop("HP_TOKEN", None)
    try:
        r, _ = hpapi.call(method, path, body, headers={"X-Partner-Key-Id": os.environ["PARTNER_KEY"],
                                                       "X-Partner-Timestamp": ts, "X-Partner-Signature": sig},
                          want=want)
    finally:
        if saved is not None:
            os.environ["HP_TOKEN"] = saved
    return r


def session(email, password):
    os.environ.pop("HP_TOKEN", None)
    r, h = hpapi.call("POST", "/api/v1/sessions", {"email": email, "password": password})
    return {"Cookie": h.get("Set-Cookie", "").split(";")[0], "X-CSRF-Token": r["csrf_token"]}


def mail_token(var_dir, email, pattern):
    deadline = time.time() + 20
    while time.time() < deadline:
        found = None
        for f in sorted(glob.glob(os.path.join(var_dir, "mail", "*")), key=os.path.getmtime):
            text = open(f, encoding="utf-8", errors="replace").read()
            text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
            if "To: " + email in text and pattern in text:
                m = re.search(r"token=([A-Za-z0-9_-]+)", text)
                if m:
                    found = m.group(1)
        if found:
            return found
        time.sleep(0.1)  # polling the mail drop with a deadline
    hpapi.die(f"no mail '{pattern}' for {email} in {var_dir}/mail")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "partner":
        var_dir, email, password, name, channel, owner = args
        h = session(email, password)
        p, _ = hpapi.call("POST", "/api/v1/admin/partners", {"name": name, "channel": channel}, headers=h)
        k, _ = hpapi.call("POST", f"/api/v1/admin/partners/{p['id']}/keys", {"name": "e2e"}, headers=h)
        hpapi.call("POST", f"/api/v1/admin/partners/{p['id']}/members", {"email": owner, "role": "owner"},
                   headers=h)
        print(f"export PARTNER_ID={p['id']} PARTNER_KEY={k['id']} PARTNER_SECRET={k['secret']}")
    elif cmd == "call":
        body = json.loads(args[2]) if len(args) > 2 else None
        print(json.dumps(signed(args[0], args[1], body)))
    elif cmd == "customer-join":
        var_dir, email, org, product = args
        password = "Customer horse 42 battery"
        os.environ.pop("HP_TOKEN", None)
        hpapi.call("POST", "/api/v1/signup", {"email": email, "password": password,
                                              "organization_name": "own", "name": "Customer"})
        hpapi.call("POST", "/api/v1/email/verify", {"token": mail_token(var_dir, email, "Confirm your e-mail")})
        h = session(email, password)
        hpapi.call("POST", "/api/v1/invitations/accept", {"token": mail_token(var_dir, email, "invited")}, headers=h)
        hpapi.call("POST", f"/api/v1/organizations/{org}/subscriptions", {"product": product}, headers=h)
        print(f"export CUSTOMER_COOKIE='{h['Cookie']}' CUSTOMER_CSRF='{h['X-CSRF-Token']}'")
    elif cmd == "customer-get":
        os.environ.pop("HP_TOKEN", None)
        r, _ = hpapi.call("GET", args[0], headers={"Cookie": os.environ["CUSTOMER_COOKIE"]})
        print(json.dumps(r))
    elif cmd == "staff-product":
        email, password, code, price, partner, billing_org = args
        h = session(email, password)
        hpapi.call("POST", "/api/v1/admin/billing/products",
                   {"code": code, "kind": "shared_plan", "name": "Partner EAB plan"}, headers=h)
        hpapi.call("POST", f"/api/v1/admin/billing/products/{code}/prices", {"price": int(price)}, headers=h)
        hpapi.call("PUT", f"/api/v1/admin/billing/partners/{partner}",
                   {"billing_organization_id": billing_org, "invoice_prefix": "KUMO",
                    "issuer": {"name": "Kumo K.K.", "registration_number": "T1234567890123",
                               "address": "Tokyo"}}, headers=h)
        hpapi.call("POST", f"/api/v1/admin/billing/partners/{partner}/prices",
                   {"kind": "sell", "product": code, "price": int(price) * 2}, headers=h)
    elif cmd == "healthz-at-least":
        r, _ = hpapi.call("GET", "/healthz")
        t = calendar.timegm(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S"))
        sys.exit(0 if t >= int(args[0]) else 1)
    else:
        hpapi.die("unknown command " + cmd)


if __name__ == "__main__":
    main()
