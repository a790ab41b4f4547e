/**
 * Microsoft Entra ID (the identity platform's v2.0 endpoints), per "Microsoft identity platform
 * and OAuth 2.0 authorization code flow", "Refresh tokens in the Microsoft identity platform"
 * and the AADSTS error code reference:
 * - the tenant is part of the path: `/{tenant}/oauth2/v2.0/authorize|token`, where tenant is
 *   `common` (work and personal accounts), `organizations` (work accounts), `consumers`
 *   (personal accounts) or a tenant id (that tenant's users);
 * - a refresh token comes only with the `offline_access` scope; access tokens live 60–90 minutes
 *   (`expires_in` and `ext_expires_in`);
 * - every refresh answers a new refresh token, and the one presented is not revoked: it keeps
 *   working until its own lifetime ends. A refresh token dies after 90 days (each new one gets
 *   its own 90 days); for a single-page-app registration (the `spa` switch) refresh tokens carry
 *   the first one's fixed 24-hour lifetime;
 * - a refresh request must name `scope`: without it, 400 `invalid_request` (AADSTS900144);
 * - errors carry `error`, `error_description` (which starts with the AADSTS code and ends with
 *   the trace id, correlation id and time), `error_codes`, `timestamp`, `trace_id`,
 *   `correlation_id` and `error_uri`;
 * - there is no RFC 7009 revocation endpoint (the simulator's `revoke` control stands in for an
 *   administrator revoking a user's sessions); Microsoft Graph answers `/v1.0/me` and
 *   `/oidc/userinfo`.
 */
import { randomUUID } from 'node:crypto';
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Code, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, DAY, HOUR, MINUTE, pkceHolds, scopeSet, stableUuid } from './kit.js';
import { booleanSwitch, rest, type SimVendor, type VendorRoute } from './vendor.js';

/** The tenant id every personal Microsoft account signs in through (documented, not a secret). */
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const CONTOSO = stableUuid('entra tenant contoso');
const FABRIKAM = stableUuid('entra tenant fabrikam');
const USERS: Record<string, { tenant: string; name: string }> = {
  'adele@contoso.example': { tenant: CONTOSO, name: 'Adele Vance' },
  'megan@fabrikam.example': { tenant: FABRIKAM, name: 'Megan Bowen' },
  'alex@outlook.example': { tenant: CONSUMERS_TENANT, name: 'Alex Wilber' },
};
const ACCOUNTS = Object.keys(USERS);
const TENANTS = ['common', 'organizations', 'consumers', CONTOSO, FABRIKAM];
const SCOPES = [
  'openid',
  'profile',
  'email',
  'offline_access',
  'User.Read',
  'Mail.Read',
  'Calendars.ReadWrite',
  'Files.Read',
];
const REFRESH_LIFETIME_MS = 90 * DAY;
const SPA_LIFETIME_MS = 24 * HOUR;

/** Whether a user may sign in through a tenant path. */
function accepts(tenant: string, account: string): boolean {
  const home = USERS[account]?.tenant;
  if (!home) return false;
  if (tenant === 'common') return true;
  if (tenant === 'organizations') return home !== CONSUMERS_TENANT;
  if (tenant === 'consumers') return home === CONSUMERS_TENANT;
  return tenant === home;
}

/** The shape of every error the token endpoint answers. */
function aadError(status: number, error: string, code: number, message: string): SimResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

export function microsoft(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const h = cred.hex(16);
  const client: ClientCredentials = {
    clientId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`,
    clientSecret: `${cred.alnum(3)}8Q~${cred.alnum(34)}`,
    params: {},
  };
  const spa = { value: false };

  /** 60 to 90 minutes, as the platform varies it. */
  function accessLifetime(): number {
    const fixed = state.accessLifetimeMs.get('microsoft');
    return fixed ?? 60 * MINUTE + Math.floor(Math.random() * 30) * MINUTE;
  }

  function respond(grant: Grant, scope: string): SimResponse {
    const lifetime = accessLifetime();
    const access = state.issueAccessToken(grant, `eyJ0eXAiOiJKV1Qi.${alnum(300)}`, lifetime);
    const granted = [...scopeSet(scope)].filter((s) => s !== 'offline_access').join(' ');
    return json(200, {
      token_type: 'Bearer',
      scope: granted,
      expires_in: Math.round(lifetime / 1000),
      ext_expires_in: Math.round(lifetime / 1000),
      access_token: access.token,
      ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    });
  }

  /** A refresh token's lifetime: 90 days, or what is left of an SPA grant's fixed 24 hours. */
  const refreshLifetime = (grant: Grant) =>
    grant.refreshAbsoluteExpiresAt != null
      ? Math.max(0, grant.refreshAbsoluteExpiresAt - state.clock.now())
      : REFRESH_LIFETIME_MS;

  function redeem(f: Record<string, string>, tenant: string): Code | SimResponse {
    const pending = f['code'] ? state.codes.get(f['code']) : undefined;
    // A code from /common may be redeemed there or at the user's own tenant.
    const realm =
      pending &&
      pending.vendor === 'microsoft' &&
      (pending.realm === tenant || USERS[pending.account]?.tenant === tenant)
        ? pending.realm
        : tenant;
    const code = state.redeemCode('microsoft', realm, f['code'], client.clientId, f['redirect_uri']);
    if (typeof code === 'string') {
      if (/already been used/.test(code))
        return aadError(
          400,
          'invalid_grant',
          54005,
          'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
        );
      return aadError(
        400,
        'invalid_grant',
        70008,
        'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
      );
    }
    if (!pkceHolds(code, f['code_verifier']))
      return aadError(
        400,
        'invalid_grant',
        501481,
        'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
      );
    return code;
  }

  function token(req: SimRequest, tenant: string): SimResponse {
    const f = bodyFields(req) ?? {};
    const c = clientCredentials(req, f, { basic: true, body: true });
    if (c?.id !== client.clientId)
      return aadError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${c?.id ?? ''}' was not found in the directory.`,
      );
    if (c.secret !== client.clientSecret)
      return aadError(
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
    if (f['grant_type'] === 'authorization_code') {
      const code = redeem(f, tenant);
      if (!('code' in code)) return code;
      const grant = state.newGrant({
        vendor: 'microsoft',
        realm: 'microsoft',
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      // Refresh tokens are bound to the user and client; a replaced one is not revoked.
      grant.refreshPolicy = { previousUsableMs: REFRESH_LIFETIME_MS };
      if (spa.value) grant.refreshAbsoluteExpiresAt = state.clock.now() + SPA_LIFETIME_MS;
      if (scopeSet(code.scope).has('offline_access'))
        state.setRefreshToken(grant, `0.A${alnum(400)}`, refreshLifetime(grant));
      return respond(grant, code.scope);
    }
    if (f['grant_type'] === 'refresh_token') {
      if (!f['scope'])
        return aadError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'scope'.",
        );
      const found = state.lookupRefreshToken('microsoft', 'microsoft', f['refresh_token']);
      if (found && 'expired' in found) {
        if (
          found.expired.refreshAbsoluteExpiresAt != null &&
          found.expired.refreshAbsoluteExpiresAt <= state.clock.now()
        )
          return aadError(
            400,
            'invalid_grant',
            700084,
            'The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page.',
          );
        return aadError(
          400,
          'invalid_grant',
          700082,
          'The refresh token has expired due to inactivity. The token was issued on an earlier date and was inactive for 90.00:00:00.',
        );
      }
      if (!found || !('grant' in found) || found.grant.clientId !== client.clientId)
        return aadError(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed.');
      const grant = found.grant;
      if (!accepts(tenant, grant.account))
        return aadError(
          400,
          'invalid_grant',
          50020,
          `User account from identity provider does not exist in tenant '${tenant}'.`,
        );
      grant.refreshes++;
      state.setRefreshToken(grant, `0.A${alnum(400)}`, refreshLifetime(grant));
      return respond(grant, f['scope']);
    }
    return aadError(
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${f['grant_type'] ?? ''}'.`,
    );
  }

  function graph(req: SimRequest, path: string): SimResponse {
    const grant = state.useAccessToken('microsoft', 'microsoft', bearer(req));
    if (!grant)
      return json(401, {
        error: {
          code: 'InvalidAuthenticationToken',
          message: 'Access token has expired or is not yet valid.',
          innerError: {
            date: new Date().toISOString(),
            'request-id': randomUUID(),
            'client-request-id': randomUUID(),
          },
        },
      });
    const user = USERS[grant.account] as { tenant: string; name: string };
    const id = stableUuid(`entra user ${grant.account}`);
    if (path === 'v1.0/me')
      return json(200, { id, displayName: user.name, userPrincipalName: grant.account, mail: grant.account });
    if (path === 'oidc/userinfo')
      return json(200, { sub: id, name: user.name, email: grant.account, tid: user.tenant });
    return json(404, {
      error: { code: 'ResourceNotFound', message: `Resource not found for the segment '${path}'.` },
    });
  }

  return {
    vendor: 'microsoft',
    switches: {
      /** The client's redirect URI is registered as a single-page app: refresh tokens live a fixed 24 hours. */
      spa: booleanSwitch(spa),
    },
    route(req, segments): VendorRoute | null {
      const [tenant] = segments;
      if (tenant === 'graph') return { endpoint: 'api', handle: () => graph(req, rest(segments, 1)) };
      if (!tenant || !TENANTS.includes(tenant)) {
        if (rest(segments, 1) === 'oauth2/v2.0/token' && req.method === 'POST')
          return {
            endpoint: 'token',
            handle: () => aadError(400, 'invalid_request', 90002, `Tenant '${tenant ?? ''}' not found.`),
          };
        return null;
      }
      const path = rest(segments, 1);
      if (path === 'oauth2/v2.0/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'microsoft',
            displayName: 'Microsoft',
            realm: tenant,
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS.filter((a) => accepts(tenant, a)),
            allowOob: false,
            checkScope: (s) =>
              scopeSet(s).size > 0 && [...scopeSet(s)].every((x) => SCOPES.includes(x))
                ? null
                : 'invalid_scope',
            pkce: true,
            codeLength: 300,
          },
          consent,
        );
      }
      if (path === 'oauth2/v2.0/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req, tenant) };
      return null;
    },
    discovery(origin) {
      return {
        params: { tenant: TENANTS },
        endpoints: {
          authorize: `${origin}/microsoft/{tenant}/oauth2/v2.0/authorize`,
          token: `${origin}/microsoft/{tenant}/oauth2/v2.0/token`,
          apiBase: `${origin}/microsoft/graph/`,
          userinfo: `${origin}/microsoft/graph/oidc/userinfo`,
        },
        identityPath: 'v1.0/me',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
