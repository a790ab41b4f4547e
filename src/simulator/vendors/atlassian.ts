/**
 * Atlassian Cloud, per "OAuth 2.0 (3LO) apps", "Making calls to the API" and the rotating
 * refresh token notes:
 * - the authorize request must name `audience=api.atlassian.com` and `prompt=consent`;
 * - a refresh token comes only with the `offline_access` scope;
 * - the token endpoint takes JSON (or a form) with the client id and secret in the body;
 *   access tokens live one hour;
 * - every refresh rotates the refresh token; the replaced token and its companion access token
 *   keep working for a 10-minute leeway (a retry after a lost answer gets a new pair); reusing a
 *   replaced refresh token after the leeway revokes every refresh token of the grant, and the
 *   user must consent again;
 * - a refresh token unused for 90 days dies (each new one gets its own 90 days), and no refresh
 *   token of a grant works 365 days after the consent, however often it was refreshed;
 * - refresh failures answer 403 `invalid_grant` ("Unknown or invalid refresh token.");
 * - `GET /oauth/token/accessible-resources` lists the sites the token reaches as
 *   `[{ id, url, name, scopes, avatarUrl }]`: `id` is the cloud id; product APIs go through
 *   `/ex/jira/{cloudid}/…`, and a call outside the granted scopes answers 401
 *   "Unauthorized; scope does not match".
 * There is no token revocation endpoint: a user removes the app from their account (the
 * simulator's `revoke` control).
 */
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { DAY, HOUR, MINUTE, scopeSet, stableUuid } from './kit.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['alice', 'bob'];
const SCOPES = [
  'read:jira-work',
  'write:jira-work',
  'read:jira-user',
  'manage:jira-project',
  'read:confluence-content.all',
  'read:me',
  'offline_access',
];
const SITES: Record<string, string[]> = { alice: ['acme', 'acme-labs'], bob: ['globex'] };
const ACCESS_LIFETIME_MS = HOUR;
const INACTIVITY_MS = 90 * DAY;
const ABSOLUTE_MS = 365 * DAY;
const LEEWAY_MS = 10 * MINUTE;

const sitesOf = (account: string) =>
  (SITES[account] ?? []).map((name) => ({
    id: stableUuid(`atlassian site ${name}`),
    url: `https://${name}.atlassian.net`,
    name,
  }));

export function atlassian(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = { clientId: cred.alnum(32), clientSecret: cred.alnum(64), params: {} };
  const lifetime = () => state.accessLifetime('atlassian', ACCESS_LIFETIME_MS);
  const refreshError = () =>
    json(403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });

  function respond(grant: Grant): SimResponse {
    const access = state.issueAccessToken(grant, `eyJ${alnum(200)}`, lifetime());
    return json(200, {
      access_token: access.token,
      expires_in: Math.round(lifetime() / 1000),
      token_type: 'Bearer',
      ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      scope: grant.scope,
    });
  }

  function token(req: SimRequest): SimResponse {
    const f = bodyFields(req);
    if (!f) return json(400, { error: 'invalid_request', error_description: 'The body is not JSON.' });
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return json(401, { error: 'access_denied', error_description: 'Unauthorized' });
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('atlassian', 'atlassian', f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return json(403, { error: 'invalid_grant', error_description: code });
      const grant = state.newGrant({
        vendor: 'atlassian',
        realm: 'atlassian',
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      grant.refreshPolicy = { previousUsableMs: LEEWAY_MS, reuseRevokesGrant: true };
      grant.refreshAbsoluteExpiresAt = state.clock.now() + ABSOLUTE_MS;
      if (scopeSet(code.scope).has('offline_access')) state.setRefreshToken(grant, alnum(64), INACTIVITY_MS);
      return respond(grant);
    }
    if (f['grant_type'] === 'refresh_token') {
      const found = state.lookupRefreshToken('atlassian', 'atlassian', f['refresh_token']);
      if (!found || !('grant' in found) || found.grant.clientId !== client.clientId) return refreshError();
      const grant = found.grant;
      grant.refreshes++;
      // The access tokens issued with the replaced refresh token end with its leeway.
      const leewayEnds = state.clock.now() + LEEWAY_MS;
      for (const t of state.accessTokens.values())
        if (t.grantId === grant.id && t.expiresAt > leewayEnds) t.expiresAt = leewayEnds;
      state.setRefreshToken(grant, alnum(64), INACTIVITY_MS);
      return respond(grant);
    }
    return json(400, { error: 'unsupported_grant_type' });
  }

  function api(req: SimRequest, path: string): SimResponse {
    const grant = state.useAccessToken('atlassian', 'atlassian', bearer(req));
    if (!grant) return json(401, { code: 401, message: 'Unauthorized' });
    const scopes = scopeSet(grant.scope);
    scopes.delete('offline_access');
    const sites = sitesOf(grant.account);
    if (path === 'oauth/token/accessible-resources') {
      return json(
        200,
        sites.map((s) => ({
          ...s,
          scopes: [...scopes].filter((x) => x.includes('jira')),
          avatarUrl: 'https://site-admin-avatar-cdn.example/avatars/240/rocket.png',
        })),
      );
    }
    if (path === 'me') {
      if (!scopes.has('read:me'))
        return json(401, { code: 401, message: 'Unauthorized; scope does not match' });
      return json(200, {
        account_id: stableUuid(`atlassian user ${grant.account}`),
        email: `${grant.account}@example.com`,
        name: grant.account,
        picture: 'https://avatar.example/default.png',
        account_status: 'active',
      });
    }
    const m = /^ex\/jira\/([^/]+)\/rest\/api\/3\/(.+)$/.exec(path);
    if (m) {
      const site = sites.find((s) => s.id === m[1]);
      if (!site) return json(404, { code: 404, message: 'Not Found' });
      if (m[2] === 'myself') {
        if (!scopes.has('read:jira-user'))
          return json(401, { code: 401, message: 'Unauthorized; scope does not match' });
        return json(200, {
          accountId: stableUuid(`atlassian user ${grant.account}`),
          emailAddress: `${grant.account}@example.com`,
          displayName: grant.account,
          active: true,
        });
      }
      if (m[2] === 'project/search') {
        if (!scopes.has('read:jira-work'))
          return json(401, { code: 401, message: 'Unauthorized; scope does not match' });
        return json(200, {
          total: 1,
          values: [{ id: '10000', key: 'OPS', name: `${site.name} operations` }],
        });
      }
    }
    return json(404, { code: 404, message: 'Not Found' });
  }

  return {
    vendor: 'atlassian',
    route(req, segments): VendorRoute | null {
      const path = rest(segments, 0);
      if (path === 'auth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'atlassian',
            displayName: 'Atlassian',
            realm: 'atlassian',
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) =>
              scopeSet(s).size > 0 && [...scopeSet(s)].every((x) => SCOPES.includes(x))
                ? null
                : 'invalid_scope',
            checkRequest: (q) =>
              q.get('audience') !== 'api.atlassian.com'
                ? { error: 'invalid_request', description: 'audience must be api.atlassian.com.' }
                : q.get('prompt') !== 'consent'
                  ? { error: 'invalid_request', description: 'prompt must be consent.' }
                  : null,
            pkce: false,
            codeLength: 40,
          },
          consent,
        );
      }
      if (path === 'auth/oauth/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (segments[0] === 'api') return { endpoint: 'api', handle: () => api(req, rest(segments, 1)) };
      return null;
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/atlassian/auth/authorize`,
          token: `${origin}/atlassian/auth/oauth/token`,
          apiBase: `${origin}/atlassian/api/`,
          accessibleResources: `${origin}/atlassian/api/oauth/token/accessible-resources`,
        },
        identityPath: 'oauth/token/accessible-resources',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
