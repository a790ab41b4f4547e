/**
 * GitHub (a GitHub App's user access tokens), per "Generating a user access token for a GitHub
 * App", "Refreshing user access tokens", "Troubleshooting OAuth app access token request
 * errors", the July 2025 PKCE changelog and the REST pages for `GET /user` and app
 * authorizations:
 * - The authorize page (`/login/oauth/authorize`) takes `client_id`, `redirect_uri`, `state` and
 *   no `response_type` or scope (a GitHub App's permissions are its own); PKCE is optional and
 *   only `S256` is accepted.
 * - The token endpoint (`/login/oauth/access_token`, POST) takes `client_id`, `client_secret`,
 *   `code`, `redirect_uri`, `code_verifier`, or `grant_type=refresh_token` with `refresh_token`,
 *   as query parameters or in the body (form or JSON); HTTP Basic is not the documented way and
 *   is not read here.
 * - It answers form-encoded unless the request says `Accept: application/json`, and its errors
 *   come INSIDE a 200 answer: `{"error", "error_description", "error_uri"}` with
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_verification_code`,
 *   `bad_refresh_token` (what a dead, used or expired refresh token gets) or
 *   `unsupported_grant_type`.
 * - With expiring user tokens (the `expiringTokens` switch, on by default as for a new app): a
 *   `ghu_` access token for 8 hours (`expires_in: 28800`) and a `ghr_` refresh token for 6
 *   months (`refresh_token_expires_in: 15897600`). A refresh replaces both: the refresh token
 *   used and the old access token stop working. With the switch off: a `ghu_` token that never
 *   expires, and no `expires_in` or refresh token.
 * - The API (`GET /user`) takes `Authorization: Bearer …` or `token …`; a bad token is
 *   `401 {"message": "Bad credentials", …}`.
 * - `DELETE /applications/{client_id}/grant` (HTTP Basic with the client id and secret, JSON body
 *   `{"access_token"}`) deletes the user's authorization of the app: every token of it dies;
 *   `DELETE /applications/{client_id}/token` deletes the one token. Both answer 204, and 422
 *   when the token is not one of the app's.
 */
import { createHash } from 'node:crypto';
import { basicAuth, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { DAY, HOUR, headerOf, pkceHolds, stableDigits } from './kit.js';
import { booleanSwitch, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['octocat', 'hubot'];
const ACCESS_LIFETIME_MS = 8 * HOUR;
/** 15897600 s: what GitHub answers for "6 months". */
const REFRESH_LIFETIME_MS = 184 * DAY;
const DOCS =
  'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';
const BAD_CREDENTIALS = {
  message: 'Bad credentials',
  documentation_url: 'https://docs.github.com/rest',
  status: '401',
};

export function github(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: `Iv23li${cred.alnum(14)}`,
    clientSecret: cred.hex(20),
    params: {},
  };
  const expiring = { value: true };
  const lifetime = () => state.accessLifetime('github', ACCESS_LIFETIME_MS);

  /** The token endpoint's answer, form-encoded unless JSON was asked for; errors too, with 200. */
  function answer(
    req: SimRequest,
    body: Record<string, string | number>,
    oracle: SimResponse['oracle'],
  ): SimResponse {
    const wantsJson = /application\/json/i.test(headerOf(req, 'accept') ?? '');
    if (wantsJson) return { ...json(200, body), oracle };
    const text = new URLSearchParams(
      Object.entries(body).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    return {
      status: 200,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: text,
      oracle,
    };
  }

  function error(req: SimRequest, error: string, description: string, anchor: string): SimResponse {
    return answer(
      req,
      { error, error_description: description, error_uri: `${DOCS}/#${anchor}` },
      { issuedAccessToken: null, issuedRefreshToken: null },
    );
  }

  function issue(req: SimRequest, grant: Grant): SimResponse {
    const access = `ghu_${alnum(36)}`;
    if (!expiring.value) {
      state.issueAccessToken(grant, access, null);
      return answer(
        req,
        { access_token: access, scope: '', token_type: 'bearer' },
        { issuedAccessToken: access, issuedRefreshToken: null },
      );
    }
    const t = state.issueAccessToken(grant, access, lifetime());
    const refresh = `ghr_${alnum(76)}`;
    state.setRefreshToken(grant, refresh, REFRESH_LIFETIME_MS);
    return answer(
      req,
      {
        access_token: access,
        expires_in: Math.round((t.expiresAt - state.clock.now()) / 1000),
        refresh_token: refresh,
        refresh_token_expires_in: Math.round(REFRESH_LIFETIME_MS / 1000),
        scope: '',
        token_type: 'bearer',
      },
      { issuedAccessToken: access, issuedRefreshToken: refresh },
    );
  }

  function token(req: SimRequest): SimResponse {
    const f = { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret) {
      return error(
        req,
        'incorrect_client_credentials',
        'The client_id and/or client_secret passed are incorrect.',
        'incorrect-client-credentials',
      );
    }
    if (f['grant_type'] === 'refresh_token') {
      const grant = state.grantByRefreshToken('github', 'github.com', f['refresh_token']);
      if (!grant) {
        return error(
          req,
          'bad_refresh_token',
          'The refresh token passed is incorrect or expired.',
          'bad-verification-code',
        );
      }
      // "Once you use a refresh token, that refresh token and the old user access token will no longer work."
      state.revokeAccessTokensOf(grant.id);
      grant.refreshes++;
      return issue(req, grant);
    }
    if (f['grant_type'] !== undefined && f['grant_type'] !== 'authorization_code') {
      return error(
        req,
        'unsupported_grant_type',
        'The grant type is not supported.',
        'unsupported-grant-type',
      );
    }
    const pending = f['code'] ? state.codes.get(f['code']) : undefined;
    if (
      pending &&
      !pending.used &&
      f['redirect_uri'] !== undefined &&
      f['redirect_uri'] !== pending.redirectUri
    ) {
      return error(
        req,
        'redirect_uri_mismatch',
        'The redirect_uri MUST match the registered callback URL for this application.',
        'redirect-uri-mismatch2',
      );
    }
    const code = state.redeemCode('github', 'github.com', f['code'], client.clientId, f['redirect_uri']);
    if (typeof code === 'string' || !pkceHolds(code, f['code_verifier'])) {
      return error(
        req,
        'bad_verification_code',
        'The code passed is incorrect or expired.',
        'bad-verification-code',
      );
    }
    const grant = state.newGrant({
      vendor: 'github',
      realm: 'github.com',
      clientId: client.clientId,
      account: code.account,
      scope: '',
    });
    return issue(req, grant);
  }

  /** The token of an API request: `Bearer` or `token` scheme. */
  function presented(req: SimRequest): string | null {
    const m = /^(?:bearer|token)\s+(\S+)\s*$/i.exec(headerOf(req, 'authorization') ?? '');
    return m?.[1] ?? null;
  }

  function user(req: SimRequest): SimResponse {
    const grant = state.useAccessToken('github', 'github.com', presented(req));
    if (!grant) return json(401, BAD_CREDENTIALS);
    const id = Number(stableDigits(`github ${grant.account}`, 8));
    return json(200, {
      login: grant.account,
      id,
      node_id: `U_${createHash('sha256').update(grant.account).digest('base64url').slice(0, 12)}`,
      type: 'User',
      name: grant.account,
      email: `${grant.account}@users.noreply.example`,
      html_url: `https://github.com/${grant.account}`,
    });
  }

  /** `DELETE /applications/{client_id}/grant` or `/token`: the app's own Basic credentials. */
  function removal(req: SimRequest, clientId: string, what: 'grant' | 'token'): SimResponse {
    const basic = basicAuth(req);
    if (
      !basic ||
      basic.user !== client.clientId ||
      basic.pass !== client.clientSecret ||
      clientId !== client.clientId
    )
      return { ...json(401, BAD_CREDENTIALS), oracle: { revokedToken: null } };
    const presentedToken = bodyFields(req)?.['access_token'] ?? null;
    const t = presentedToken ? state.accessTokens.get(presentedToken) : undefined;
    const grant = t ? state.grants.get(t.grantId) : undefined;
    if (!t || !grant || grant.vendor !== 'github' || grant.revoked || t.revoked) {
      return {
        ...json(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'Authorization', code: 'invalid', field: 'access_token' }],
          documentation_url: 'https://docs.github.com/rest/apps/oauth-applications',
          status: '422',
        }),
        oracle: { revokedToken: null },
      };
    }
    if (what === 'token') t.revoked = true;
    else state.revokeGrants({ vendor: 'github', account: grant.account, clientId: client.clientId });
    return { status: 204, headers: {}, body: '', oracle: { revokedToken: presentedToken } };
  }

  return {
    vendor: 'github',
    switches: { expiringTokens: booleanSwitch(expiring) },
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'login/oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'github',
            displayName: 'GitHub',
            realm: 'github.com',
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            pkce: true,
            codeLength: 20,
            responseTypeOptional: true,
            checkRequest: (q) =>
              q.has('code_challenge') && q.get('code_challenge_method') !== 'S256'
                ? {
                    error: 'invalid_request',
                    description: 'Only the S256 code_challenge_method is accepted.',
                  }
                : null,
          },
          consent,
        );
      }
      if (path === 'login/oauth/access_token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (segments[0] !== 'api') return null;
      if (path === 'api/user' && req.method === 'GET') return { endpoint: 'api', handle: () => user(req) };
      const m = /^api\/applications\/([^/]+)\/(grant|token)$/.exec(path);
      if (m && req.method === 'DELETE')
        return {
          endpoint: 'revoke',
          handle: () => removal(req, decodeURIComponent(m[1] as string), m[2] as 'grant' | 'token'),
        };
      return {
        endpoint: 'api',
        handle: () =>
          json(404, {
            message: 'Not Found',
            documentation_url: 'https://docs.github.com/rest',
            status: '404',
          }),
      };
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/github/login/oauth/authorize`,
          token: `${origin}/github/login/oauth/access_token`,
          revoke: `${origin}/github/api/applications/${client.clientId}/grant`,
          apiBase: `${origin}/github/api/`,
        },
        identityPath: 'user',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: [],
      };
    },
  };
}
