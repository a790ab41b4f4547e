#!/usr/bin/env python3
"""`baton serve` as an outside client finds it: the store's edges (README, "Server": "Health
routes", "Input rules", "Out-of-scope ids", "Audit", "Metrics and logs", "Webhooks").

Standard library only (http.client, urllib, json, http.server). Environment:
  BATON_URL          the server
  BATON_ADMIN_KEY    a key allowed '*' with read, token, proxy, manage
  BATON_SCOPED_KEY   a key allowed 'acme-*' with read, token, manage
  BATON_PLANTED      an API key the script stores; it must never come back
Prints what it checked, and on the last line a JSON object with the request ids whose audit
rows must exist ("audited"). Exits 1 naming the first failed check.
"""
import http.client
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

BASE = urllib.parse.urlsplit(os.environ["BATON_URL"])
ADMIN = os.environ["BATON_ADMIN_KEY"]
SCOPED = os.environ["BATON_SCOPED_KEY"]
PLANTED = os.environ["BATON_PLANTED"]

checked = 0
audited = []
seq = [0]


def fail(message):
    sys.stderr.write(f"FAILED: {message}\n")
    sys.exit(1)


def check(condition, message):
    global checked
    if not condition:
        fail(message)
    checked += 1


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"{self.status} {self.text[:300]}"


def request(method, path, key=None, body=None, raw_body=None, content_type=None, audit=False, length=None):
    """Sends the path exactly as written (no quoting), so %00, %c0%ae and the like reach the server."""
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if raw_body is not None:
        data = raw_body if isinstance(raw_body, bytes) else raw_body.encode("utf-8")
    if content_type is not None:
        headers["Content-Type"] = content_type
    if length is not None:
        headers["Content-Length"] = str(length)
    seq[0] += 1
    rid = f"py-{seq[0]}"
    headers["X-Request-Id"] = rid
    if audit:
        audited.append(rid)
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30)
    try:
        try:
            conn.request(method, path, body=data, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # A server may answer (413) and close before a large body is all sent; read its answer.
            pass
        res = conn.getresponse()
        answer = Answer(res.status, res.getheaders(), res.read())
    finally:
        conn.close()
    # Only a successful release hands the credential out (that is its job).
    released = method == "POST" and path.endswith("/token") and answer.status == 200
    if PLANTED in answer.text and not released:
        fail(f"{method} {path[:60]} answered with the planted API key")
    return answer


def problem(answer, status, code, what):
    check(answer.status == status, f"{what}: expected {status}, got {answer!r}")
    check(
        answer.headers.get("content-type", "").startswith("application/problem+json"),
        f"{what}: not application/problem+json ({answer.headers.get('content-type')})",
    )
    j = answer.json or {}
    check(j.get("code") == code, f"{what}: expected code {code}, got {j.get('code')!r}")
    for field in ("type", "title", "status", "detail", "remediation"):
        check(field in j, f"{what}: the problem has no {field}")
    check("FST_" not in answer.text and "fst_err" not in answer.text, f"{what}: a framework code leaked: {answer!r}")
    check("\u0000" not in answer.text, f"{what}: a NUL came back in the problem")


def section(title):
    print(f"-- {title}")


# ---------------------------------------------------------------- setup
section("setup: two connections through the API")
made = request("POST", "/v1/connections", ADMIN, {"id": "acme-echo", "provider": "echo", "credentials": {"apiKey": PLANTED}}, audit=True)
check(made.status == 201, f"create acme-echo: {made!r}")
made = request("POST", "/v1/connections", ADMIN, {"id": "other-echo", "provider": "echo", "credentials": {"apiKey": PLANTED}}, audit=True)
check(made.status == 201, f"create other-echo: {made!r}")
released = request("POST", "/v1/connections/acme-echo/token", SCOPED, audit=True)
check(released.status == 200, f"release acme-echo: {released!r}")

# ---------------------------------------------------------------- health
section("health: /healthz and /readyz read the store and answer 200")
check(request("GET", "/healthz").status == 200, "healthz")
ready = request("GET", "/readyz")
check(ready.status == 200 and ready.json == {"status": "ready"}, f"readyz on a healthy store: {ready!r}")

# ---------------------------------------------------------------- input rules
section("input the store cannot hold: a typed 400 on every route, any key")
BAD_IDS = ["cal-b%00", "acme-%00", "acme-%01x", "acme-%1Bx", "acme-%7F", "acme-%C2%85", "acme-" + "x" * 300]
for key in (ADMIN, SCOPED):
    for bad in BAD_IDS:
        for method, path in (
            ("POST", f"/v1/connections/{bad}/token"),
            ("GET", f"/v1/connections/{bad}"),
            ("POST", f"/v1/connections/{bad}/refresh"),
            ("POST", f"/v1/connections/{bad}/revoke"),
            ("DELETE", f"/v1/connections/{bad}"),
            ("POST", f"/v1/connections/{bad}/authorize"),
        ):
            body = {"provider": "echo"} if path.endswith("/authorize") else None
            problem(request(method, path, key, body, audit=method != "GET"), 400, "invalid_request", f"{method} {path[:50]}")
for query in ("prefix=acme%00", "prefix=%01", "cursor=%00", "provider=ec%00ho", "limit=lots", "limit=0", "status=nope", "prefix=" + "x" * 300):
    problem(request("GET", f"/v1/connections?{query}", ADMIN), 400, "invalid_request", f"GET /v1/connections?{query[:30]}")
problem(request("GET", "/v1/proxy/acme-%00echo/ping", ADMIN, audit=True), 400, "invalid_request", "proxy with a NUL id")
problem(request("GET", "/v1/connect-sessions/cs_%00", ADMIN), 400, "invalid_request", "connect session id with NUL")
problem(request("GET", "/v1/webhooks/deliveries?connection=a%00b", ADMIN), 400, "invalid_request", "deliveries ?connection= with NUL")
problem(request("GET", "/v1/callback?state=%00", None, audit=True), 400, "invalid_request", "callback state with NUL")

BAD_BODIES = [
    ("/v1/connections", {"id": "acme-\u0000x", "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": "acme-\u0007x", "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": "a" * 201, "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": "", "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": 42, "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": ["acme-x"], "provider": "echo", "credentials": {"apiKey": "k-1"}}),
    ("/v1/connections", {"id": "acme-x", "provider": "echo", "credentials": {"apiKey": "k-1"}, "replace": "yes"}),
    ("/v1/connections", {"id": "acme-x", "provider": "echo", "params": {"a\u0000": "x"}, "credentials": {"apiKey": "k"}}),
    ("/v1/connections", {"id": "acme-x", "provider": "echo", "params": {"a": "x\u0000"}, "credentials": {"apiKey": "k"}}),
    ("/v1/connections", {"id": "acme-x", "provider": "echo", "scopes": ["a\nb"], "credentials": {"apiKey": "k"}}),
    ("/v1/connections", {"id": "acme-x", "provider": "echo", "credentials": {"apiKey": 12345}}),
    ("/v1/connect-sessions", {"connectionId": "acme-new", "providers": ["cronofy"], "label": "Al\u0000ice"}),
    ("/v1/connect-sessions", {"connectionId": "acme-new", "providers": ["cronofy"], "label": "\u001b[31mred"}),
    ("/v1/connect-sessions", {"connectionId": "acme-new", "providers": ["cronofy"], "label": "x" * 201}),
    ("/v1/connect-sessions", {"connectionId": "acme-new", "providers": ["cronofy"], "ttlSeconds": "soon"}),
    ("/v1/connect-sessions", {"connectionId": "acme-\u0000", "providers": ["cronofy"]}),
    ("/v1/connect-sessions", {"connectionId": "acme-new", "providers": "cronofy"}),
    ("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "description": "d\u0000scription"}),
    ("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "description": "x" * 201}),
    ("/v1/webhooks", {"url": "http://127.0.0.1:9/h\u0000ook"}),
    ("/v1/webhooks", {"url": 7}),
]
for path, body in BAD_BODIES:
    # Sent as JSON text the way json.dumps writes it: NUL as the escape \u0000.
    problem(request("POST", path, ADMIN, body, audit=True), 400, "invalid_request", f"POST {path} {json.dumps(body)[:60]}")
# A lone surrogate, as JSON text can carry it.
lone = '{"id":"acme-\\udc00","provider":"echo","credentials":{"apiKey":"k-1"}}'
problem(request("POST", "/v1/connections", ADMIN, raw_body=lone, content_type="application/json", audit=True), 400, "invalid_request", "a lone surrogate in an id")

section("nothing was stored by any of that")
listed = request("GET", "/v1/connections", ADMIN)
ids = [c["id"] for c in listed.json["items"]]
check(ids == ["acme-echo", "other-echo"], f"the connections are the two created, not {ids}")
hooks = request("GET", "/v1/webhooks", ADMIN)
check(hooks.json["items"] == [], f"no webhook endpoint was stored: {hooks!r}")

# ---------------------------------------------------------------- out of scope
section("no existence oracle: an out-of-scope id gets the same answer whether or not it exists")


def same(a, b, id_a, id_b, what):
    check(a.status == 403, f"{what}: expected 403 for {id_a}, got {a!r}")
    check(b.status == a.status, f"{what}: {id_a} answered {a.status}, {id_b} {b.status}")
    da = (a.json or {}).get("detail", "").replace(id_a, "ID")
    db = (b.json or {}).get("detail", "").replace(id_b, "ID")
    check((a.json or {}).get("code") == (b.json or {}).get("code") and da == db, f"{what}: the answers differ: {a!r} / {b!r}")


for body_a, body_b in (
    ({"connectionId": "other-echo"}, {"connectionId": "other-nope"}),
    ({"connectionId": "other-echo", "providers": ["echo"]}, {"connectionId": "other-nope", "providers": ["echo"]}),
):
    same(
        request("POST", "/v1/connect-sessions", SCOPED, body_a, audit=True),
        request("POST", "/v1/connect-sessions", SCOPED, body_b, audit=True),
        "other-echo",
        "other-nope",
        f"POST /v1/connect-sessions {body_a}",
    )
for method, suffix in (("GET", ""), ("POST", "/token"), ("POST", "/refresh"), ("POST", "/revoke"), ("DELETE", "")):
    same(
        request(method, f"/v1/connections/other-echo{suffix}", SCOPED, audit=method != "GET"),
        request(method, f"/v1/connections/other-nope{suffix}", SCOPED, audit=method != "GET"),
        "other-echo",
        "other-nope",
        f"{method} /v1/connections/{{id}}{suffix}",
    )

# ---------------------------------------------------------------- problem documents
section("every refusal is RFC 9457 problem+json with a Baton code")
for path in ("/v1/connections/%c0%ae", "/v1/connections/%ff", "/v1/connections/%zz", "/v1/proxy/%c0%ae/x"):
    problem(request("GET", path, ADMIN), 400, "invalid_url", f"GET {path}")
problem(request("POST", "/v1/connections", ADMIN, raw_body='{"id":', content_type="application/json", audit=True), 400, "invalid_json", "truncated JSON")
problem(request("POST", "/v1/connections", ADMIN, raw_body="", content_type="application/json", audit=True), 400, "invalid_json", "empty JSON body")
problem(request("POST", "/v1/connections", ADMIN, raw_body=b"\xff\xfe{}", content_type="application/json", audit=True), 400, "invalid_json", "JSON that is not UTF-8")
problem(request("POST", "/v1/connections", ADMIN, raw_body="id=x", content_type="application/x-www-form-urlencoded", audit=True), 415, "unsupported_media_type", "a form body")
big = '{"id":"' + "x" * 1_100_000 + '"}'
problem(request("POST", "/v1/connections", ADMIN, raw_body=big, content_type="application/json", audit=True), 413, "body_too_large", "a body over 1 MiB")
problem(request("POST", "/v1/connections", ADMIN, raw_body="{}", content_type="application/json", length=2_000_000, audit=True), 413, "body_too_large", "a Content-Length over 1 MiB")
problem(request("GET", "/v1/nothing-here"), 404, "not_found", "an unknown route")
wrong = request("PUT", "/v1/connections/acme-echo", ADMIN)
problem(wrong, 405, "method_not_allowed", "PUT on a connection")
check("GET" in wrong.headers.get("allow", ""), f"405 without Allow: {wrong.headers}")

section("401 carries WWW-Authenticate: Bearer (RFC 9110 §11.6.1, RFC 6750 §3)")
none = request("GET", "/v1/connections")
problem(none, 401, "unauthorized", "no key")
check(none.headers.get("www-authenticate", "").startswith("Bearer"), f"401 without a Bearer challenge: {none.headers}")
wrong_key = request("POST", "/v1/connections/acme-echo/token", "bk_not-a-key", audit=True)
problem(wrong_key, 401, "unauthorized", "an unknown key")
check('error="invalid_token"' in wrong_key.headers.get("www-authenticate", ""), f"unknown key without invalid_token: {wrong_key.headers}")

# ---------------------------------------------------------------- audit keeps going
section("the audit log keeps going after a NUL id, from any key")
problem(request("POST", "/v1/connections/cal-b%00/token", SCOPED, audit=True), 400, "invalid_request", "the NUL release")
for _ in range(3):
    check(request("POST", "/v1/connections/acme-echo/token", SCOPED, audit=True).status == 200, "a release after the NUL one")

# ---------------------------------------------------------------- webhooks
section("a redelivered webhook carries the first delivery's bytes")
received = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the standard library's name)
        received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


hook_server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook_server.serve_forever, daemon=True).start()
endpoint = request("POST", "/v1/webhooks", ADMIN, {"url": f"http://127.0.0.1:{hook_server.server_port}/hooks", "events": ["connection.revoked"]}, audit=True)
check(endpoint.status == 201, f"webhook endpoint: {endpoint!r}")
check(request("POST", "/v1/connections", ADMIN, {"id": "acme-rev", "provider": "echo", "credentials": {"apiKey": PLANTED}}, audit=True).status == 201, "create acme-rev")
check(request("POST", "/v1/connections/acme-rev/revoke", ADMIN, audit=True).status == 200, "revoke acme-rev")


def wait_for(n, what):
    end = time.time() + 20
    while len(received) < n:
        if time.time() > end:
            fail(f"{what}: {len(received)} deliveries arrived, not {n}")
        time.sleep(0.05)


wait_for(1, "the first delivery")
first = json.loads(received[0])
check(first["type"] == "connection.revoked", f"the event: {first}")
reconnect = first["data"].get("reconnect")
check(reconnect and "/connect/cst_" in reconnect["url"], f"the revoked event carries a reconnect link: {first['data']}")
check(reconnect["expiresAt"] > time.time() * 1000 + 23 * 3600 * 1000, "the link is valid for the retry window")
again = request("POST", f"/v1/webhooks/deliveries/{first['id']}/redeliver", ADMIN, audit=True)
check(again.status == 200, f"redeliver: {again!r}")
wait_for(2, "the redelivery")
check(received[1] == received[0], "the redelivery's body differs from the first delivery's")
check(PLANTED.encode() not in received[0], "the webhook body carries the planted key")
hook_server.shutdown()

# ---------------------------------------------------------------- metrics
section("metrics: baton_… once, and the dropped-audit-row counter")
metrics = request("GET", "/metrics").text
check("baton_process_process_" not in metrics and "baton_process_nodejs_" not in metrics, "a doubled prefix in /metrics")
check("baton_process_cpu_user_seconds_total" in metrics, "baton_process_cpu_user_seconds_total is missing")
check('baton_audit_rows_dropped_total{reason="refused"} 0' in metrics, "no audit row may have been dropped")
for line in metrics.splitlines():
    if line and not line.startswith("#"):
        check(line.startswith("baton_"), f"a metric not named baton_…: {line[:80]}")

print(f"checked {checked} assertions over {seq[0]} requests; {len(audited)} must be in the audit log")
print(json.dumps({"audited": audited}))
