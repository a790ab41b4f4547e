/**
 * Salesforce, per "OAuth 2.0 Web Server Flow", "OAuth 2.0 Refresh Token Flow for Renewed
 * Sessions", "Revoke OAuth Tokens" and the REST API developer guide:
 * - production orgs sign in at `login.salesforce.com`, sandboxes at `test.salesforce.com`
 *   (`environment`: production | sandbox), each with its own connected-app keys;
 * - the token answer has no `expires_in`: it carries `access_token`, `refresh_token` (when the
 *   `refresh_token` or `offline_access` scope was granted), `signature`, `scope`,
 *   `instance_url` (the org's own host), `id` (the identity URL), `token_type` and
 *   `issued_at` (epoch milliseconds); `signature` is the Base64 HMAC-SHA256 of `id` and
 *   `issued_at`, keyed with the client secret;
 * - an access token is a session: it ends after the org's session timeout without use (two
 *   hours unless set otherwise: `sessionTimeoutMinutes`), and the REST API, under
 *   `{instance_url}/services/data/vNN.N/`, then answers 401 with
 *   `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`;
 * - a refresh answers a new access token and, by default, no refresh token: the refresh token
 *   stays the same until revoked. A connected app can turn on refresh token rotation (the
 *   `rotation` switch): each refresh then answers a new refresh token and the previous one
 *   stops working;
 * - token errors are `{error, error_description}` with status 400 (`invalid_grant`
 *   "expired access/refresh token", `invalid_client_id`, `invalid_client`);
 * - `/services/oauth2/revoke` revokes a refresh token with its access tokens, or one access
 *   token; `/services/oauth2/userinfo` and the identity URL describe the user.
 */
import { createHmac } from 'node:crypto';
import { bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, headerOf, MINUTE, scopeSet, stableDigits } from './kit.js';
import { booleanSwitch, numberSwitch, rest, type SimVendor, type VendorRoute } from './vendor.js';

const ENVIRONMENTS = ['production', 'sandbox'];
const ACCOUNTS = ['admin', 'sales'];
const SCOPES = ['api', 'refresh_token', 'offline_access', 'id', 'openid', 'profile', 'email', 'web', 'full'];
const ALL_SCOPES = 'api refresh_token id web';
const API_VERSION = '62.0';
const INVALID_SESSION = [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }];

/** Each environment's org: its instance path segment and id. */
const orgOf = (environment: string) => {
  const name = environment === 'sandbox' ? 'acme--dev' : 'acme';
  return { name, id: `00D${stableDigits(`sf org ${name}`, 12)}AAA` };
};
const userIdOf = (environment: string, account: string) =>
  `005${stableDigits(`sf user ${environment} ${account}`, 12)}AAA`;

export function salesforce(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const clients = new Map<string, ClientCredentials>();
  for (const environment of ENVIRONMENTS)
    clients.set(environment, {
      clientId: `3MVG9${cred.alnum(80)}`,
      clientSecret: cred.hex(32).toUpperCase(),
      params: { environment },
    });
  const rotation = { value: false };
  const sessionTimeoutMinutes = { value: 120 };
  const sessionMs = () => state.accessLifetime('salesforce', sessionTimeoutMinutes.value * MINUTE);

  /** The org's own host, on the origin the request came to. */
  const instanceUrl = (origin: string, environment: string) =>
    `${origin}/salesforce/instances/${orgOf(environment).name}`;
  const identityUrl = (origin: string, environment: string, account: string) =>
    `${origin}/salesforce/${environment}/id/${orgOf(environment).id}/${userIdOf(environment, account)}`;

  function respond(
    req: SimRequest,
    grant: Grant,
    client: ClientCredentials,
    withRefresh: boolean,
  ): SimResponse {
    const org = orgOf(grant.realm);
    const access = state.issueAccessToken(grant, `${org.id}!${alnum(96)}`, sessionMs());
    const id = identityUrl(req.url.origin, grant.realm, grant.account);
    const issuedAt = String(state.clock.now());
    return json(200, {
      access_token: access.token,
      ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      signature: createHmac('sha256', client.clientSecret)
        .update(id + issuedAt)
        .digest('base64'),
      scope: grant.scope,
      instance_url: instanceUrl(req.url.origin, grant.realm),
      id,
      token_type: 'Bearer',
      issued_at: issuedAt,
    });
  }

  const err = (error: string, description: string) => json(400, { error, error_description: description });

  function token(req: SimRequest, environment: string): SimResponse {
    const client = clients.get(environment) as ClientCredentials;
    const f = bodyFields(req) ?? {};
    const c = clientCredentials(req, f, { basic: true, body: true });
    if (c?.id !== client.clientId) return err('invalid_client_id', 'client identifier invalid');
    if (c.secret !== client.clientSecret) return err('invalid_client', 'invalid client credentials');
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('salesforce', environment, f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return err('invalid_grant', 'authentication failure');
      const scope = code.scope || ALL_SCOPES;
      const grant = state.newGrant({
        vendor: 'salesforce',
        realm: environment,
        clientId: client.clientId,
        account: code.account,
        scope,
      });
      const scopes = scopeSet(scope);
      if (scopes.has('refresh_token') || scopes.has('offline_access') || scopes.has('full'))
        state.setRefreshToken(grant, `5Aep${alnum(80)}`, null);
      return respond(req, grant, client, true);
    }
    if (f['grant_type'] === 'refresh_token') {
      const grant = state.grantByRefreshToken('salesforce', environment, f['refresh_token']);
      if (!grant || grant.clientId !== client.clientId)
        return err('invalid_grant', 'expired access/refresh token');
      grant.refreshes++;
      if (rotation.value) state.setRefreshToken(grant, `5Aep${alnum(80)}`, null);
      return respond(req, grant, client, rotation.value);
    }
    return err('unsupported_grant_type', 'grant type not supported');
  }

  function revoke(req: SimRequest, environment: string): SimResponse {
    const t = (req.method === 'GET' ? req.url.searchParams.get('token') : bodyFields(req)?.['token']) ?? '';
    const grant = state.grantByRefreshToken('salesforce', environment, t);
    if (grant) {
      state.revokeGrant(grant);
      return { status: 200, headers: {}, body: '' };
    }
    const access = state.accessTokens.get(t);
    const owner = access ? state.grants.get(access.grantId) : undefined;
    if (access && owner?.vendor === 'salesforce' && owner.realm === environment) {
      access.revoked = true;
      return { status: 200, headers: {}, body: '' };
    }
    return err('unsupported_token_type', 'this token type is not supported');
  }

  /** The session behind an `Authorization: Bearer|OAuth` header; each use extends it by the timeout. */
  function session(req: SimRequest, environment: string): Grant | null {
    const m = /^(?:bearer|oauth)\s+(\S+)\s*$/i.exec(headerOf(req, 'authorization') ?? '');
    const grant = state.useAccessToken('salesforce', environment, m?.[1] ?? null);
    const access = m?.[1] ? state.accessTokens.get(m[1]) : undefined;
    if (grant && access) access.expiresAt = Math.max(access.expiresAt, state.clock.now() + sessionMs());
    return grant;
  }

  function whoami(req: SimRequest, grant: Grant) {
    const org = orgOf(grant.realm);
    return {
      sub: identityUrl(req.url.origin, grant.realm, grant.account),
      user_id: userIdOf(grant.realm, grant.account),
      organization_id: org.id,
      preferred_username: `${grant.account}@${org.name}.example`,
      name: grant.account,
      email: `${grant.account}@${org.name}.example`,
      email_verified: true,
      zoneinfo: 'Etc/UTC',
      urls: { rest: `${instanceUrl(req.url.origin, grant.realm)}/services/data/v${API_VERSION}/` },
    };
  }

  function identity(req: SimRequest, environment: string): SimResponse {
    const grant = session(req, environment);
    if (!grant) return { status: 403, headers: { 'content-type': 'text/plain' }, body: 'Bad_OAuth_Token' };
    return json(200, whoami(req, grant));
  }

  function dataApi(req: SimRequest, environment: string, path: string): SimResponse {
    if (path === 'services/data' || path === 'services/data/')
      return json(200, [{ label: 'Winter', url: `/services/data/v${API_VERSION}`, version: API_VERSION }]);
    const grant = session(req, environment);
    if (!grant) return json(401, INVALID_SESSION, { 'www-authenticate': 'Token' });
    if (path === 'services/oauth2/userinfo') return json(200, whoami(req, grant));
    const m = /^services\/data\/v(\d+\.\d)\/?(.*)$/.exec(path);
    if (!m) return json(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    const base = `/services/data/v${m[1]}`;
    switch (m[2]) {
      case '':
        return json(200, { sobjects: `${base}/sobjects`, query: `${base}/query`, limits: `${base}/limits` });
      case 'sobjects':
        return json(200, {
          encoding: 'UTF-8',
          maxBatchSize: 200,
          sobjects: [{ name: 'Account', queryable: true }],
        });
      case 'limits':
        return json(200, { DailyApiRequests: { Max: 15000, Remaining: 14999 } });
      case 'query':
        return json(200, {
          totalSize: 1,
          done: true,
          records: [{ attributes: { type: 'Account' }, Name: 'Acme' }],
        });
      default:
        return json(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    }
  }

  return {
    vendor: 'salesforce',
    switches: {
      /** Refresh token rotation, as a connected app's OAuth policy turns it on. */
      rotation: booleanSwitch(rotation),
      /** The org's session timeout: an access token unused this long ends. */
      sessionTimeoutMinutes: numberSwitch(sessionTimeoutMinutes, 1),
    },
    route(req, segments): VendorRoute | null {
      const [first, second] = segments;
      if (first === 'instances') {
        const environment = ENVIRONMENTS.find((e) => orgOf(e).name === second);
        if (!environment) return null;
        return { endpoint: 'api', handle: () => dataApi(req, environment, rest(segments, 2)) };
      }
      if (!first || !ENVIRONMENTS.includes(first)) return null;
      const environment = first;
      const path = rest(segments, 1);
      if (path === 'services/oauth2/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'salesforce',
            displayName: environment === 'sandbox' ? 'Salesforce (sandbox)' : 'Salesforce',
            realm: environment,
            isClient: (id) => id === clients.get(environment)?.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) => ([...scopeSet(s)].every((x) => SCOPES.includes(x)) ? null : 'invalid_scope'),
            pkce: true,
            codeLength: 60,
          },
          consent,
        );
      }
      if (path === 'services/oauth2/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req, environment) };
      if (path === 'services/oauth2/revoke')
        return { endpoint: 'revoke', handle: () => revoke(req, environment) };
      if (path === 'services/oauth2/userinfo' || path.startsWith('id/'))
        return { endpoint: 'api', handle: () => identity(req, environment) };
      return null;
    },
    discovery(o) {
      return {
        params: { environment: ENVIRONMENTS },
        endpoints: {
          authorize: `${o}/salesforce/{environment}/services/oauth2/authorize`,
          token: `${o}/salesforce/{environment}/services/oauth2/token`,
          revoke: `${o}/salesforce/{environment}/services/oauth2/revoke`,
          apiBase: '{instance_url}/',
          userinfo: `${o}/salesforce/{environment}/services/oauth2/userinfo`,
        },
        identityPath: 'services/oauth2/userinfo',
        clients: [...clients.values()],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
