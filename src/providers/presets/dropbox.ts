import type { ProviderSpec } from '../spec.js';

/**
 * Dropbox (the OAuth Guide, "Using OAuth 2.0 with offline access", the HTTP reference): a
 * refresh token comes only with `token_access_type=offline`; access tokens are short-lived (four
 * hours); the refresh token neither rotates nor expires; the API's RPC endpoints are POST only;
 * `/2/auth/token/revoke` takes the token to revoke as its own Bearer credential and no body, and
 * ends its refresh token too; file contents live on content.dropboxapi.com.
 */
export const dropbox: ProviderSpec = {
  id: 'dropbox',
  displayName: 'Dropbox',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://www.dropbox.com/oauth2/authorize',
  tokenUrl: 'https://api.dropboxapi.com/oauth2/token',
  revocationUrl: 'https://api.dropboxapi.com/2/auth/token/revoke',
  apiBaseUrl: 'https://api.dropboxapi.com/2/',
  clientAuth: 'basic',
  pkce: true,
  authorizationParams: { token_access_type: 'offline' },
  scopes: ['account_info.read'],
  scopeSeparator: ' ',
  defaultExpiresIn: 14400,
  refreshTokenLifetime: null,
  redirectAuthHosts: ['content.dropboxapi.com'],
  errorDialect: 'rfc6749',
  identityPath: 'users/get_current_account',
  identityMethod: 'POST',
  captures: {
    accountId: { from: 'token', path: 'account_id', kind: 'text', description: 'the Dropbox account' },
  },
  revocation: { auth: 'token', body: 'none', takes: 'access_token' },
  notes:
    'Baton asks for token_access_type=offline, without which Dropbox gives no refresh token. Access tokens last four hours; the refresh token lasts until revoked. RPC endpoints are POST (send no body or a JSON one); content endpoints (content.dropboxapi.com) take absolute URLs.',
};
