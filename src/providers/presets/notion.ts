import type { ProviderSpec } from '../spec.js';

/**
 * Notion (the Authorization guide, "Create a token", "Refresh a token", "Revoke a token"): the
 * authorize URL names `owner=user` and no scopes (pages are chosen there); the token endpoint
 * takes the client by HTTP Basic and a JSON body; the answer names the workspace and the bot and
 * gives no lifetime; each refresh answers a new refresh token; errors are Notion's error object
 * (`code`, `message`); every API request names a `Notion-Version`.
 */
export const notion: ProviderSpec = {
  id: 'notion',
  displayName: 'Notion',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://api.notion.com/v1/oauth/authorize',
  tokenUrl: 'https://api.notion.com/v1/oauth/token',
  revocationUrl: 'https://api.notion.com/v1/oauth/revoke',
  apiBaseUrl: 'https://api.notion.com/v1/',
  clientAuth: 'basic',
  tokenRequestBody: 'json',
  pkce: false,
  authorizationParams: { owner: 'user' },
  scopes: [],
  scopeSeparator: ' ',
  defaultExpiresIn: null,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'users/me',
  captures: {
    workspaceId: { from: 'token', path: 'workspace_id', description: 'the workspace connected' },
    botId: { from: 'token', path: 'bot_id', description: 'the integration’s bot user in it' },
  },
  errorShape: { code: 'code', description: 'message' },
  errorCodes: { unauthorized: 'invalid_client' },
  apiHeaders: { 'Notion-Version': '2022-06-28' },
  revocation: { body: 'json' },
  notes:
    'Every API request carries Notion-Version: 2022-06-28 unless the caller sends its own. The user picks pages on Notion’s consent screen, so there are no scopes. Notion gives no access-token lifetime; each refresh replaces the refresh token, which Baton stores.',
};
