"""`baton serve` as an outside client finds it: the proxy's edges, verified credentials, the
connect pages' Origin check, problems in HTTP words, and the OpenAPI document (README,
"Server"). Standard library only (Python 3.11). Exits 1 with a message on the first failed
check; prints each check it passed.

Environment: BATON_URL, BATON_ADMIN_KEY (read/token/proxy/manage), BATON_WORKER_KEY
(read/token/proxy), EDGE_API_KEY (the key the reflector API accepts).
"""

import http.client
import json
import os
import re
import sys
import urllib.parse

BASE = os.environ["BATON_URL"]
ADMIN = os.environ["BATON_ADMIN_KEY"]
WORKER = os.environ["BATON_WORKER_KEY"]
API_KEY = os.environ["EDGE_API_KEY"]
ORIGIN = BASE.rstrip("/")
HOST = urllib.parse.urlsplit(BASE)

# Words of the library or the CLI that mean nothing to an HTTP client.
LIBRARY = re.compile(
    r"Baton\.open|baton\.[a-zA-Z]+\(|\bin code\b|`baton (connect|reconnect|list|request)"
    r"|--(param|ops|allow|no-verify)\b|providers: \{|\[redacted\]"
)
problems = []


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}", flush=True)


def request(method, path, key=None, body=None, headers=None, form=None, read=True):
    conn = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=20)
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if form is not None:
        data = form.encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=h)
    res = conn.getresponse()
    if not read:
        return res, conn
    raw = res.read()
    conn.close()
    text = raw.decode("utf-8", "replace")
    doc = None
    if "json" in (res.getheader("content-type") or ""):
        doc = json.loads(text)
    if "problem+json" in (res.getheader("content-type") or ""):
        problems.append((f"{method} {path.split('?')[0]}", doc))
    return res, doc, text


def header_names(res):
    return {k.lower() for k, _ in res.getheaders()}


# ---- 4: static credentials are verified over HTTP

res, doc, _ = request(
    "POST", "/v1/connections", ADMIN, {"id": "edge-wrong", "provider": "keyed", "credentials": {"apiKey": "not-the-key-0000"}}
)
check(res.status == 422 and doc["code"] == "credentials_rejected", "a wrong API key is refused with 422 credentials_rejected")
check('"verify": false' in doc["remediation"], "the refusal says how to store it unchecked, in HTTP words")
res, _, _ = request("GET", "/v1/connections/edge-wrong", ADMIN)
check(res.status == 404, "nothing was stored for the wrong key")
res, doc, _ = request(
    "POST",
    "/v1/connections",
    ADMIN,
    {"id": "edge-unverified", "provider": "keyed", "credentials": {"apiKey": "not-the-key-0000"}, "verify": False},
)
check(res.status == 201 and doc["status"] == "active", 'verify: false stores it unchecked')
request("DELETE", "/v1/connections/edge-unverified", ADMIN)
for cid, provider in (("edge-k", "keyed"), ("edge-c", "cookied"), ("edge-r", "keyed")):
    res, doc, text = request("POST", "/v1/connections", ADMIN, {"id": cid, "provider": provider, "credentials": {"apiKey": API_KEY}})
    check(res.status == 201, f"the right key is verified and stored as {cid}")

# ---- 1: the proxy returns no credential, drops cookies, forwards no caller key

ECHOES = ["x-api-key", "x-auth-token", "x-access-token", "x-debug-echo", "x-echo-b64", "x-echo-url", "link"]
res, doc, _ = request(
    "GET",
    "/v1/proxy/edge-k/reflect",
    WORKER,
    headers={"Cookie": "baton_connect=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; sid=1", "X-Copy": f"copy {WORKER}", "X-Keep": "1"},
)
check(res.status == 200, "a proxied call answers 200")
names = header_names(res)
for name in ECHOES:
    check(name not in names, f"the response header {name}, which echoed the credential, was dropped")
check("set-cookie" not in names, "the API's Set-Cookie was dropped")
check(res.getheader("x-plain") == "kept", "a header without the credential is relayed")
check("insufficient_scope" in (res.getheader("www-authenticate") or ""), "a Bearer challenge without the credential is relayed")
received = doc["received"]
check("cookie" not in received, "the caller's Cookie did not go upstream")
check("x-copy" not in received, "a header carrying the caller key did not go upstream")
check("x-keep" in received and "x-api-key" in received, "other headers and the injected credential went upstream")
res, doc, _ = request("GET", "/v1/proxy/edge-c/reflect", WORKER, headers={"Cookie": "sid=1"})
check("cookie" in doc["received"] and "set-cookie" in header_names(res), "a provider that opts in gets cookies both ways")

# ---- 2: bounded everywhere

res, doc, _ = request("GET", "/v1/proxy/edge-k/stall-headers", WORKER)
check(res.status == 504 and "problem+json" in res.getheader("content-type"), "an upstream that never answers: 504 problem")
res, doc, _ = request("GET", "/v1/proxy/edge-k/stall-body", WORKER)
check(res.status == 504 and doc["code"] == "upstream_timeout", "an upstream that stalls after its headers: 504 upstream_timeout")
res, conn = request("GET", "/v1/proxy/edge-k/stall-stream", WORKER, read=False)
check(res.status == 200, "a streamed body starts with the upstream's status")
try:
    res.read()
    fail("a stalled stream ended as if complete")
except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException) as err:
    check(True, f"a stalled stream is cut ({type(err).__name__})")
conn.close()

# ---- 5: a 409 carries a reconnect link

res, doc, _ = request("POST", "/v1/connections/edge-r/revoke", ADMIN)
check(res.status == 200, "a connection is revoked")
res, doc, _ = request("POST", "/v1/connections/edge-r/token", ADMIN)
check(res.status == 409, "releasing a revoked connection: 409")
check(str(doc.get("reconnect", "")).startswith(f"{ORIGIN}/connect/cst_"), "a manage key gets a connect-page link in reconnect")
link = urllib.parse.urlsplit(doc["reconnect"])
res, _, _ = request("GET", link.path)
check(res.status == 303, "the reconnect link opens a connect page")
res, doc, _ = request("GET", "/v1/proxy/edge-r/x", WORKER)
check(res.status == 409 and "reconnect" not in doc, "a key without manage gets no link")
check("POST /v1/connect-sessions" in doc["remediation"], "and is told which route makes one")

# ---- 3: connect pages refuse Origin: null

res, doc, _ = request("POST", "/v1/connect-sessions", ADMIN, {"connectionId": "edge-page", "providers": ["keyed"]})
check(res.status == 201, "a connect session is made")
first, _, _ = request("GET", urllib.parse.urlsplit(doc["url"]).path)
cookie = first.getheader("set-cookie").split(";")[0]
page_path = first.getheader("location")
res, _, html = request("GET", page_path, headers={"Cookie": cookie})
check(res.status == 200 and res.getheader("referrer-policy") == "same-origin", "the page sends Referrer-Policy same-origin")
csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
base_form = {"csrf": csrf, "provider": "keyed", "mode": "api_key", "apiKey": "not-the-key-0000"}
res, _, _ = request("POST", page_path, headers={"Cookie": cookie, "Origin": "null"}, form=urllib.parse.urlencode(base_form))
check(res.status == 403, "a form post with Origin: null is refused")
res, _, _ = request("POST", page_path, headers={"Cookie": cookie, "Origin": "https://evil.example"}, form=urllib.parse.urlencode(base_form))
check(res.status == 403, "a form post from another origin is refused")
res, _, _ = request("POST", page_path, headers={"Cookie": cookie, "Origin": ORIGIN}, form=f"csrf={csrf}&provider=keyed&mode=api_key&apiKey=&&=x&junk")
check(res.status == 400, "a sloppy form (empty key, junk fields) gets the form again with 400")
res, _, _ = request("POST", page_path, headers={"Cookie": cookie, "Origin": ORIGIN}, form=urllib.parse.urlencode(base_form))
check(res.status == 422, "a wrong key on the page is refused by the provider (422)")
res, doc, _ = request("GET", "/v1/connections/edge-page", ADMIN)
check(res.status == 404, "nothing was stored from the page")

# ---- 7: the OpenAPI document covers every route

res, doc, _ = request("GET", "/v1/openapi.json")
paths = doc["paths"]
for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/connect/{token}", "/connect/s/{id}", "/connect/s/{id}/cancel", "/connect/assets/baton.css"]:
    check(path in paths, f"the OpenAPI document lists {path}")
for path, ops in paths.items():
    if "{" not in path and "get" in ops:
        res, _, _ = request("GET", path)
        check(res.status != 404, f"GET {path}, as documented, is served")
res, _, _ = request("GET", "/not-a-route")
check(res.status == 404, "an undocumented route is not served")

# ---- 6: every problem spoke HTTP

check(len(problems) >= 8, f"{len(problems)} problem documents were collected")
for where, p in problems:
    words = f"{p.get('detail', '')} {p.get('remediation', '')}"
    if LIBRARY.search(words):
        fail(f"{where}: the problem speaks the library or the CLI: {words}")
check(True, "no problem speaks the library or the CLI")
print("all checks passed", flush=True)
