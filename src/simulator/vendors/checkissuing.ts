import { basicAuth, bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { hex, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const ENVIRONMENTS = ['production', 'sandbox'];
const DENIED = { status: 0, errors: ['Access Denied'] };

/**
 * Checkissuing, per "Authenticating With OpenAuth 2.0": client_credentials only, by HTTP Basic
 * only, one-hour bearer tokens, no refresh token, separate sandbox and production credentials,
 * and every failure worded {"status":0,"errors":["Access Denied"]}.
 */
export function checkissuing(state: SimState): SimVendor {
  const cred = state.credentials;
  const clients = new Map<string, ClientCredentials>();
  for (const environment of ENVIRONMENTS)
    clients.set(environment, { clientId: cred.hex(10), clientSecret: cred.hex(24), params: { environment } });

  function token(req: SimRequest, env: string): SimResponse {
    const client = clients.get(env) as ClientCredentials;
    const basic = basicAuth(req);
    const f = bodyFields(req) ?? {};
    if (!basic || basic.user !== client.clientId || basic.pass !== client.clientSecret)
      return json(401, DENIED);
    if ('client_secret' in f || f['grant_type'] !== 'client_credentials') return json(401, DENIED);
    const grant = state.newGrant({
      vendor: 'checkissuing',
      realm: env,
      clientId: client.clientId,
      account: `client-${env}`,
      scope: '',
    });
    const access = state.issueAccessToken(grant, hex(20), 3600 * 1000);
    return json(200, { token_type: 'Bearer', expires_in: 3600, access_token: access.token });
  }

  function account(req: SimRequest, env: string): SimResponse {
    const grant = state.useAccessToken('checkissuing', env, bearer(req));
    if (!grant) return json(401, DENIED);
    return json(200, {
      status: 1,
      account: { id: `acct_${env}`, name: `Checkissuing ${env} client`, environment: env },
    });
  }

  return {
    vendor: 'checkissuing',
    route(req, segments): VendorRoute | null {
      const env = segments[0];
      if (!env || !clients.has(env)) return null;
      const path = rest(segments, 1);
      if (path === 'oauth/token') return { endpoint: 'token', handle: () => token(req, env) };
      if (path === 'v1/account') return { endpoint: 'api', handle: () => account(req, env) };
      return null;
    },
    discovery(origin) {
      return {
        params: { environment: ENVIRONMENTS },
        endpoints: {
          token: `${origin}/checkissuing/{environment}/oauth/token`,
          apiBase: `${origin}/checkissuing/{environment}/`,
        },
        identityPath: 'v1/account',
        clients: [...clients.values()],
        apiKeys: [],
        accounts: [],
      };
    },
  };
}
