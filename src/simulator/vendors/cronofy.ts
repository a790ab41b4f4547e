import { createHash } from 'node:crypto';
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const DATA_CENTERS = ['us', 'au', 'ca', 'de', 'sg', 'uk'];
const ACCOUNTS = ['alice', 'bob'];
const SCOPES = ['read_account', 'read_events', 'create_event', 'delete_event', 'read_free_busy'];
const NO_STORE = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

const idOf = (prefix: string, account: string) =>
  `${prefix}_${createHash('sha256').update(account).digest('hex').slice(0, 16)}`;

/**
 * Cronofy, per "Refresh an Access Token": six data centers (tokens are only known where they
 * were issued), JSON or form bodies with client credentials in the body (an Authorization
 * header is ignored), lower-case `bearer`, one-hour 32-character tokens, refresh tokens
 * rotated "periodically", RFC 6749 §5.2 errors as 400, and a rate limit on issuing tokens.
 */
export function cronofy(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = { clientId: cred.alnum(32), clientSecret: cred.alnum(64), params: {} };

  const lifetime = () => state.accessLifetime('cronofy', 3600_000);

  function respond(grant: Grant, accessToken: string, withAccount: boolean): SimResponse {
    const body: Record<string, unknown> = {
      token_type: 'bearer',
      access_token: accessToken,
      expires_in: Math.round(lifetime() / 1000),
      refresh_token: grant.refreshToken,
      scope: grant.scope,
    };
    if (withAccount) {
      body['account_id'] = idOf('acc', grant.account);
      body['sub'] = idOf('acc', grant.account);
      body['linking_profile'] = {
        provider_name: 'google',
        profile_id: idOf('pro', grant.account),
        profile_name: `${grant.account}@example.com`,
      };
    }
    return { status: 200, headers: NO_STORE, body: JSON.stringify(body) };
  }

  const err = (error: string) => ({ status: 400, headers: NO_STORE, body: JSON.stringify({ error }) });

  function token(req: SimRequest, dc: string): SimResponse {
    const f = bodyFields(req);
    if (!f) return err('invalid_request');
    // Any Authorization header is ignored: credentials come in the body.
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return err('invalid_client');
    const wait = state.rateLimited(client.clientId);
    if (wait !== null)
      return {
        status: 429,
        headers: { ...NO_STORE, 'retry-after': String(wait) },
        body: JSON.stringify({ error: 'too_many_requests' }),
      };
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('cronofy', dc, f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return err('invalid_grant');
      if (code.codeChallenge) {
        const verifier = f['code_verifier'] ?? '';
        const computed =
          code.codeChallengeMethod === 'S256'
            ? createHash('sha256').update(verifier).digest('base64url')
            : verifier;
        if (!verifier || computed !== code.codeChallenge) return err('invalid_grant');
      }
      const grant = state.newGrant({
        vendor: 'cronofy',
        realm: dc,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      state.setRefreshToken(grant, alnum(32), null);
      return respond(grant, state.issueAccessToken(grant, alnum(32), lifetime()).token, true);
    }
    if (f['grant_type'] === 'refresh_token') {
      const grant = state.grantByRefreshToken('cronofy', dc, f['refresh_token'], true);
      if (!grant) return err('invalid_grant');
      grant.refreshes++;
      const mode = state.cronofyRotation;
      const rotate = mode === 'always' || (mode === 'sometimes' && grant.refreshes % 2 === 0);
      if (rotate) state.setRefreshToken(grant, alnum(32), null);
      return respond(grant, state.issueAccessToken(grant, alnum(32), lifetime()).token, false);
    }
    return err('unsupported_grant_type');
  }

  function revoke(req: SimRequest, dc: string): SimResponse {
    const f = bodyFields(req);
    if (!f) return err('invalid_request');
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return err('invalid_client');
    const t = f['token'] ?? f['refresh_token'];
    const byRefresh = state.grantByRefreshToken('cronofy', dc, t);
    const access = t ? state.accessTokens.get(t) : undefined;
    const grant = byRefresh ?? (access ? state.grants.get(access.grantId) : undefined);
    // RFC 7009 §2.2: an unknown token is answered 200 all the same.
    if (grant && grant.vendor === 'cronofy' && grant.realm === dc) state.revokeGrant(grant);
    return { status: 200, headers: NO_STORE, body: '' };
  }

  function api(req: SimRequest, dc: string, path: string): SimResponse {
    const grant = state.useAccessToken('cronofy', dc, bearer(req));
    if (!grant)
      return { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: '' };
    const id = idOf('acc', grant.account);
    if (path === 'v1/userinfo') {
      return json(200, {
        sub: id,
        'cronofy.type': 'account',
        email: `${grant.account}@example.com`,
        name: grant.account,
        'cronofy.data': { data_center: dc },
      });
    }
    if (path === 'v1/account') {
      return json(200, {
        account: {
          account_id: id,
          email: `${grant.account}@example.com`,
          name: grant.account,
          scope: grant.scope,
          default_tz_id: 'Etc/UTC',
        },
      });
    }
    return json(404, { error: 'not_found' });
  }

  return {
    vendor: 'cronofy',
    route(req, segments): VendorRoute | null {
      const dc = segments[0];
      if (!dc || !DATA_CENTERS.includes(dc)) return null;
      const host = segments[1];
      const path = rest(segments, 2);
      if (host === 'app' && path === 'oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'cronofy',
            displayName: 'Cronofy',
            realm: dc,
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            pkce: true,
            codeLength: 32,
          },
          consent,
        );
      }
      if (host !== 'api') return null;
      if (path === 'oauth/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req, dc) };
      if (path === 'oauth/token/revoke' && req.method === 'POST')
        return { endpoint: 'revoke', handle: () => revoke(req, dc) };
      if (path.startsWith('v1/')) return { endpoint: 'api', handle: () => api(req, dc, path) };
      return null;
    },
    discovery(origin) {
      return {
        params: { dataCenter: DATA_CENTERS },
        endpoints: {
          authorize: `${origin}/cronofy/{dataCenter}/app/oauth/authorize`,
          token: `${origin}/cronofy/{dataCenter}/api/oauth/token`,
          revoke: `${origin}/cronofy/{dataCenter}/api/oauth/token/revoke`,
          apiBase: `${origin}/cronofy/{dataCenter}/api/`,
        },
        identityPath: 'v1/userinfo',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
