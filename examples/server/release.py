#!/usr/bin/env python3
"""Releases a token and proxies one call through `baton serve` (README, "Server").

Usage: BATON_URL=http://127.0.0.1:8080 BATON_KEY=bk_... python3 release.py <connection-id> <api-path>
Standard library only.
"""
import json
import os
import sys
import urllib.error
import urllib.request

base = os.environ["BATON_URL"].rstrip("/")
key = os.environ["BATON_KEY"]
connection, path = sys.argv[1], sys.argv[2]


def call(method, url):
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req) as res:
            return json.load(res)
    except urllib.error.HTTPError as err:
        problem = json.load(err)  # application/problem+json: code, detail, remediation
        sys.exit(f"{problem['status']} {problem['code']}: {problem['detail']}\n{problem['remediation']}")


token = call("POST", f"{base}/v1/connections/{connection}/token")
print(json.dumps({"tokenType": token["tokenType"], "expiresAt": token["expiresAt"], "hasToken": bool(token["accessToken"] or token["headers"])}))
print(json.dumps(call("GET", f"{base}/v1/proxy/{connection}/{path}")))
