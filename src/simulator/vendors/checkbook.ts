import { bearer, bodyFields, isForm, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ApiKey, ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const ENVIRONMENTS = ['production', 'sandbox'];
const SCOPES = ['check', 'check_receive', 'single-use'];
const ACCOUNTS = ['merchant', 'payee'];
const LIFETIME = 15552000;

/**
 * Checkbook, per "Bearer Token": production and sandbox with separate developer keys, one
 * scope per authorization, a form-encoded token endpoint with client_id / client_secret in the
 * body, 15552000 s bearer tokens with a refresh grant, the API by bearer or by `key:secret`, and
 * single-use tokens that work once.
 */
export function checkbook(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const clients = new Map<string, ClientCredentials>();
  const keys = new Map<string, ApiKey>();
  for (const environment of ENVIRONMENTS) {
    clients.set(environment, {
      clientId: cred.hex(16),
      clientSecret: cred.alnum(30),
      params: { environment },
    });
    keys.set(environment, { apiKey: cred.hex(16), apiSecret: cred.hex(16), params: { environment } });
  }

  function token(req: SimRequest, env: string): SimResponse {
    if (!isForm(req))
      return json(400, {
        error: 'invalid_request',
        error_description: 'The body must be application/x-www-form-urlencoded.',
      });
    const client = clients.get(env) as ClientCredentials;
    const f = bodyFields(req) ?? {};
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret) {
      return json(401, { error: 'invalid_client', error_description: 'Client authentication failed.' });
    }
    let grant: Grant | null;
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('checkbook', env, f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return json(400, { error: 'invalid_grant', error_description: code });
      grant = state.newGrant({
        vendor: 'checkbook',
        realm: env,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
    } else if (f['grant_type'] === 'refresh_token') {
      grant = state.grantByRefreshToken('checkbook', env, f['refresh_token']);
      if (!grant || grant.clientId !== client.clientId)
        return json(400, { error: 'invalid_grant', error_description: 'Invalid refresh token.' });
      grant.refreshes++;
    } else {
      return json(400, { error: 'unsupported_grant_type' });
    }
    const access = state.issueAccessToken(grant, alnum(30), LIFETIME * 1000, grant.scope === 'single-use');
    state.setRefreshToken(grant, alnum(30), null);
    return json(200, {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: LIFETIME,
      refresh_token: grant.refreshToken,
      scope: grant.scope,
    });
  }

  function user(req: SimRequest, env: string): SimResponse {
    const header = String(req.headers['authorization'] ?? '').trim();
    const key = keys.get(env) as ApiKey;
    let account: string | null = null;
    const t = bearer(req);
    if (t) {
      account = state.useAccessToken('checkbook', env, t)?.account ?? null;
    } else if (header === `${key.apiKey}:${key.apiSecret}`) {
      account = 'api key';
    }
    if (!account) return json(401, { error: 'Unauthorized', message: 'Invalid or missing credentials.' });
    return json(200, {
      id: `usr_${env}_${account.replace(/\W/g, '')}`,
      name: account,
      email: `${account.replace(/\W/g, '')}@checkbook.example`,
      environment: env,
    });
  }

  return {
    vendor: 'checkbook',
    route(req, segments): VendorRoute | null {
      const env = segments[0];
      if (!env || !clients.has(env)) return null;
      const path = rest(segments, 1);
      if (path === 'oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'checkbook',
            displayName: 'Checkbook',
            realm: env,
            isClient: (id) => id === clients.get(env)?.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) => (SCOPES.includes(s) ? null : 'invalid_scope'),
            pkce: false,
            codeLength: 30,
          },
          consent,
        );
      }
      if (path === 'web/v1/auth/oauth/token') return { endpoint: 'token', handle: () => token(req, env) };
      if (path === 'v3/user') return { endpoint: 'api', handle: () => user(req, env) };
      return null;
    },
    discovery(origin) {
      return {
        params: { environment: ENVIRONMENTS },
        endpoints: {
          authorize: `${origin}/checkbook/{environment}/oauth/authorize`,
          token: `${origin}/checkbook/{environment}/web/v1/auth/oauth/token`,
          apiBase: `${origin}/checkbook/{environment}/`,
        },
        identityPath: 'v3/user',
        clients: [...clients.values()],
        apiKeys: [...keys.values()],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
