import { basicAuth, bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { type Grant, hex, type SimState } from '../state.js';
import type { ApiKey, ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const COMPANIES = ['acme', 'globex'];
const STAFF = ['admin', 'staff'];
const ACCESS_LIFETIME = 14000;
const REFRESH_LIFETIME_MS = 14 * 24 * 3600 * 1000;
const INVALID_TOKEN = { error: 'invalid_grant', error_description: 'The access token provided is invalid.' };

/**
 * Checkfront, per "Connecting to the API" and the forum thread: a host per company, consumer
 * key/secret by HTTP Basic (or in the body, as the PHP SDK sends them) on /oauth/token/ only,
 * 14000 s access tokens, 14-day refresh tokens replaced (old pair dead) on every refresh, token
 * pairs by HTTP Basic on /api/, and migrated companies answering 301 everywhere.
 */
export function checkfront(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const clients = new Map<string, ClientCredentials>();
  const keys = new Map<string, ApiKey>();
  for (const company of COMPANIES) {
    // Consumer secrets are long (the forum notices it); consumer keys are 32 hex.
    clients.set(company, { clientId: cred.hex(16), clientSecret: cred.hex(40), params: { company } });
    keys.set(company, { apiKey: cred.hex(20), apiSecret: cred.hex(20), params: { company } });
  }

  function tokenEndpoint(req: SimRequest, company: string): SimResponse {
    const client = clients.get(company) as ClientCredentials;
    const fields = bodyFields(req) ?? {};
    const basic = basicAuth(req);
    const id = basic?.user ?? fields['client_id'];
    const secret = basic?.pass ?? fields['client_secret'];
    if (id !== client.clientId || secret !== client.clientSecret) {
      return json(401, { error: 'invalid_client', error_description: 'The client credentials are invalid' });
    }
    const grantType = fields['grant_type'];
    let grant: Grant | null;
    if (grantType === 'authorization_code') {
      const code = state.redeemCode(
        'checkfront',
        company,
        fields['code'],
        client.clientId,
        fields['redirect_uri'],
      );
      if (typeof code === 'string') return json(400, { error: 'invalid_grant', error_description: code });
      grant = state.newGrant({
        vendor: 'checkfront',
        realm: company,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
    } else if (grantType === 'refresh_token') {
      grant = state.grantByRefreshToken('checkfront', company, fields['refresh_token']);
      if (!grant || grant.clientId !== client.clientId) {
        return json(400, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
      }
      // "must completely replace your previously stored token (which will be invalidated)"
      state.revokeAccessTokensOf(grant.id);
      grant.refreshes++;
    } else {
      return json(400, { error: 'unsupported_grant_type', error_description: 'Grant type not supported' });
    }
    const access = state.issueAccessToken(grant, hex(16), ACCESS_LIFETIME * 1000);
    state.setRefreshToken(grant, hex(16), REFRESH_LIFETIME_MS);
    return json(200, {
      access_token: access.token,
      expires_in: ACCESS_LIFETIME,
      token_type: 'Bearer',
      scope: null,
      refresh_token: grant.refreshToken,
    });
  }

  function api(req: SimRequest, company: string, path: string): SimResponse {
    const client = clients.get(company) as ClientCredentials;
    const pair = keys.get(company) as ApiKey;
    let who: string | null = null;
    const basic = basicAuth(req);
    if (basic) {
      if (basic.user === client.clientId) {
        return json(401, {
          error: 'invalid_client',
          error_description:
            'Consumer key and secret are only accepted at /oauth/token/; send an access token to /api/.',
        });
      }
      if (basic.user !== pair.apiKey || basic.pass !== pair.apiSecret) {
        return json(401, { error: 'invalid_client', error_description: 'Invalid API key or secret.' });
      }
      who = 'token pair';
    } else {
      const token =
        bearer(req) ?? req.url.searchParams.get('access_token') ?? bodyFields(req)?.['access_token'] ?? null;
      if (!token)
        return json(401, { error: 'invalid_request', error_description: 'No access token was provided.' });
      const grant = state.useAccessToken('checkfront', company, token);
      if (!grant) return json(401, INVALID_TOKEN);
      who = grant.account;
    }
    if (path === 'api/3.0/ping') {
      return json(200, {
        version: '3.0',
        host_id: `${company}.checkfront.com`,
        name: company,
        account_id: company,
        staff: who,
        request: { status: 'OK' },
      });
    }
    if (path === 'api/3.0/booking') {
      return json(200, {
        version: '3.0',
        host_id: `${company}.checkfront.com`,
        request: { status: 'OK', records: 2 },
        'booking/index': {
          '1': {
            booking_id: 1,
            code: `${company.toUpperCase()}-0001`,
            status_id: 'PAID',
            summary: 'Kayak tour',
          },
          '2': {
            booking_id: 2,
            code: `${company.toUpperCase()}-0002`,
            status_id: 'HOLD',
            summary: 'Bike rental',
          },
        },
      });
    }
    return json(404, { error: 'not_found', error_description: `No API endpoint ${path}.` });
  }

  return {
    vendor: 'checkfront',
    route(req, segments): VendorRoute | null {
      const company = segments[0];
      if (!company || !clients.has(company)) return null;
      const path = rest(segments, 1);
      if (path === 'oauth' || path === 'oauth/') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'checkfront',
            displayName: 'Checkfront',
            realm: company,
            isClient: (id) => id === clients.get(company)?.clientId,
            accounts: STAFF,
            allowOob: true,
            pkce: false,
            codeLength: 40,
          },
          consent,
        );
      }
      if (path === 'oauth/token' || path === 'oauth/token/') {
        if (req.method !== 'POST')
          return {
            endpoint: 'token',
            handle: () => json(405, { error: 'invalid_request', error_description: 'POST required' }),
          };
        return { endpoint: 'token', handle: () => tokenEndpoint(req, company) };
      }
      if (path.startsWith('api/'))
        return { endpoint: 'api', handle: () => api(req, company, path.replace(/\/$/, '')) };
      return null;
    },
    discovery(origin, migrationOrigin) {
      return {
        params: { company: COMPANIES },
        endpoints: {
          authorize: `${origin}/checkfront/{company}/oauth/`,
          token: `${origin}/checkfront/{company}/oauth/token/`,
          apiBase: `${origin}/checkfront/{company}/`,
          migratedApiBase: `${migrationOrigin}/{region}/{company}/`,
        },
        identityPath: 'api/3.0/ping',
        clients: [...clients.values()],
        apiKeys: [...keys.values()],
        accounts: STAFF,
      };
    },
  };
}
