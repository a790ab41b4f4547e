import type { ProviderSpec } from '../spec.js';

/**
 * Zoom ("OAuth 2.0 for Zoom", "Server-to-Server OAuth"): the client id and secret go by HTTP
 * Basic only; access tokens live an hour; every refresh answers a new refresh token and the one
 * presented dies; a refresh token unused for 90 days dies; server-to-server apps get tokens with
 * `grant_type=account_credentials` and their `account_id`, without a refresh token;
 * `/oauth/revoke` ends the authorization.
 */
export const zoom: ProviderSpec = {
  id: 'zoom',
  displayName: 'Zoom',
  authModes: ['oauth2', 'client_credentials'],
  params: {
    accountId: {
      description: 'the account of a server-to-server app (client credentials only)',
      optional: true,
      pattern: '[A-Za-z0-9_-]{1,64}',
      label: 'Account ID',
      hint: 'Only for a server-to-server app: the account id shown with its credentials.',
      format: 'letters, digits, dashes and underscores',
    },
  },
  authorizationUrl: 'https://zoom.us/oauth/authorize',
  tokenUrl: 'https://zoom.us/oauth/token',
  revocationUrl: 'https://zoom.us/oauth/revoke',
  apiBaseUrl: 'https://api.zoom.us/v2/',
  clientAuth: 'basic',
  pkce: true,
  scopes: ['user:read'],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  refreshTokenLifetime: { seconds: 90 * 24 * 3600, sliding: true },
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'users/me',
  clientCredentialsGrant: { grantType: 'account_credentials', params: { account_id: '{accountId}' } },
  notes:
    'User apps connect through the authorization flow; every refresh replaces the refresh token. Server-to-server apps connect without a user: baton connect zoom --param accountId=<id> (grant_type=account_credentials), re-granted when the hour is up; give that app’s client its own registration with params: { accountId }.',
};
