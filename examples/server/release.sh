#!/bin/sh
# Releases a token and proxies one call through `baton serve` (README, "Server").
# Usage: BATON_URL=http://127.0.0.1:8080 BATON_KEY=bk_… ./release.sh <connection-id> <api-path>
set -eu
id="$1"
path="$2"
# 1. The credentials to send now (refreshed first when due).
curl -sS --fail-with-body -X POST -H "Authorization: Bearer $BATON_KEY" "$BATON_URL/v1/connections/$id/token"
echo
# 2. Or let the server send the request with them: the credentials never reach this script.
curl -sS --fail-with-body -H "Authorization: Bearer $BATON_KEY" "$BATON_URL/v1/proxy/$id/$path"
echo
