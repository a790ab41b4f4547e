import type { ProviderSpec } from '../spec.js';

/**
 * Slack ("Installing with OAuth", `oauth.v2.access`, `auth.revoke`, "Using token rotation"):
 * bot scopes go in `scope` (comma-separated), user scopes in `user_scope`; the client goes by
 * HTTP Basic; every answer is HTTP 200 with `"ok"`, errors as `{"ok": false, "error": …}` — the
 * token endpoint's and the API's alike; the bot token answers `token_type: "bot"` but is sent as
 * a Bearer token; with token rotation on, access tokens live 12 hours and each refresh token
 * works once; `auth.revoke` revokes the token it is called with.
 */
export const slack: ProviderSpec = {
  id: 'slack',
  displayName: 'Slack',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://slack.com/oauth/v2/authorize',
  tokenUrl: 'https://slack.com/api/oauth.v2.access',
  revocationUrl: 'https://slack.com/api/auth.revoke',
  apiBaseUrl: 'https://slack.com/api/',
  clientAuth: 'basic',
  pkce: false,
  scopes: ['users:read'],
  scopeSeparator: ',',
  defaultExpiresIn: null,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'auth.test',
  captures: {
    teamId: { from: 'token', path: 'team.id', description: 'the workspace the app was installed in' },
    authedUserId: { from: 'token', path: 'authed_user.id', description: 'the user who installed it' },
  },
  tokenHeader: { header: 'Authorization', template: 'Bearer {accessToken}' },
  errorCodes: {
    invalid_code: 'invalid_grant',
    code_already_used: 'invalid_grant',
    invalid_refresh_token: 'invalid_grant',
    invalid_client_id: 'invalid_client',
    bad_client_secret: 'invalid_client',
    bad_redirect_uri: 'invalid_request',
    invalid_grant_type: 'unsupported_grant_type',
  },
  apiTokenRejection: {
    path: 'error',
    values: ['invalid_auth', 'not_authed', 'token_expired', 'token_revoked', 'account_inactive'],
  },
  revocation: { auth: 'token', body: 'none', takes: 'access_token' },
  notes:
    'Slack answers every error with HTTP 200 and "ok": false: Baton reads the token endpoint’s as the typed errors they mean, and an API answer of invalid_auth, not_authed or token_expired as a refused token (one refresh, one retry). The bot token is stored and sent as Bearer; user scopes go in extraParams: { user_scope } and the user’s token stays in the token answer. Tokens expire only with token rotation turned on for the app.',
};
