/**
 * Google, per "Using OAuth 2.0 for Web Server Applications" and "Using OAuth 2.0 to Access
 * Google APIs" (refresh token expiration):
 * - a refresh token is issued only when the authorization request said `access_type=offline`,
 *   and, once the user has granted the app offline access, again only when the request also
 *   says `prompt=consent`: otherwise the token answer has no `refresh_token` (the earlier one
 *   keeps working);
 * - access tokens live one hour (`expires_in` 3599); a refresh answers a new access token and
 *   no refresh token: refresh tokens do not rotate;
 * - a refresh token unused for six months dies; an app whose OAuth consent screen is in
 *   "Testing" publishing status gets refresh tokens that die seven days after they were issued
 *   (the `testing` switch);
 * - there is a limit on live refresh tokens per account per client (documented as 100): issuing
 *   one more silently invalidates the oldest (the `refreshTokenCap` switch);
 * - client credentials go in the body or by HTTP Basic; dead refresh tokens answer 400
 *   `invalid_grant` "Token has been expired or revoked.";
 * - `POST /revoke?token=` (or a form body) revokes an access or refresh token together with the
 *   grant behind it; an unknown token answers 400 `invalid_token`;
 * - the userinfo endpoint answers `sub`, `email`, `name`…; API errors are
 *   `{"error":{"code":401,…,"status":"UNAUTHENTICATED"}}`.
 */
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, DAY, HOUR, pkceHolds, scopeSet, stableDigits } from './kit.js';
import { booleanSwitch, numberSwitch, rest, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['alice', 'bob'];
const SCOPES = [
  'openid',
  'email',
  'profile',
  'https://www.googleapis.com/auth/userinfo.email',
  'https://www.googleapis.com/auth/userinfo.profile',
  'https://www.googleapis.com/auth/drive.readonly',
  'https://www.googleapis.com/auth/calendar',
];
const ACCESS_LIFETIME_MS = HOUR;
const UNUSED_MS = 183 * DAY;
const TESTING_MS = 7 * DAY;
const UNAUTHENTICATED = {
  error: {
    code: 401,
    message:
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    status: 'UNAUTHENTICATED',
  },
};

export function google(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: `${stableDigits(cred.hex(8), 12)}-${cred.alnum(32).toLowerCase()}.apps.googleusercontent.com`,
    clientSecret: `GOCSPX-${cred.alnum(28)}`,
    params: {},
  };
  const testing = { value: false };
  const refreshTokenCap = { value: 100 };
  const lifetime = () => state.accessLifetime('google', ACCESS_LIFETIME_MS);
  const err = (status: number, error: string, description: string) =>
    json(status, { error, error_description: description });

  function respond(grant: Grant, withRefresh: boolean): SimResponse {
    const access = state.issueAccessToken(grant, `ya29.${alnum(160)}`, lifetime());
    return json(200, {
      access_token: access.token,
      expires_in: Math.round(lifetime() / 1000) - 1,
      ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      scope: grant.scope,
      token_type: 'Bearer',
    });
  }

  /** Whether the account already granted this client offline access (a live refresh token). */
  const hasOfflineGrant = (account: string) =>
    [...state.grants.values()].some(
      (g) =>
        g.vendor === 'google' &&
        g.clientId === client.clientId &&
        g.account === account &&
        !g.revoked &&
        g.refreshToken !== null,
    );

  function token(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    const c = clientCredentials(req, f, { basic: true, body: true });
    if (c?.id !== client.clientId || c.secret !== client.clientSecret)
      return err(401, 'invalid_client', 'The OAuth client was not found.');
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('google', 'google', f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string' || !pkceHolds(code, f['code_verifier']))
        return err(400, 'invalid_grant', 'Bad Request');
      const offline = code.extra?.['access_type'] === 'offline';
      const reconsent = scopeSet(code.extra?.['prompt']).has('consent');
      const issueRefresh = offline && (reconsent || !hasOfflineGrant(code.account));
      const grant = state.newGrant({
        vendor: 'google',
        realm: 'google',
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      if (issueRefresh) {
        if (testing.value) grant.refreshAbsoluteExpiresAt = state.clock.now() + TESTING_MS;
        state.setRefreshToken(grant, `1//${alnum(100)}`, UNUSED_MS);
        state.capRefreshTokens(grant, refreshTokenCap.value);
      }
      return respond(grant, true);
    }
    if (f['grant_type'] === 'refresh_token') {
      const grant = state.grantByRefreshToken('google', 'google', f['refresh_token']);
      if (!grant || grant.clientId !== client.clientId)
        return err(400, 'invalid_grant', 'Token has been expired or revoked.');
      grant.refreshes++;
      // Use keeps it alive: six months from now.
      state.setRefreshToken(grant, grant.refreshToken, UNUSED_MS);
      return respond(grant, false);
    }
    return err(400, 'unsupported_grant_type', 'Invalid grant_type: ' + (f['grant_type'] ?? ''));
  }

  function revoke(req: SimRequest): SimResponse {
    const t = req.url.searchParams.get('token') ?? bodyFields(req)?.['token'] ?? '';
    const access = state.accessTokens.get(t);
    const grant =
      state.grantByRefreshToken('google', 'google', t) ??
      (access && !access.revoked && access.expiresAt > state.clock.now()
        ? state.grants.get(access.grantId)
        : null);
    if (grant?.vendor !== 'google' || grant.revoked)
      return err(400, 'invalid_token', 'Token expired or revoked');
    state.revokeGrant(grant);
    return json(200, {});
  }

  function api(req: SimRequest, path: string): SimResponse {
    const grant = state.useAccessToken('google', 'google', bearer(req));
    if (!grant)
      return json(401, UNAUTHENTICATED, {
        'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
      });
    const who = {
      sub: stableDigits(`google user ${grant.account}`, 21),
      name: `${grant.account[0]?.toUpperCase()}${grant.account.slice(1)} Example`,
      given_name: grant.account,
      email: `${grant.account}@example.com`,
      email_verified: true,
      picture: 'https://lh3.example/a/default',
    };
    if (path === 'userinfo') return json(200, who);
    if (path === 'drive/v3/about') {
      if (!scopeSet(grant.scope).has('https://www.googleapis.com/auth/drive.readonly'))
        return json(403, {
          error: {
            code: 403,
            message: 'Request had insufficient authentication scopes.',
            status: 'PERMISSION_DENIED',
          },
        });
      return json(200, { user: { displayName: who.name, emailAddress: who.email } });
    }
    return json(404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
  }

  return {
    vendor: 'google',
    switches: {
      /** The consent screen's publishing status is "Testing": refresh tokens die 7 days after issue. */
      testing: booleanSwitch(testing),
      /** Live refresh tokens per account per client; one more invalidates the oldest. */
      refreshTokenCap: numberSwitch(refreshTokenCap, 1),
    },
    route(req, segments): VendorRoute | null {
      const path = rest(segments, 0);
      if (path === 'accounts/o/oauth2/v2/auth') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'google',
            displayName: 'Google',
            realm: 'google',
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) =>
              scopeSet(s).size > 0 && [...scopeSet(s)].every((x) => SCOPES.includes(x))
                ? null
                : 'invalid_scope',
            checkRequest: (q) => {
              const accessType = q.get('access_type');
              if (accessType !== null && accessType !== 'online' && accessType !== 'offline')
                return { error: 'invalid_request', description: `Invalid access_type: ${accessType}` };
              const prompts = [...scopeSet(q.get('prompt') ?? '')];
              if (prompts.some((p) => !['none', 'consent', 'select_account'].includes(p)))
                return { error: 'invalid_request', description: 'Invalid prompt.' };
              return null;
            },
            remember: (q) => ({
              access_type: q.get('access_type') ?? 'online',
              prompt: q.get('prompt') ?? '',
            }),
            pkce: true,
            codeLength: 73,
          },
          consent,
        );
      }
      if (path === 'oauth2/token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (path === 'oauth2/revoke' && req.method === 'POST')
        return { endpoint: 'revoke', handle: () => revoke(req) };
      if (path === 'openidconnect/v1/userinfo')
        return { endpoint: 'api', handle: () => api(req, 'userinfo') };
      if (segments[0] === 'api') {
        const apiPath = rest(segments, 1);
        return {
          endpoint: 'api',
          handle: () => api(req, apiPath === 'oauth2/v3/userinfo' ? 'userinfo' : apiPath),
        };
      }
      return null;
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/google/accounts/o/oauth2/v2/auth`,
          token: `${origin}/google/oauth2/token`,
          revoke: `${origin}/google/oauth2/revoke`,
          apiBase: `${origin}/google/api/`,
          userinfo: `${origin}/google/openidconnect/v1/userinfo`,
        },
        identityPath: 'oauth2/v3/userinfo',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
