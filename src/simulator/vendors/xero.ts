/**
 * Xero, per its OAuth 2.0 documents (the auth code flow, the OAuth 2.0 FAQ, "Tenants"):
 * - access tokens live 30 minutes (expires_in 1800);
 * - a refresh token comes only with the `offline_access` scope, and each refresh replaces it;
 * - a refresh token unused for 60 days dies (each new one gets its own 60 days);
 * - the refresh token just replaced may be presented again for 30 minutes (a retry after a lost
 *   answer): inside that window it is answered with a new pair; after it, `invalid_grant`;
 * - the token and revocation endpoints take the client by HTTP Basic (or in the body);
 * - `GET /connections` lists the tenants the token reaches (`id`, `authEventId`, `tenantId`,
 *   `tenantType`, `tenantName`, `createdDateUtc`, `updatedDateUtc`); `DELETE /connections/{id}`
 *   disconnects one;
 * - the accounting API (`/api.xro/2.0/…`) needs an `Xero-Tenant-Id` header naming a connected
 *   tenant: without one, or with another, it answers 403; a dead token answers 401;
 * - revoking a refresh token at `/connect/revocation` ends the grant and all its connections;
 * - `/connect/userinfo` describes the user when the `openid` scope was granted.
 */
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, DAY, headerOf, MINUTE, pkceHolds, scopeSet, stableUuid } from './kit.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['alice', 'bob'];
const SCOPES = [
  'openid',
  'profile',
  'email',
  'offline_access',
  'accounting.transactions',
  'accounting.transactions.read',
  'accounting.settings',
  'accounting.settings.read',
  'accounting.contacts',
  'accounting.contacts.read',
];
const TENANTS: Record<string, { name: string; type: 'ORGANISATION' | 'PRACTICE' }[]> = {
  alice: [
    { name: 'Demo Company (Global)', type: 'ORGANISATION' },
    { name: 'Alice Advisory Practice', type: 'PRACTICE' },
  ],
  bob: [{ name: "Bob's Bikes", type: 'ORGANISATION' }],
};
const ACCESS_LIFETIME_MS = 30 * MINUTE;
const REFRESH_LIFETIME_MS = 60 * DAY;
const GRACE_MS = 30 * MINUTE;

const tenantsOf = (account: string) =>
  (TENANTS[account] ?? []).map((t) => ({ ...t, tenantId: stableUuid(`xero tenant ${account} ${t.name}`) }));

/** Xero's API problem document. */
function problem(status: number, title: string, detail: string): SimResponse {
  return json(status, {
    Type: null,
    Title: title,
    Status: status,
    Detail: detail,
    Instance: stableUuid(detail),
  });
}

export function xero(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: cred.hex(16).toUpperCase(),
    clientSecret: cred.alnum(48),
    params: {},
  };
  /** Tenants a grant's user disconnected (DELETE /connections/{id}). */
  const disconnected = new Map<string, Set<string>>();
  const lifetime = () => state.accessLifetime('xero', ACCESS_LIFETIME_MS);
  const err = (error: string, status = 400) => json(status, { error });

  function respond(grant: Grant): SimResponse {
    const access = state.issueAccessToken(grant, alnum(40), lifetime());
    return json(200, {
      access_token: access.token,
      expires_in: Math.round(lifetime() / 1000),
      token_type: 'Bearer',
      ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      scope: grant.scope,
    });
  }

  function authenticated(req: SimRequest, f: Record<string, string>): boolean {
    const c = clientCredentials(req, f, { basic: true, body: true });
    return c?.id === client.clientId && c.secret === client.clientSecret;
  }

  function token(req: SimRequest): SimResponse {
    const f = bodyFields(req);
    if (!f) return err('invalid_request');
    if (!authenticated(req, f)) return err('invalid_client');
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('xero', 'xero', f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string' || !pkceHolds(code, f['code_verifier'])) return err('invalid_grant');
      const grant = state.newGrant({
        vendor: 'xero',
        realm: 'xero',
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      grant.refreshPolicy = { previousUsableMs: GRACE_MS };
      if (scopeSet(code.scope).has('offline_access'))
        state.setRefreshToken(grant, alnum(40), REFRESH_LIFETIME_MS);
      return respond(grant);
    }
    if (f['grant_type'] === 'refresh_token') {
      const found = state.lookupRefreshToken('xero', 'xero', f['refresh_token']);
      if (!found || !('grant' in found) || found.grant.clientId !== client.clientId)
        return err('invalid_grant');
      const grant = found.grant;
      grant.refreshes++;
      state.setRefreshToken(grant, alnum(40), REFRESH_LIFETIME_MS);
      return respond(grant);
    }
    return err('unsupported_grant_type');
  }

  function revoke(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    if (!authenticated(req, f)) return err('invalid_client');
    const grant = state.grantByRefreshToken('xero', 'xero', f['token']);
    if (grant) state.revokeGrant(grant);
    return { status: 200, headers: {}, body: '' };
  }

  function connectionsOf(grant: Grant) {
    const gone = disconnected.get(grant.id);
    return tenantsOf(grant.account)
      .filter((t) => !gone?.has(t.tenantId))
      .map((t) => ({
        id: stableUuid(`xero connection ${grant.id} ${t.tenantId}`),
        authEventId: stableUuid(`xero auth event ${grant.id}`),
        tenantId: t.tenantId,
        tenantType: t.type,
        tenantName: t.name,
        createdDateUtc: new Date(state.clock.now()).toISOString(),
        updatedDateUtc: new Date(state.clock.now()).toISOString(),
      }));
  }

  function api(req: SimRequest, path: string): SimResponse {
    const grant = state.useAccessToken('xero', 'xero', bearer(req));
    if (!grant) return problem(401, 'Unauthorized', 'TokenExpired: the access token is not valid');
    const connections = connectionsOf(grant);
    if (path === 'connections') {
      if (req.method === 'GET') return json(200, connections);
      return problem(405, 'Method Not Allowed', 'GET or DELETE /connections/{id}');
    }
    if (path.startsWith('connections/') && req.method === 'DELETE') {
      const c = connections.find((x) => x.id === path.slice('connections/'.length));
      if (!c) return problem(404, 'Not Found', 'No such connection');
      const gone = disconnected.get(grant.id) ?? new Set<string>();
      gone.add(c.tenantId);
      disconnected.set(grant.id, gone);
      return { status: 204, headers: {}, body: '' };
    }
    if (!path.startsWith('api.xro/2.0/')) return problem(404, 'Not Found', `No resource ${path}`);
    const tenantId = headerOf(req, 'xero-tenant-id');
    const tenant = connections.find((c) => c.tenantId === tenantId);
    if (!tenant) return problem(403, 'Forbidden', 'AuthenticationUnsuccessful');
    const resource = path.slice('api.xro/2.0/'.length);
    if (resource === 'Organisation') {
      return json(200, {
        Status: 'OK',
        Organisations: [
          {
            OrganisationID: tenant.tenantId,
            Name: tenant.tenantName,
            OrganisationType: tenant.tenantType === 'PRACTICE' ? 'PRACTICE' : 'COMPANY',
            BaseCurrency: 'USD',
          },
        ],
      });
    }
    if (resource === 'Contacts')
      return json(200, {
        Status: 'OK',
        Contacts: [{ ContactID: stableUuid(`${tenant.tenantId} c1`), Name: 'ACME' }],
      });
    return problem(404, 'Not Found', `No resource ${resource}`);
  }

  function userinfo(req: SimRequest): SimResponse {
    const grant = state.useAccessToken('xero', 'xero', bearer(req));
    if (!grant || !scopeSet(grant.scope).has('openid')) return json(401, { error: 'invalid_token' });
    return json(200, {
      sub: stableUuid(`xero user ${grant.account}`),
      xero_userid: stableUuid(`xero user id ${grant.account}`),
      preferred_username: `${grant.account}@example.com`,
      email: `${grant.account}@example.com`,
      given_name: grant.account,
      family_name: 'Example',
    });
  }

  return {
    vendor: 'xero',
    route(req, segments): VendorRoute | null {
      const path = rest(segments, 0);
      if (path === 'login/identity/connect/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'xero',
            displayName: 'Xero',
            realm: 'xero',
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) => ([...scopeSet(s)].every((x) => SCOPES.includes(x)) ? null : 'invalid_scope'),
            pkce: true,
            codeLength: 43,
          },
          consent,
        );
      }
      if (path === 'identity/connect/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (path === 'identity/connect/revocation' && req.method === 'POST')
        return { endpoint: 'revoke', handle: () => revoke(req) };
      if (path === 'identity/connect/userinfo') return { endpoint: 'api', handle: () => userinfo(req) };
      if (path === 'connections' || path.startsWith('connections/') || path.startsWith('api.xro/'))
        return { endpoint: 'api', handle: () => api(req, path) };
      return null;
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/xero/login/identity/connect/authorize`,
          token: `${origin}/xero/identity/connect/token`,
          revoke: `${origin}/xero/identity/connect/revocation`,
          apiBase: `${origin}/xero/`,
          connections: `${origin}/xero/connections`,
          userinfo: `${origin}/xero/identity/connect/userinfo`,
        },
        identityPath: 'connections',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
