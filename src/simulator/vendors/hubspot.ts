/**
 * HubSpot, per "Manage OAuth access tokens using the v3 APIs", the legacy v1 OAuth pages, the
 * "v1 OAuth API Deprecation" and "New OAuth v3 API endpoints and standardized error responses"
 * changelogs, and the account-info API:
 * - The install (authorize) page at app.hubspot.com takes `client_id`, `redirect_uri`,
 *   space-separated `scope` (which must include `oauth`), `optional_scope` and `state`, and no
 *   `response_type`.
 * - Tokens come from `POST /oauth/v3/token` (also the date-versioned `POST /oauth/2026-03/token`)
 *   with every parameter in the form body (`grant_type`, `client_id`, `client_secret`, `code`,
 *   `redirect_uri`, `refresh_token`); a request that puts parameters in the query is refused.
 * - Access tokens last 30 minutes (`expires_in: 1800`). The refresh token does not rotate: every
 *   refresh answers the same one, and it does not expire. Answers carry `hub_id`, `user_id`,
 *   `scopes` and `token_type: "bearer"`.
 * - Errors are 400 with both the RFC 6749 fields and HubSpot's own: `{"error": "invalid_grant",
 *   "error_description", "status": "BAD_REFRESH_TOKEN", "message", "correlationId"}` (also
 *   BAD_AUTH_CODE, BAD_REDIRECT_URI, BAD_CLIENT_ID, BAD_GRANT_TYPE).
 * - Token metadata: `POST /oauth/v3/token/introspect` (and `/oauth/2026-03/token/introspect`,
 *   form body with the client credentials and `token`) answers `{"active": …}` with the hub,
 *   user, scopes and `expires_in`.
 * - Revocation: `POST /oauth/2026-03/token/revoke` (form body) and the legacy
 *   `DELETE /oauth/v1/refresh-tokens/{token}` delete the refresh token only; access tokens
 *   already issued with it keep working until they expire.
 * - The v1 endpoints (`POST /oauth/v1/token`, `GET /oauth/v1/access-tokens/{token}`,
 *   `GET|DELETE /oauth/v1/refresh-tokens/{token}`) are deprecated but still answer until the
 *   documented sunset, parameters in the query accepted; the simulator chose to keep them
 *   working, and the `v1Sunset` switch makes them answer 404 as after the sunset.
 * - The API (`GET /account-info/v3/details`) refuses a bad token with 401 and
 *   `category: "INVALID_AUTHENTICATION"`, an expired one with `EXPIRED_AUTHENTICATION`.
 */
import { randomUUID } from 'node:crypto';
import { bearer, bodyFields, isForm, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, hex, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { MINUTE, stableDigits, stableUuid } from './kit.js';
import { booleanSwitch, type SimVendor, type VendorRoute } from './vendor.js';

const HUBS = ['alpha-hub', 'beta-hub'];
const SCOPES = ['oauth', 'crm.objects.contacts.read', 'crm.objects.contacts.write', 'content'];
const ACCESS_LIFETIME_MS = 30 * MINUTE;
const REALM = 'na1';

const hubId = (hub: string) => Number(stableDigits(`hubspot ${hub}`, 8));
const userIdOf = (hub: string) => Number(stableDigits(`hubspot user ${hub}`, 8));

function hubError(status: number, error: string, code: string, message: string): SimResponse {
  return {
    ...json(status, {
      error,
      error_description: message,
      status: code,
      message,
      correlationId: randomUUID(),
    }),
    oracle: { issuedAccessToken: null, issuedRefreshToken: null, revokedToken: null },
  };
}

export function hubspot(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: stableUuid(`hubspot client ${cred.hex(16)}`),
    clientSecret: stableUuid(`hubspot secret ${cred.hex(16)}`),
    params: {},
  };
  const appId = Number(stableDigits(client.clientId, 7));
  const sunset = { value: false };
  const lifetime = () => state.accessLifetime('hubspot', ACCESS_LIFETIME_MS);

  function respond(grant: Grant, access: string, expiresAt: number): SimResponse {
    return json(200, {
      token_type: 'bearer',
      refresh_token: grant.refreshToken,
      access_token: access,
      expires_in: Math.round((expiresAt - state.clock.now()) / 1000),
      hub_id: hubId(grant.account),
      user_id: userIdOf(grant.account),
      scopes: grant.scope.split(' ').filter(Boolean),
      token_use: 'access_token',
    });
  }

  /** The token endpoint, v3 (body only) or v1 (query accepted). */
  function token(req: SimRequest, version: 'v1' | 'v3'): SimResponse {
    if (version === 'v3' && [...req.url.searchParams.keys()].length > 0)
      return hubError(
        400,
        'invalid_request',
        'BAD_REQUEST',
        'Parameters belong in the request body, not the query.',
      );
    if (!isForm(req) && req.body !== '')
      return hubError(
        400,
        'invalid_request',
        'BAD_REQUEST',
        'The body must be application/x-www-form-urlencoded.',
      );
    const f = {
      ...(version === 'v1' ? Object.fromEntries(req.url.searchParams) : {}),
      ...(bodyFields(req) ?? {}),
    };
    if (f['client_id'] !== client.clientId)
      return hubError(400, 'invalid_client', 'BAD_CLIENT_ID', 'missing or unknown client id');
    if (f['client_secret'] !== client.clientSecret)
      return hubError(400, 'invalid_client', 'BAD_CLIENT_SECRET', 'missing or invalid client secret');
    let grant: Grant | null;
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('hubspot', REALM, f['code'], client.clientId, f['redirect_uri'] ?? '');
      if (typeof code === 'string') {
        return code.includes('redirect_uri')
          ? hubError(
              400,
              'invalid_grant',
              'BAD_REDIRECT_URI',
              'redirect_uri does not match the one the code was issued with',
            )
          : hubError(400, 'invalid_grant', 'BAD_AUTH_CODE', 'auth code not found');
      }
      grant = state.newGrant({
        vendor: 'hubspot',
        realm: REALM,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      state.setRefreshToken(grant, `${REALM}-${hex(2)}-${hex(2)}-${hex(2)}-${hex(2)}-${hex(6)}`, null);
    } else if (f['grant_type'] === 'refresh_token') {
      grant = state.grantByRefreshToken('hubspot', REALM, f['refresh_token']);
      if (!grant || grant.clientId !== client.clientId)
        return hubError(
          400,
          'invalid_grant',
          'BAD_REFRESH_TOKEN',
          'refresh token is invalid, expired or revoked',
        );
      // The same refresh token, every time.
      grant.refreshes++;
    } else {
      return hubError(
        400,
        'unsupported_grant_type',
        'BAD_GRANT_TYPE',
        'grant_type must be authorization_code or refresh_token',
      );
    }
    const t = state.issueAccessToken(grant, `CO${alnum(150)}`, lifetime());
    return respond(grant, t.token, t.expiresAt);
  }

  /** What the simulator knows of a token of this app, for introspection and the v1 metadata. */
  function describe(token: string | undefined): Record<string, unknown> | null {
    if (!token) return null;
    const now = state.clock.now();
    const access = state.accessTokens.get(token);
    const grantOf = (id: string) => {
      const g = state.grants.get(id);
      return g && g.vendor === 'hubspot' && !g.revoked ? g : null;
    };
    const common = (g: Grant) => ({
      hub_id: hubId(g.account),
      user_id: userIdOf(g.account),
      client_id: client.clientId,
      app_id: appId,
      scopes: g.scope.split(' ').filter(Boolean),
      user: `${g.account}@example.com`,
      hub_domain: `${g.account}.example.com`,
      token_type: 'bearer',
    });
    if (access) {
      const g = grantOf(access.grantId);
      if (!g || access.revoked || access.expiresAt <= now) return null;
      return {
        token_use: 'access_token',
        token,
        ...common(g),
        expires_in: Math.round((access.expiresAt - now) / 1000),
        is_private_distribution: false,
      };
    }
    const g = state.grantByRefreshToken('hubspot', REALM, token);
    if (!g) return null;
    return { token_use: 'refresh_token', token, ...common(g) };
  }

  function introspect(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return hubError(400, 'invalid_client', 'BAD_CLIENT_ID', 'missing or unknown client id');
    const info = describe(f['token']);
    return json(200, info ? { active: true, ...info } : { active: false });
  }

  /** Deletes a refresh token; its access tokens live on. */
  function deleteRefreshToken(token: string | undefined): SimResponse {
    const g = state.grantByRefreshToken('hubspot', REALM, token);
    if (!g)
      return {
        ...json(404, { status: 'error', message: 'refresh token not found', correlationId: randomUUID() }),
        oracle: { revokedToken: null },
      };
    state.revokeRefreshToken(g);
    return { status: 204, headers: {}, body: '', oracle: { revokedToken: token ?? null } };
  }

  function revoke(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return hubError(400, 'invalid_client', 'BAD_CLIENT_ID', 'missing or unknown client id');
    const answer = deleteRefreshToken(f['token']);
    return answer.status === 204 ? { ...json(200, {}), oracle: answer.oracle ?? {} } : answer;
  }

  function api(req: SimRequest, path: string): SimResponse {
    const token = bearer(req);
    const grant = state.useAccessToken('hubspot', REALM, token);
    if (!grant) {
      const expired = token !== null && state.tokenInfo(token).status === 'expired';
      const t = token ? state.accessTokens.get(token) : undefined;
      const ago = t ? Math.max(1, Math.round((state.clock.now() - t.expiresAt) / MINUTE)) : 0;
      return json(401, {
        status: 'error',
        message: expired
          ? `The OAuth token used to make this call expired ${ago} minute(s) ago.`
          : 'Authentication credentials not found. This API supports OAuth 2.0 authentication.',
        correlationId: randomUUID(),
        category: expired ? 'EXPIRED_AUTHENTICATION' : 'INVALID_AUTHENTICATION',
      });
    }
    if (path === 'account-info/v3/details') {
      return json(200, {
        portalId: hubId(grant.account),
        accountType: 'STANDARD',
        timeZone: 'US/Eastern',
        companyCurrency: 'USD',
        additionalCurrencies: [],
        utcOffset: '-05:00',
        utcOffsetMilliseconds: -18000000,
        uiDomain: 'app.hubspot.com',
        dataHostingLocation: REALM,
      });
    }
    if (path === 'crm/v3/objects/contacts') {
      return json(200, {
        results: [
          {
            id: '1',
            properties: { email: `ada@${grant.account}.example.com`, firstname: 'Ada' },
            archived: false,
          },
        ],
      });
    }
    return json(404, { status: 'error', message: `No API endpoint ${path}.`, correlationId: randomUUID() });
  }

  const sunsetAnswer = (): SimResponse =>
    json(404, {
      status: 'error',
      message: 'The v1 OAuth API has been sunset; use /oauth/v3/token or /oauth/2026-03/token.',
      correlationId: randomUUID(),
    });

  return {
    vendor: 'hubspot',
    switches: { v1Sunset: booleanSwitch(sunset) },
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'app/oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'hubspot',
            displayName: 'HubSpot',
            realm: REALM,
            isClient: (id) => id === client.clientId,
            accounts: HUBS,
            allowOob: false,
            pkce: false,
            codeLength: 36,
            responseTypeOptional: true,
            checkScope: (s) => {
              const asked = s.split(' ').filter(Boolean);
              return asked.includes('oauth') && asked.every((x) => SCOPES.includes(x))
                ? null
                : 'invalid_scope';
            },
          },
          consent,
        );
      }
      if (segments[0] !== 'api') return null;
      const rest = segments.slice(1).join('/');
      const post = req.method === 'POST';
      if (post && (rest === 'oauth/v3/token' || rest === 'oauth/2026-03/token'))
        return { endpoint: 'token', handle: () => token(req, 'v3') };
      if (post && (rest === 'oauth/v3/token/introspect' || rest === 'oauth/2026-03/token/introspect'))
        return { endpoint: 'api', handle: () => introspect(req) };
      if (post && rest === 'oauth/2026-03/token/revoke')
        return { endpoint: 'revoke', handle: () => revoke(req) };
      if (post && rest === 'oauth/v1/token')
        return { endpoint: 'token', handle: () => (sunset.value ? sunsetAnswer() : token(req, 'v1')) };
      const v1 = /^oauth\/v1\/(access-tokens|refresh-tokens)\/([^/]+)$/.exec(rest);
      if (v1) {
        const kind = v1[1] as string;
        const secret = decodeURIComponent(v1[2] as string);
        const logPath = `/hubspot/api/oauth/v1/${kind}/[redacted]`;
        if (req.method === 'DELETE' && kind === 'refresh-tokens')
          return {
            endpoint: 'revoke',
            logPath,
            handle: () => (sunset.value ? sunsetAnswer() : deleteRefreshToken(secret)),
          };
        if (req.method === 'GET')
          return {
            endpoint: 'api',
            logPath,
            handle: () => {
              if (sunset.value) return sunsetAnswer();
              const info = describe(secret);
              const wanted = kind === 'access-tokens' ? 'access_token' : 'refresh_token';
              if (!info || info['token_use'] !== wanted)
                return json(404, {
                  status: 'error',
                  message: 'token not found',
                  correlationId: randomUUID(),
                });
              const { token_use: _use, is_private_distribution: _private, ...rest } = info;
              return json(200, rest);
            },
          };
      }
      return { endpoint: 'api', handle: () => api(req, rest) };
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/hubspot/app/oauth/authorize`,
          token: `${origin}/hubspot/api/oauth/v3/token`,
          revoke: `${origin}/hubspot/api/oauth/2026-03/token/revoke`,
          apiBase: `${origin}/hubspot/api/`,
        },
        identityPath: 'account-info/v3/details',
        clients: [client],
        apiKeys: [],
        accounts: HUBS,
        scopes: SCOPES,
      };
    },
  };
}
