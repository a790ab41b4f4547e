/**
 * Dropbox, per the OAuth Guide, "Using OAuth 2.0 with offline access", and the HTTP reference for
 * `/oauth2/token`, `auth/token/revoke` and `users/get_current_account`:
 * - The authorize page (`/oauth2/authorize`) takes `response_type=code`, `client_id`,
 *   `redirect_uri`, `state`, optional PKCE (`S256` or `plain`), `scope` and
 *   `token_access_type`: `offline` gets a refresh token, `online` (or none) does not.
 * - The token endpoint (`POST /oauth2/token`, form body) takes the app key and secret by HTTP
 *   Basic or in the body; with PKCE, the app key alone and the `code_verifier`.
 * - Access tokens (`sl.…`) are short-lived: `expires_in: 14400` (four hours). The code answer
 *   carries `token_type: "bearer"`, `scope`, `account_id`, `uid`, and `refresh_token` only for
 *   offline access. A refresh answers a new access token and no refresh token: the refresh token
 *   does not rotate and does not expire.
 * - Token endpoint errors are 400 `{"error": "invalid_grant", "error_description": …}` (a code
 *   that does not exist or expired, a refresh token invalid or revoked), `invalid_client`,
 *   `unsupported_grant_type`.
 * - `POST /2/auth/token/revoke` with the bearer token and no body disables that token, its
 *   refresh token and every other access token of that refresh token; it answers `null`.
 * - RPC endpoints are POST only, with no body or a JSON one (`null`): a body of another
 *   Content-Type, or an empty one said to be JSON, is a 400 with a plain-text message. A bad token is 401 `{"error_summary":
 *   "invalid_access_token/…", "error": {".tag": "invalid_access_token"}}`; an expired one
 *   `expired_access_token`.
 */
import { basicAuth, bearer, bodyFields, isForm, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { HOUR, headerOf, pkceHolds, stableDigits } from './kit.js';
import type { SimVendor, VendorRoute } from './vendor.js';

const ACCOUNTS = ['franz', 'grete'];
const SCOPES = ['account_info.read', 'files.metadata.read', 'files.content.read', 'files.content.write'];
const ACCESS_LIFETIME_MS = 4 * HOUR;
const REALM = 'dropbox';
const ACCESS_TYPES = ['offline', 'online'];

const accountIdOf = (account: string) => `dbid:AA${stableDigits(`dropbox ${account}`, 20)}`;
const oauthError = (error: string, description: string): SimResponse => ({
  ...json(400, { error_description: description, error }),
  oracle: { issuedAccessToken: null, issuedRefreshToken: null },
});
const authError = (tag: string): SimResponse =>
  json(401, { error_summary: `${tag}/.`, error: { '.tag': tag } });

export function dropbox(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: cred.alnum(15).toLowerCase(),
    clientSecret: cred.alnum(15).toLowerCase(),
    params: {},
  };
  const lifetime = () => state.accessLifetime('dropbox', ACCESS_LIFETIME_MS);

  function token(req: SimRequest): SimResponse {
    if (!isForm(req))
      return oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    const f = bodyFields(req) ?? {};
    const basic = basicAuth(req);
    const id = basic?.user ?? f['client_id'];
    const secret = basic?.pass ?? f['client_secret'];
    if (id !== client.clientId) return oauthError('invalid_client', 'Invalid client_id or client_secret');
    // Without the secret, only a PKCE code exchange (or a refresh of one) is allowed.
    const publicClient = secret === undefined;
    if (!publicClient && secret !== client.clientSecret)
      return oauthError('invalid_client', 'Invalid client_id or client_secret');
    let grant: Grant | null;
    let offline = false;
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('dropbox', REALM, f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') {
        return code.includes('redirect_uri')
          ? oauthError('invalid_grant', 'redirect_uri mismatch')
          : oauthError('invalid_grant', "code doesn't exist or has expired");
      }
      if (publicClient && !code.codeChallenge)
        return oauthError('invalid_client', 'No client secret, and the code was not issued with PKCE');
      if (!pkceHolds(code, f['code_verifier'])) return oauthError('invalid_grant', 'invalid code verifier');
      grant = state.newGrant({
        vendor: 'dropbox',
        realm: REALM,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope || SCOPES.join(' '),
      });
      offline = code.extra?.['token_access_type'] === 'offline';
      if (offline) state.setRefreshToken(grant, alnum(64), null);
    } else if (f['grant_type'] === 'refresh_token') {
      grant = state.grantByRefreshToken('dropbox', REALM, f['refresh_token']);
      if (!grant) return oauthError('invalid_grant', 'refresh token is invalid or revoked');
      grant.refreshes++;
    } else {
      return oauthError('unsupported_grant_type', `unsupported grant_type ${f['grant_type'] ?? '(none)'}`);
    }
    const t = state.issueAccessToken(grant, `sl.u.${alnum(140)}`, lifetime());
    const expiresIn = Math.round((t.expiresAt - state.clock.now()) / 1000);
    if (f['grant_type'] === 'refresh_token') {
      return json(200, { access_token: t.token, token_type: 'bearer', expires_in: expiresIn });
    }
    return json(200, {
      access_token: t.token,
      expires_in: expiresIn,
      token_type: 'bearer',
      scope: grant.scope,
      ...(offline ? { refresh_token: grant.refreshToken } : {}),
      account_id: accountIdOf(grant.account),
      uid: stableDigits(`dropbox uid ${grant.account}`, 9),
    });
  }

  /** An RPC call's body rules: POST, and no body or a JSON one. */
  function rpcShape(req: SimRequest, name: string): SimResponse | null {
    const text = (message: string): SimResponse => ({
      status: 400,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: `Error in call to API function "${name}": ${message}`,
    });
    if (req.method !== 'POST') return text(`Unsupported HTTP method ${req.method}; use POST.`);
    const type = headerOf(req, 'content-type');
    // No body: no arguments (a client's empty body may still carry its library's default type).
    if (req.body === '' && !/json/i.test(type ?? '')) return null;
    if (!type || !/^application\/json(;\s*charset=utf-8)?$/i.test(type))
      return text(`Bad HTTP "Content-Type" header: "${type ?? ''}". Expecting one of "application/json".`);
    try {
      JSON.parse(req.body);
    } catch {
      return text('request body: could not decode input as JSON');
    }
    return null;
  }

  /** The grant behind an RPC call's bearer token, or Dropbox's 401 for it. */
  function caller(req: SimRequest): Grant | SimResponse {
    const t = bearer(req);
    const grant = state.useAccessToken('dropbox', REALM, t);
    if (grant) return grant;
    return authError(
      t !== null && state.tokenInfo(t).status === 'expired' ? 'expired_access_token' : 'invalid_access_token',
    );
  }

  function revoke(req: SimRequest): SimResponse {
    const shape = rpcShape(req, 'auth/token/revoke');
    if (shape) return { ...shape, oracle: { revokedToken: null } };
    const who = caller(req);
    if (!('id' in who)) return { ...who, oracle: { revokedToken: null } };
    state.revokeGrant(who);
    return { ...json(200, null), oracle: { revokedToken: bearer(req) } };
  }

  function currentAccount(req: SimRequest): SimResponse {
    const shape = rpcShape(req, 'users/get_current_account');
    if (shape) return shape;
    const who = caller(req);
    if (!('id' in who)) return who;
    const name = who.account[0]?.toUpperCase() + who.account.slice(1);
    return json(200, {
      account_id: accountIdOf(who.account),
      name: {
        given_name: name,
        surname: 'Simulated',
        familiar_name: name,
        display_name: `${name} Simulated`,
        abbreviated_name: `${name[0]}S`,
      },
      email: `${who.account}@example.com`,
      email_verified: true,
      disabled: false,
      country: 'DE',
      locale: 'en',
      is_paired: false,
      account_type: { '.tag': 'basic' },
    });
  }

  return {
    vendor: 'dropbox',
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'oauth2/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'dropbox',
            displayName: 'Dropbox',
            realm: REALM,
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            pkce: true,
            codeLength: 43,
            checkScope: (s) =>
              s.split(' ').every((x) => x === '' || SCOPES.includes(x)) ? null : 'invalid_scope',
            checkRequest: (q) => {
              const type = q.get('token_access_type');
              return type !== null && !ACCESS_TYPES.includes(type)
                ? { error: 'invalid_request', description: 'token_access_type must be offline or online.' }
                : null;
            },
            remember: (q) => ({ token_access_type: q.get('token_access_type') ?? 'online' }),
          },
          consent,
        );
      }
      if (path === 'api/oauth2/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (path === 'api/2/auth/token/revoke') return { endpoint: 'revoke', handle: () => revoke(req) };
      if (path === 'api/2/users/get_current_account')
        return { endpoint: 'api', handle: () => currentAccount(req) };
      if (segments[0] === 'api')
        return {
          endpoint: 'api',
          handle: () => ({
            status: 404,
            headers: { 'content-type': 'text/plain' },
            body: 'Unknown API function',
          }),
        };
      return null;
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/dropbox/oauth2/authorize`,
          token: `${origin}/dropbox/api/oauth2/token`,
          revoke: `${origin}/dropbox/api/2/auth/token/revoke`,
          apiBase: `${origin}/dropbox/api/2/`,
        },
        identityPath: 'users/get_current_account',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
