/**
 * Zoom, per "OAuth 2.0 for Zoom" (authorization code, refreshing, revoking), "Server-to-Server
 * OAuth" and the users API:
 * - The authorize page (`/oauth/authorize`) takes `response_type=code`, `client_id`,
 *   `redirect_uri`, `state` and optional PKCE (`S256` or `plain`).
 * - The token endpoint (`POST /oauth/token`) takes the client id and secret by HTTP Basic only;
 *   its other parameters come as a form body or in the query.
 * - User apps: `grant_type=authorization_code` (`code`, `redirect_uri`, `code_verifier`) answers
 *   an access token for an hour (`expires_in: 3599`), a refresh token, `scope` and `api_url`.
 *   `grant_type=refresh_token` answers a new access token AND a new refresh token; the refresh
 *   token presented is dead from then on (rotation on every use). Refresh tokens die after 90
 *   days unused.
 * - Server-to-Server OAuth apps: `grant_type=account_credentials` with `account_id` (the
 *   `accountId` param) answers an access token for an hour and no refresh token; tokens can be
 *   had again at any time, and several live at once.
 * - Token endpoint errors: 401 `{"reason": "Invalid client_id or client_secret", "error":
 *   "invalid_client"}`, 400 `{"reason": "Invalid Token!", "error": "invalid_grant"}` for a dead
 *   refresh token, 400 with `invalid_grant` / `invalid_request` / `unsupported_grant_type` for
 *   the rest.
 * - `POST /oauth/revoke` (HTTP Basic, `token`) revokes the authorization the token belongs to and
 *   answers `{"status": "success"}`.
 * - The API (`GET /v2/users/me`) refuses a bad token with 401 `{"code": 124, "message":
 *   "Invalid access token."}` and an expired one with `"Access token is expired."`.
 */
import { basicAuth, bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { DAY, pkceHolds, stableDigits } from './kit.js';
import type { SimVendor, VendorRoute } from './vendor.js';

const USERS = ['host', 'member'];
const SCOPES = ['user:read', 'meeting:read', 'meeting:write'];
const EXPIRES_IN = 3599;
const REFRESH_LIFETIME_MS = 90 * DAY;
const REALM = 'zoom.us';

const tokenError = (status: number, reason: string, error: string): SimResponse => ({
  ...json(status, { reason, error }),
  oracle: { issuedAccessToken: null, issuedRefreshToken: null, revokedToken: null },
});
/** Zoom's tokens look like JWTs; here they are opaque strings of that shape. */
const jwtLike = () => `eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIiwidiI6IjIuMCJ9.${alnum(160)}.${alnum(86)}`;

export function zoom(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const accountId = cred.alnum(22);
  const app: ClientCredentials = { clientId: cred.alnum(22), clientSecret: cred.alnum(32), params: {} };
  const s2s: ClientCredentials = {
    clientId: cred.alnum(22),
    clientSecret: cred.alnum(32),
    params: { accountId },
  };
  const lifetime = () => state.accessLifetime('zoom', EXPIRES_IN * 1000);

  function issue(req: SimRequest, grant: Grant, withRefresh: boolean): SimResponse {
    const t = state.issueAccessToken(grant, jwtLike(), lifetime());
    if (withRefresh) state.setRefreshToken(grant, jwtLike(), REFRESH_LIFETIME_MS);
    return json(200, {
      access_token: t.token,
      token_type: 'bearer',
      ...(withRefresh ? { refresh_token: grant.refreshToken } : {}),
      expires_in: Math.round((t.expiresAt - state.clock.now()) / 1000),
      scope: grant.scope,
      api_url: `${req.url.origin}/zoom/api`,
    });
  }

  function token(req: SimRequest): SimResponse {
    const f = { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
    const basic = basicAuth(req);
    const client = [app, s2s].find((c) => c.clientId === basic?.user && c.clientSecret === basic?.pass);
    if (!client) return tokenError(401, 'Invalid client_id or client_secret', 'invalid_client');
    const grantType = f['grant_type'];
    if (client === s2s) {
      if (grantType !== 'account_credentials')
        return tokenError(400, 'Unsupported grant type', 'unsupported_grant_type');
      if (f['account_id'] !== accountId) return tokenError(400, 'Invalid account_id', 'invalid_request');
      const grant = state.newGrant({
        vendor: 'zoom',
        realm: REALM,
        clientId: s2s.clientId,
        account: `account-${accountId}`,
        scope: SCOPES.map((s) => `${s}:admin`).join(' '),
      });
      return issue(req, grant, false);
    }
    if (grantType === 'authorization_code') {
      if (!f['redirect_uri']) return tokenError(400, 'Redirect URI mismatch.', 'invalid_request');
      const code = state.redeemCode('zoom', REALM, f['code'], app.clientId, f['redirect_uri']);
      if (typeof code === 'string') {
        return code.includes('redirect_uri')
          ? tokenError(400, 'Redirect URI mismatch.', 'invalid_request')
          : tokenError(400, 'Invalid authorization code', 'invalid_grant');
      }
      if (!pkceHolds(code, f['code_verifier']))
        return tokenError(400, 'Invalid code_verifier', 'invalid_request');
      const grant = state.newGrant({
        vendor: 'zoom',
        realm: REALM,
        clientId: app.clientId,
        account: code.account,
        scope: code.scope || SCOPES.join(' '),
      });
      return issue(req, grant, true);
    }
    if (grantType === 'refresh_token') {
      const grant = state.grantByRefreshToken('zoom', REALM, f['refresh_token']);
      if (!grant || grant.clientId !== app.clientId)
        return tokenError(400, 'Invalid Token!', 'invalid_grant');
      grant.refreshes++;
      return issue(req, grant, true);
    }
    return tokenError(400, 'Unsupported grant type', 'unsupported_grant_type');
  }

  function revoke(req: SimRequest): SimResponse {
    const basic = basicAuth(req);
    if (![app, s2s].some((c) => c.clientId === basic?.user && c.clientSecret === basic?.pass))
      return tokenError(401, 'Invalid client_id or client_secret', 'invalid_client');
    const f = { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
    const t = f['token'];
    const access = t ? state.accessTokens.get(t) : undefined;
    const grant =
      state.grantByRefreshToken('zoom', REALM, t) ?? (access ? state.grants.get(access.grantId) : undefined);
    if (grant?.vendor !== 'zoom' || grant.revoked)
      return tokenError(400, 'Invalid Token!', 'invalid_request');
    state.revokeGrant(grant);
    return { ...json(200, { status: 'success' }), oracle: { revokedToken: t ?? null } };
  }

  function me(req: SimRequest): SimResponse {
    const t = bearer(req);
    const grant = state.useAccessToken('zoom', REALM, t);
    if (!grant) {
      const expired = t !== null && state.tokenInfo(t).status === 'expired';
      return json(401, {
        code: 124,
        message: expired ? 'Access token is expired.' : 'Invalid access token.',
      });
    }
    const id = `u${stableDigits(`zoom ${grant.account}`, 10)}`;
    return json(200, {
      id,
      first_name: grant.account,
      last_name: 'Simulated',
      display_name: `${grant.account} Simulated`,
      email: `${grant.account}@example.com`,
      type: 1,
      account_id: accountId,
      status: 'active',
    });
  }

  return {
    vendor: 'zoom',
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'zoom',
            displayName: 'Zoom',
            realm: REALM,
            isClient: (id) => id === app.clientId,
            accounts: USERS,
            allowOob: false,
            pkce: true,
            codeLength: 32,
          },
          consent,
        );
      }
      if (path === 'oauth/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (path === 'oauth/revoke' && req.method === 'POST')
        return { endpoint: 'revoke', handle: () => revoke(req) };
      if (path === 'api/v2/users/me' && req.method === 'GET')
        return { endpoint: 'api', handle: () => me(req) };
      if (segments[0] === 'api')
        return { endpoint: 'api', handle: () => json(404, { code: 404, message: 'Not found.' }) };
      return null;
    },
    discovery(origin) {
      return {
        params: { accountId: [accountId] },
        endpoints: {
          authorize: `${origin}/zoom/oauth/authorize`,
          token: `${origin}/zoom/oauth/token`,
          revoke: `${origin}/zoom/oauth/revoke`,
          apiBase: `${origin}/zoom/api/`,
        },
        identityPath: 'v2/users/me',
        clients: [app, s2s],
        apiKeys: [],
        accounts: USERS,
        scopes: SCOPES,
      };
    },
  };
}
