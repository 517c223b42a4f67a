#!/usr/bin/python3
"""The hostplane REST API as the e2e scripts and client hooks need it (standard library only).

Environment: HP_URL (https://localhost:PORT), HP_CACERT (the server's TLS certificate) and, after
`setup`, HP_TOKEN and HP_ORG (an API token with services.read/services.manage in that org).

  hpapi.py setup VAR_DIR EMAIL        sign up, verify the e-mail from VAR_DIR/mail, sign in, create
                                      a token; prints `export HP_TOKEN=... HP_ORG=...`
  hpapi.py zone NAME [IP]             host zone NAME with `@` and `*` A records (default 127.0.0.1)
  hpapi.py record FQDN TYPE DATA      add a record in the hosted zone that holds FQDN
  hpapi.py txt-add FQDN VALUE         add the TXT record FQDN "VALUE"
  hpapi.py txt-del FQDN [VALUE]       delete TXT records at FQDN (only the one with VALUE if given)
  hpapi.py txt-wait FQDN VALUE ADDR   wait until the DNS server at ADDR (host:port) serves it
Exits non-zero with the API's answer on stderr when a call fails.
"""
import glob
import json
import os
import re
import socket
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request


def die(msg):
    print("hpapi: " + msg, file=sys.stderr)
    sys.exit(1)


def call(method, path, body=None, headers=None, want=(200, 201, 204)):
    ctx = ssl.create_default_context(cafile=os.environ["HP_CACERT"])
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    if os.environ.get("HP_TOKEN"):
        hdrs["Authorization"] = "Bearer " + os.environ["HP_TOKEN"]
    hdrs.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(os.environ["HP_URL"] + path, data=data, method=method, headers=hdrs)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                         urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            status, raw, rh = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, rh = e.code, e.read(), e.headers
    if status not in want:
        die(f"{method} {path} -> {status}: {raw.decode(errors='replace')}")
    return (json.loads(raw) if raw else None), rh


def setup(var_dir, email):
    password = "Correct horse 42 battery"
    r, _ = call("POST", "/api/v1/signup", {"email": email, "password": password,
                                            "organization_name": "e2e", "name": "E2E"})
    org = r["organization"]["id"]
    token = None
    deadline = time.time() + 20
    while token is None and time.time() < deadline:
        for f in sorted(glob.glob(os.path.join(var_dir, "mail", "*"))):
            text = open(f, encoding="utf-8", errors="replace").read()
            text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
            if "To: " + email in text:
                m = re.search(r"token=([A-Za-z0-9_-]+)", text)
                if m:
                    token = m.group(1)
        if token is None:
            time.sleep(0.1)  # polling the mail drop with a deadline
    if token is None:
        die("no verification e-mail for " + email + " in " + var_dir + "/mail")
    call("POST", "/api/v1/email/verify", {"token": token})
    r, h = call("POST", "/api/v1/sessions", {"email": email, "password": password})
    cookie = h.get("Set-Cookie", "").split(";")[0]
    r, _ = call("POST", f"/api/v1/organizations/{org}/tokens",
                {"name": "e2e", "scopes": ["services.read", "services.manage"]},
                headers={"Cookie": cookie, "X-CSRF-Token": r["csrf_token"]})
    print(f"export HP_TOKEN={r['token']} HP_ORG={org}")


def org_path():
    return "/api/v1/organizations/" + os.environ["HP_ORG"]


def zone_of(fqdn):
    fqdn = fqdn.rstrip(".").lower() + "."
    zones, _ = call("GET", org_path() + "/zones")
    best = None
    for z in zones["items"]:
        name = z["name"].lower()
        if (fqdn == name or fqdn.endswith("." + name)) and (best is None or len(name) > len(best["name"])):
            best = z
    if best is None:
        die("no hosted zone holds " + fqdn)
    return best


def add_record(fqdn, rtype, data):
    z = zone_of(fqdn)
    call("POST", org_path() + f"/zones/{z['id']}/records",
         {"name": fqdn.rstrip(".") + ".", "type": rtype, "ttl": 1, "data": data})


def zone(name, ip="127.0.0.1"):
    z, _ = call("POST", org_path() + "/zones", {"name": name})
    for owner in ("@", "*"):
        call("POST", org_path() + f"/zones/{z['id']}/records",
             {"name": owner, "type": "A", "data": ip})


def txt_del(fqdn, value=None):
    z = zone_of(fqdn)
    fqdn = fqdn.rstrip(".").lower() + "."
    recs, _ = call("GET", org_path() + f"/zones/{z['id']}/records")
    for r in recs["items"]:
        if r["type"] == "TXT" and r["name"].lower() == fqdn and (value is None or value in r["data"]):
            call("DELETE", org_path() + f"/zones/{z['id']}/records/{r['id']}")


def dns_txt(fqdn, addr):
    """TXT strings at fqdn from the DNS server at addr, by a plain UDP query."""
    host, port = addr.rsplit(":", 1)
    q = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0)
    for label in fqdn.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 16, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(q, (host, int(port)))
    resp = s.recv(4096)
    ancount = struct.unpack(">H", resp[6:8])[0]
    pos = len(q)
    out = []
    for _ in range(ancount):
        while resp[pos] != 0 and resp[pos] < 0xC0:
            pos += resp[pos] + 1
        pos += 2 if resp[pos] >= 0xC0 else 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", resp[pos:pos + 10])
        pos += 10
        rd = resp[pos:pos + rdlen]
        pos += rdlen
        if rtype == 16:
            i, txt = 0, b""
            while i < len(rd):
                txt += rd[i + 1:i + 1 + rd[i]]
                i += 1 + rd[i]
            out.append(txt.decode())
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(*args)
    elif cmd == "zone":
        zone(*args)
    elif cmd == "record":
        add_record(*args)
    elif cmd == "txt-add":
        add_record(args[0], "TXT", '"' + args[1] + '"')
    elif cmd == "txt-del":
        txt_del(*args)
    elif cmd == "txt-wait":
        deadline = time.time() + 10
        while args[1] not in dns_txt(args[0], args[2]):
            if time.time() > deadline:
                die(f"{args[0]} TXT {args[1]} not served by {args[2]} after 10 s")
            time.sleep(0.05)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
