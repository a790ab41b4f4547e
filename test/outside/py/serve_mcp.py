"""`baton serve`'s MCP route as an outside client finds it (README, "Agents and MCP", "From the
server"): an MCP session over streamable HTTP by hand — initialize, the initialized
notification, tools listed and called, the GET event stream, DELETE — holding only a caller
key; then sloppy input: no key, odd bytes in the id, wrong content types, a body too large.
Standard library only (Python 3.11). Exits 1 with a message on the first failed check; prints
each check it passed.

Environment: BATON_URL, BATON_AGENT_KEY (proxy, allowed the connection), MCP_ID (the MCP
connection's id).
"""

import http.client
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ["BATON_URL"].rstrip("/")
KEY = os.environ["BATON_AGENT_KEY"]
MCP_ID = os.environ["MCP_ID"]
HOST = urllib.parse.urlsplit(BASE)
ACCEPT = "application/json, text/event-stream"
VERSION = "2025-06-18"


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}", flush=True)


def call(method, path, body=None, headers=None, key=KEY):
    """One request with urllib; an HTTP error is an answer like any other."""
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=20) as res:
            return res.status, dict(res.headers), res.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode("utf-8", "replace")


def problem(status, headers, text, code, message):
    """A problem document of the status and code, with a sentence saying what to do."""
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if "problem+json" not in ctype:
        fail(f"{message}: not a problem document ({status}, {ctype}): {text[:200]}")
    doc = json.loads(text)
    check(
        status == doc["status"] == STATUS_OF[code] and doc["code"] == code and len(doc["remediation"]) > 20,
        f"{message}: {status} {code} — {doc['remediation']}",
    )
    return doc


STATUS_OF = {
    "unauthorized": 401,
    "invalid_request": 400,
    "invalid_url": 400,
    "connection_not_found": 404,
    "unsupported_media_type": 415,
    "body_too_large": 413,
    "insufficient_scope": 403,
    "method_not_allowed": 405,
}


def events(text):
    """The JSON messages of an event stream's `data:` lines."""
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


path = f"/v1/mcp/{urllib.parse.quote(MCP_ID, safe='')}"

# ---- an MCP session by hand

init = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "python", "version": "1"}},
}
status, headers, text = call("POST", path, init, {"Accept": ACCEPT})
h = lower(headers)
check(status == 200 and h["content-type"].startswith("text/event-stream"), "initialize answers 200 as an event stream")
session = h.get("mcp-session-id")
check(bool(session), "the MCP server's session id comes back through the vault")
check("www-authenticate" not in h, "no WWW-Authenticate of the MCP server reaches the caller")
answered = events(text)
check(answered and answered[0]["result"]["serverInfo"]["name"] == "baton-interop", "the server introduces itself")

same = {"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION}
status, _, _ = call("POST", path, {"jsonrpc": "2.0", "method": "notifications/initialized"}, same)
check(status == 202, "the initialized notification is accepted (202)")

status, _, text = call("POST", path, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, same)
names = sorted(t["name"] for t in events(text)[0]["result"]["tools"])
check(status == 200 and "echo" in names, f"tools/list through the vault: {', '.join(names)}")

status, _, text = call(
    "POST",
    path,
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "from python"}}},
    same,
)
check(events(text)[0]["result"]["content"][0]["text"] == "from python", "tools/call echo answers through the vault")

# The GET stream: headers at once, the body open until the caller leaves.
conn = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=20)
conn.request("GET", path, headers={"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION})
res = conn.getresponse()
check(
    res.status == 200 and res.getheader("content-type").startswith("text/event-stream"),
    "GET opens the session's event stream (its headers arrive before any event)",
)
conn.close()

status, headers, text = call(
    "POST",
    path,
    {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "write", "arguments": {"text": "x"}}},
    same,
)
doc = problem(status, headers, text, "insufficient_scope", "a tool that needs more scope")
check(doc["scopes"] == ["tools:read", "tools:write"], "the problem lists the scopes to authorize with")

status, _, _ = call("DELETE", path, None, {"Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION})
check(status == 200, "DELETE ends the session")
status, _, _ = call("POST", path, {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, same)
check(status == 404, "the ended session is unknown to the MCP server (its 404 relayed)")

# ---- sloppy input

status, headers, text = call("POST", path, init, {"Accept": ACCEPT}, key=None)
problem(status, headers, text, "unauthorized", "no caller key")
check('realm="baton"' in lower(headers).get("www-authenticate", ""), "the 401's challenge is the vault's own")
status, headers, text = call("POST", path, init, {"Accept": ACCEPT, "Authorization": "Basic Zm9vOmJhcg=="}, key=None)
problem(status, headers, text, "unauthorized", "Basic credentials instead of a caller key")

status, headers, text = call("POST", "/v1/mcp/tools%00x", init, {"Accept": ACCEPT})
problem(status, headers, text, "invalid_request", "a NUL in the id")
status, headers, text = call("POST", "/v1/mcp/%ff%fe", init, {"Accept": ACCEPT})
problem(status, headers, text, "invalid_url", "bytes that are not UTF-8 in the id")
status, headers, text = call("POST", "/v1/mcp/caf%C3%A9-%F0%9F%94%91", init, {"Accept": ACCEPT})
problem(status, headers, text, "connection_not_found", "an id in other scripts that names nothing")
status, headers, text = call("POST", "/v1/mcp/" + "x" * 300, init, {"Accept": ACCEPT})
problem(status, headers, text, "invalid_request", "an id of 300 characters")

# Raw bytes on the wire, which no HTTP library would send.
with socket.create_connection((HOST.hostname, HOST.port), timeout=20) as s:
    s.sendall(b"POST /v1/mcp/\xff\xfe\x01 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    raw = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        raw += chunk
first = raw.split(b"\r\n", 1)[0].decode("latin-1")
check(first.startswith("HTTP/1.1 4"), f"raw bytes in the id are refused: {first}")

status, headers, text = call("POST", path, b"hello", {"Accept": ACCEPT, "Content-Type": "text/plain"})
problem(status, headers, text, "unsupported_media_type", "a message that is text/plain")
status, headers, text = call("POST", path, b"{}", {"Accept": ACCEPT, "Content-Type": "application/x-www-form-urlencoded"})
problem(status, headers, text, "unsupported_media_type", "a message that is a form")
status, headers, text = call("POST", path, b'{"jsonrpc": "2.0", "id": 9, "method": "tools/list"', {"Accept": ACCEPT, "Mcp-Session-Id": "no-such-session"})
check(
    status in (400, 404) and "problem+json" not in lower(headers).get("content-type", ""),
    f"broken JSON is the MCP server's to refuse: its own {status} is relayed",
)

huge = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
status, headers, text = call("POST", path, huge, {"Accept": ACCEPT})
doc = problem(status, headers, text, "body_too_large", "a 5 MiB message")
check("4 MiB" in doc["detail"], "the problem says the bound (4 MiB)")

status, headers, text = call("PUT", path, init, {"Accept": ACCEPT})
problem(status, headers, text, "method_not_allowed", "PUT")
check(set(lower(headers)["allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}, "the 405 names GET, POST and DELETE")

status, _, text = call("GET", "/healthz", key=None)
check(status == 200, "the server still answers after all of that")
print("all checks passed", flush=True)
