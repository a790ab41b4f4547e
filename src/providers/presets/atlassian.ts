import type { ProviderSpec } from '../spec.js';

/**
 * Atlassian Cloud ("OAuth 2.0 (3LO) apps", rotating refresh tokens): the authorize request
 * names `audience=api.atlassian.com` and `prompt=consent`; a refresh token comes only with
 * `offline_access` and is replaced by every refresh (90 days of inactivity, 365 days from
 * consent at most); access tokens live an hour; the client id and secret go in the token
 * request's body; the sites a token reaches are listed by `accessible-resources`, and product
 * APIs go through `/ex/{product}/{cloudId}/`.
 */
export const atlassian: ProviderSpec = {
  id: 'atlassian',
  displayName: 'Atlassian (Jira, Confluence)',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://auth.atlassian.com/authorize',
  tokenUrl: 'https://auth.atlassian.com/oauth/token',
  apiBaseUrl: 'https://api.atlassian.com/ex/jira/{cloudId}/',
  clientAuth: 'json',
  pkce: false,
  authorizationParams: { audience: 'api.atlassian.com', prompt: 'consent' },
  scopes: ['read:jira-work', 'read:jira-user', 'offline_access'],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  refreshTokenLifetime: { seconds: 90 * 24 * 3600, sliding: true, absoluteSeconds: 365 * 24 * 3600 },
  // Reuse after a 10-minute leeway revokes every refresh token of the grant: Baton never does it.
  refreshTokenReuse: { mode: 'window', seconds: 600, revokesFamily: true },
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'rest/api/3/myself',
  urls: { accessibleResources: 'https://api.atlassian.com/oauth/token/accessible-resources' },
  connectSteps: [
    {
      endpoint: 'accessibleResources',
      capture: { cloudId: 'id' },
      whenEmpty:
        'The Atlassian account gave access to no site (or not the cloudId asked for): choose a site on the consent screen and authorize again.',
    },
  ],
  notes:
    'Keep offline_access in the scopes, or Atlassian gives no refresh token. After consent Baton reads accessible-resources and keeps the first site’s id as cloudId (pass params: { cloudId } to choose one); the API base is Jira’s — for Confluence set apiBaseUrl to https://api.atlassian.com/ex/confluence/{cloudId}/. Refresh tokens rotate on every use and end 365 days after consent whatever happens. Atlassian has no revocation endpoint: users remove the app from their account.',
};
