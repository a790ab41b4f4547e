/**
 * Notion (a public connection), per the Authorization guide, "Create a token", "Refresh a
 * token", the OAuth revoke and introspect references, "Retrieve your token's bot user" and
 * "Status codes":
 * - The authorize page (`/v1/oauth/authorize`) takes `client_id`, `response_type=code`,
 *   `owner=user` (required) and `redirect_uri`, `state`; no scopes (pages are chosen there).
 * - The token endpoint (`POST /v1/oauth/token`) takes the client id and secret by HTTP Basic
 *   only, and a JSON body: `{"grant_type": "authorization_code", "code", "redirect_uri"}` or
 *   `{"grant_type": "refresh_token", "refresh_token"}`.
 * - The answer carries `access_token`, `token_type: "bearer"`, `refresh_token`, `bot_id`,
 *   `workspace_id`, `workspace_name`, `workspace_icon`, `owner` (the authorizing user),
 *   `duplicated_template_id` and `request_id`. A refresh answers a new access token AND a new
 *   refresh token; the refresh token presented is dead from then on.
 * - The documents give no lifetime for a public connection's access token and the answer has no
 *   `expires_in`: here it does not expire on its own, unless a test sets a lifetime with
 *   `setAccessTokenLifetime('notion', s)` (then `expires_in` is sent and honoured).
 * - The `legacyTokens` switch stands for the older behaviour: one access token that never
 *   expires and no refresh token.
 * - Errors are Notion's error object `{"object": "error", "status", "code", "message",
 *   "request_id"}`: `unauthorized` (401) for client or token, `invalid_grant` (400) for a code or
 *   refresh token, `invalid_json`, `invalid_request`, `validation_error`, `missing_version`.
 * - Every API request needs a `Notion-Version` header: without it, 400 `missing_version`.
 * - `POST /v1/oauth/revoke` (Basic, `{"token"}`) revokes the authorization; `POST
 *   /v1/oauth/introspect` answers `{"active", "scope", "iat"}`.
 */
import { randomUUID } from 'node:crypto';
import { basicAuth, bearer, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { headerOf, stableUuid } from './kit.js';
import { booleanSwitch, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['ada', 'grace'];
const REALM = 'notion';

function notionError(status: number, code: string, message: string): SimResponse {
  return {
    ...json(status, { object: 'error', status, code, message, request_id: randomUUID() }),
    oracle: { issuedAccessToken: null, issuedRefreshToken: null, revokedToken: null },
  };
}

export function notion(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: stableUuid(`notion client ${cred.hex(16)}`),
    clientSecret: `secret_${cred.alnum(43)}`,
    params: {},
  };
  const legacy = { value: false };
  /** Null unless a test set one: the documents give public tokens no lifetime. */
  const lifetime = () => state.accessLifetimeMs.get('notion') ?? null;
  const botId = (g: Grant) => stableUuid(`notion bot ${g.id}`);
  const workspaceId = (account: string) => stableUuid(`notion workspace ${account}`);
  const userIdOf = (account: string) => stableUuid(`notion user ${account}`);

  /** The JSON body of an OAuth request, after HTTP Basic client authentication; or the error. */
  function oauthRequest(req: SimRequest): Record<string, unknown> | SimResponse {
    const basic = basicAuth(req);
    if (!basic || basic.user !== client.clientId || basic.pass !== client.clientSecret)
      return notionError(
        401,
        'unauthorized',
        'Client authentication failed: send the client id and secret by HTTP Basic.',
      );
    if (!/application\/json/i.test(headerOf(req, 'content-type') ?? ''))
      return notionError(400, 'invalid_request', 'The body must be JSON (Content-Type: application/json).');
    try {
      const v: unknown = JSON.parse(req.body);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // answered below
    }
    return notionError(400, 'invalid_json', 'Error parsing JSON body.');
  }

  const isError = (v: Record<string, unknown> | SimResponse): v is SimResponse =>
    typeof (v as SimResponse).status === 'number' && 'headers' in v;

  function token(req: SimRequest): SimResponse {
    const body = oauthRequest(req);
    if (isError(body)) return body;
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    let grant: Grant | null;
    if (body['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('notion', REALM, str('code'), client.clientId, str('redirect_uri'));
      if (typeof code === 'string') return notionError(400, 'invalid_grant', `Invalid code: ${code}`);
      grant = state.newGrant({
        vendor: 'notion',
        realm: REALM,
        clientId: client.clientId,
        account: code.account,
        scope: '',
      });
    } else if (body['grant_type'] === 'refresh_token') {
      grant = state.grantByRefreshToken('notion', REALM, str('refresh_token'));
      if (!grant) return notionError(400, 'invalid_grant', 'Invalid refresh token.');
      grant.refreshes++;
    } else {
      return notionError(
        400,
        'validation_error',
        'body.grant_type should be "authorization_code" or "refresh_token".',
      );
    }
    const ms = lifetime();
    const t = state.issueAccessToken(grant, `ntn_${alnum(46)}`, legacy.value ? null : ms);
    if (!legacy.value) state.setRefreshToken(grant, `nrt_${alnum(46)}`, null);
    return json(200, {
      access_token: t.token,
      token_type: 'bearer',
      ...(legacy.value ? {} : { refresh_token: grant.refreshToken }),
      ...(ms !== null && !legacy.value ? { expires_in: Math.round(ms / 1000) } : {}),
      bot_id: botId(grant),
      workspace_name: `${grant.account}'s Workspace`,
      workspace_icon: null,
      workspace_id: workspaceId(grant.account),
      owner: {
        type: 'user',
        user: {
          object: 'user',
          id: userIdOf(grant.account),
          name: grant.account,
          avatar_url: null,
          type: 'person',
          person: { email: `${grant.account}@example.com` },
        },
      },
      duplicated_template_id: null,
      request_id: randomUUID(),
    });
  }

  /** The grant a token (access or refresh) belongs to, if it is live. */
  function grantOf(token: string | undefined): Grant | null {
    if (!token) return null;
    const byRefresh = state.grantByRefreshToken('notion', REALM, token);
    if (byRefresh) return byRefresh;
    const t = state.accessTokens.get(token);
    if (!t || t.revoked || t.expiresAt <= state.clock.now()) return null;
    const g = state.grants.get(t.grantId);
    return g && g.vendor === 'notion' && !g.revoked ? g : null;
  }

  function revoke(req: SimRequest): SimResponse {
    const body = oauthRequest(req);
    if (isError(body)) return body;
    const t = typeof body['token'] === 'string' ? body['token'] : undefined;
    const grant = grantOf(t);
    if (!grant) return notionError(400, 'invalid_grant', 'Invalid token.');
    state.revokeGrant(grant);
    return { ...json(200, { request_id: randomUUID() }), oracle: { revokedToken: t ?? null } };
  }

  function introspect(req: SimRequest): SimResponse {
    const body = oauthRequest(req);
    if (isError(body)) return body;
    const t = typeof body['token'] === 'string' ? body['token'] : undefined;
    const grant = grantOf(t);
    if (!grant) return json(200, { active: false, request_id: randomUUID() });
    // The simulator keeps no issue time per token: `iat` is the time of the answer.
    return json(200, {
      active: true,
      scope: 'read_content update_content insert_content',
      iat: Math.floor(state.clock.now() / 1000),
      request_id: randomUUID(),
    });
  }

  function usersMe(req: SimRequest): SimResponse {
    if (!headerOf(req, 'notion-version'))
      return notionError(
        400,
        'missing_version',
        'Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.',
      );
    const grant = state.useAccessToken('notion', REALM, bearer(req));
    if (!grant) return notionError(401, 'unauthorized', 'API token is invalid.');
    return json(200, {
      object: 'user',
      id: botId(grant),
      name: 'Simulated connection',
      avatar_url: null,
      type: 'bot',
      bot: {
        owner: { type: 'user', user: { object: 'user', id: userIdOf(grant.account) } },
        workspace_name: `${grant.account}'s Workspace`,
      },
      request_id: randomUUID(),
    });
  }

  return {
    vendor: 'notion',
    switches: { legacyTokens: booleanSwitch(legacy) },
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'v1/oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'notion',
            displayName: 'Notion',
            realm: REALM,
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            pkce: false,
            codeLength: 36,
            checkRequest: (q) =>
              q.get('owner') === 'user'
                ? null
                : { error: 'invalid_request', description: 'owner=user is required.' },
          },
          consent,
        );
      }
      const post = req.method === 'POST';
      if (post && path === 'v1/oauth/token') return { endpoint: 'token', handle: () => token(req) };
      if (post && path === 'v1/oauth/revoke') return { endpoint: 'revoke', handle: () => revoke(req) };
      if (post && path === 'v1/oauth/introspect') return { endpoint: 'api', handle: () => introspect(req) };
      if (path === 'v1/users/me' && req.method === 'GET')
        return { endpoint: 'api', handle: () => usersMe(req) };
      if (segments[0] === 'v1')
        return {
          endpoint: 'api',
          handle: () => notionError(400, 'invalid_request_url', 'Invalid request URL.'),
        };
      return null;
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/notion/v1/oauth/authorize`,
          token: `${origin}/notion/v1/oauth/token`,
          revoke: `${origin}/notion/v1/oauth/revoke`,
          apiBase: `${origin}/notion/v1/`,
        },
        identityPath: 'users/me',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: [],
      };
    },
  };
}
