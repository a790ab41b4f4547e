/**
 * Slack, per "Installing with OAuth", the `oauth.v2.access` and `auth.revoke` method pages,
 * "Using token rotation" and the Web API's common errors:
 * - The authorize page takes `scope` (bot scopes) and `user_scope` (user scopes), each
 *   comma-separated, and no `response_type`; at least one of the two is needed.
 * - `oauth.v2.access` takes its arguments as a form body or in the query (JSON too), with the
 *   client id and secret by HTTP Basic (preferred) or as `client_id` / `client_secret`.
 *   `grant_type` is `authorization_code` (the default) or `refresh_token`.
 * - The bot token is at the top level (`token_type: "bot"`); the user token, when user scopes
 *   were asked for, is under `authed_user` (`id`, `scope`, `access_token`, `token_type: "user"`,
 *   and `refresh_token`, `expires_in` with rotation). `team`, `app_id`, `bot_user_id`,
 *   `enterprise` and `is_enterprise_install` come along.
 * - Token rotation is a per-app switch (`tokenRotation`, on here by default). With it, access
 *   tokens (`xoxe.xoxb-…`, `xoxe.xoxp-…`) last 12 hours (`expires_in: 43200`) and come with a
 *   refresh token (`xoxe-1-…`) that works once: a refresh answers a new access token and a new
 *   refresh token, and the one presented is dead. Without it, tokens (`xoxb-…`, `xoxp-…`) never
 *   expire and there is no refresh token.
 * - EVERY answer is HTTP 200 with `"ok"`: errors are `{"ok": false, "error": "…"}`
 *   (`invalid_code`, `bad_redirect_uri`, `invalid_client_id`, `bad_client_secret`,
 *   `invalid_grant_type`, `invalid_refresh_token`, `not_authed`, `invalid_auth`,
 *   `token_expired`, `token_revoked`, `unknown_method`), the Web API methods included.
 * - Web API methods (`auth.test`, `auth.revoke`) take the token as a bearer header or a `token`
 *   argument. `auth.revoke` revokes the token it is called with (and its refresh token);
 *   `test=1` only pretends.
 */
import { bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, HOUR, headerOf, stableDigits } from './kit.js';
import { booleanSwitch, type SimVendor, type VendorRoute } from './vendor.js';

const ACCOUNTS = ['alice', 'bob'];
const BOT_SCOPES = ['chat:write', 'channels:read', 'users:read', 'commands'];
const USER_SCOPES = ['search:read', 'users:read', 'users.profile:read'];
const TEAM = { id: 'T0SIMTEAM', name: 'Simulated Team' };
const ROTATING_LIFETIME_MS = 12 * HOUR;
/** Grants keep their kind in their realm, so a state file restores it. */
type Kind = 'bot' | 'user';

const userId = (account: string) => `U${stableDigits(`slack user ${account}`, 9)}`;
const ok = (body: Record<string, unknown>): SimResponse =>
  json(200, { ok: true, ...body }, { 'content-type': 'application/json; charset=utf-8' });
const fail = (error: string, extra: SimResponse['oracle'] = {}): SimResponse => ({
  ...json(200, { ok: false, error }, { 'content-type': 'application/json; charset=utf-8' }),
  oracle: { accepted: false, issuedAccessToken: null, issuedRefreshToken: null, ...extra },
});

export function slack(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: `${stableDigits(cred.hex(8), 10)}.${stableDigits(cred.hex(8), 12)}`,
    clientSecret: cred.hex(16),
    params: {},
  };
  const appId = `A${stableDigits(client.clientId, 10)}`;
  const botUserId = `U${stableDigits(`${client.clientId} bot`, 9)}`;
  const rotation = { value: true };
  const lifetime = () => state.accessLifetime('slack', ROTATING_LIFETIME_MS);

  /** Issues a token of the grant's kind, rotating or not, and sets its refresh token. */
  function issue(grant: Grant): { token: Record<string, unknown>; access: string; refresh: string | null } {
    const kind = grant.realm as Kind;
    const prefix = kind === 'bot' ? 'xoxb' : 'xoxp';
    const number = `${stableDigits(TEAM.id, 12)}-${stableDigits(grant.account, 12)}`;
    if (!rotation.value && grant.refreshToken === null) {
      const access = `${prefix}-${number}-${alnum(24)}`;
      state.issueAccessToken(grant, access, null);
      return { token: { access_token: access }, access, refresh: null };
    }
    const access = `xoxe.${prefix}-1-${alnum(40)}`;
    const t = state.issueAccessToken(grant, access, lifetime());
    const refresh = `xoxe-1-${alnum(60)}`;
    state.setRefreshToken(grant, refresh, null);
    return {
      token: {
        access_token: access,
        refresh_token: refresh,
        expires_in: Math.round((t.expiresAt - state.clock.now()) / 1000),
      },
      access,
      refresh,
    };
  }

  function token(req: SimRequest): SimResponse {
    const fields = { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
    const creds = clientCredentials(req, fields, { basic: true, body: true });
    if (!creds || creds.id !== client.clientId) return fail('invalid_client_id');
    if (creds.secret !== client.clientSecret) return fail('bad_client_secret');
    const grantType = fields['grant_type'] ?? 'authorization_code';
    if (grantType === 'refresh_token') {
      const presented = fields['refresh_token'];
      const grant =
        state.grantByRefreshToken('slack', 'bot', presented) ??
        state.grantByRefreshToken('slack', 'user', presented);
      if (!grant || grant.clientId !== client.clientId) return fail('invalid_refresh_token');
      grant.refreshes++;
      const issued = issue(grant);
      const kind = grant.realm as Kind;
      return {
        ...ok({
          app_id: appId,
          scope: grant.scope,
          token_type: kind,
          ...issued.token,
          ...(kind === 'bot' ? { bot_user_id: botUserId } : { user_id: userId(grant.account) }),
          team: TEAM,
          enterprise: null,
          is_enterprise_install: false,
        }),
        oracle: { issuedAccessToken: issued.access, issuedRefreshToken: issued.refresh },
      };
    }
    if (grantType !== 'authorization_code') return fail('invalid_grant_type');
    const code = state.redeemCode(
      'slack',
      'workspace',
      fields['code'],
      client.clientId,
      fields['redirect_uri'],
    );
    if (typeof code === 'string')
      return fail(code.includes('redirect_uri') ? 'bad_redirect_uri' : 'invalid_code');
    const userScope = code.extra?.['user_scope'] ?? '';
    const body: Record<string, unknown> = { app_id: appId };
    let issuedAccess: string | null = null;
    let issuedRefresh: string | null = null;
    if (code.scope) {
      const grant = state.newGrant({
        vendor: 'slack',
        realm: 'bot',
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      const issued = issue(grant);
      Object.assign(body, { scope: code.scope, token_type: 'bot', ...issued.token, bot_user_id: botUserId });
      issuedAccess = issued.access;
      issuedRefresh = issued.refresh;
    }
    const authed: Record<string, unknown> = { id: userId(code.account) };
    if (userScope) {
      const grant = state.newGrant({
        vendor: 'slack',
        realm: 'user',
        clientId: client.clientId,
        account: code.account,
        scope: userScope,
      });
      const issued = issue(grant);
      Object.assign(authed, { scope: userScope, ...issued.token, token_type: 'user' });
      issuedAccess ??= issued.access;
      issuedRefresh ??= issued.refresh;
    }
    Object.assign(body, { authed_user: authed, team: TEAM, enterprise: null, is_enterprise_install: false });
    return { ...ok(body), oracle: { issuedAccessToken: issuedAccess, issuedRefreshToken: issuedRefresh } };
  }

  /** The token a Web API call carries: a bearer header or a `token` argument. */
  function presented(req: SimRequest): string | null {
    const m = /^bearer\s+(\S+)\s*$/i.exec(headerOf(req, 'authorization') ?? '');
    return m?.[1] ?? req.url.searchParams.get('token') ?? bodyFields(req)?.['token'] ?? null;
  }

  /** The grant behind a Web API call's token, or the error Slack names for it. */
  function caller(token: string | null): Grant | string {
    if (!token) return 'not_authed';
    const grant = state.useAccessToken('slack', 'bot', token) ?? state.useAccessToken('slack', 'user', token);
    if (grant) return grant;
    const status = state.tokenInfo(token).status;
    const known = state.accessTokens.get(token);
    const ours = known && state.grants.get(known.grantId)?.vendor === 'slack';
    if (ours && status === 'expired') return 'token_expired';
    if (ours && status === 'revoked') return 'token_revoked';
    return 'invalid_auth';
  }

  function method(req: SimRequest, name: string): SimResponse {
    const token = presented(req);
    const who = caller(token);
    if (typeof who === 'string') return fail(who, name === 'auth.revoke' ? { revokedToken: null } : {});
    if (name === 'auth.test') {
      return {
        ...ok({
          url: 'https://simulated-team.slack.com/',
          team: TEAM.name,
          user: who.realm === 'bot' ? 'simbot' : who.account,
          team_id: TEAM.id,
          user_id: who.realm === 'bot' ? botUserId : userId(who.account),
          ...(who.realm === 'bot' ? { bot_id: `B${stableDigits(appId, 10)}` } : {}),
          is_enterprise_install: false,
        }),
        oracle: { accepted: true },
      };
    }
    if (name === 'auth.revoke') {
      const args = { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
      const test = args['test'] === '1' || args['test'] === 'true';
      if (!test) state.revokeGrant(who);
      return { ...ok({ revoked: !test }), oracle: { accepted: true, revokedToken: test ? null : token } };
    }
    return { ...fail('unknown_method'), oracle: { accepted: true } };
  }

  return {
    vendor: 'slack',
    switches: { tokenRotation: booleanSwitch(rotation) },
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      if (path === 'oauth/v2/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'slack',
            displayName: 'Slack',
            realm: 'workspace',
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            pkce: false,
            codeLength: 40,
            responseTypeOptional: true,
            checkScope: (s) =>
              s.split(',').every((x) => x === '' || BOT_SCOPES.includes(x)) ? null : 'invalid_scope',
            checkRequest: (q) => {
              const user = (q.get('user_scope') ?? '').split(',').filter(Boolean);
              if (!user.every((x) => USER_SCOPES.includes(x)))
                return { error: 'invalid_scope', description: 'A user_scope is not one this app asks for.' };
              if (!q.get('scope') && user.length === 0)
                return {
                  error: 'invalid_scope',
                  description: 'Ask for bot scopes (scope) or user scopes (user_scope).',
                };
              return null;
            },
            remember: (q) => ({ user_scope: q.get('user_scope') ?? '' }),
          },
          consent,
        );
      }
      if (segments[0] !== 'api' || segments.length !== 2) return null;
      const name = segments[1] as string;
      if (name === 'oauth.v2.access') return { endpoint: 'token', handle: () => token(req) };
      if (name === 'auth.revoke') return { endpoint: 'revoke', handle: () => method(req, name) };
      return { endpoint: 'api', handle: () => method(req, name) };
    },
    discovery(origin) {
      return {
        params: {},
        endpoints: {
          authorize: `${origin}/slack/oauth/v2/authorize`,
          token: `${origin}/slack/api/oauth.v2.access`,
          revoke: `${origin}/slack/api/auth.revoke`,
          apiBase: `${origin}/slack/api/`,
        },
        identityPath: 'auth.test',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: [...new Set([...BOT_SCOPES, ...USER_SCOPES])],
      };
    },
  };
}
