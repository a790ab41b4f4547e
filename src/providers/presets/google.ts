import type { ProviderSpec } from '../spec.js';

/**
 * Google ("Using OAuth 2.0 for Web Server Applications"): a refresh token comes only when the
 * authorization says `access_type=offline`, and again after the first consent only with
 * `prompt=consent`; access tokens live an hour; refresh tokens do not rotate, die after six
 * months unused, and after seven days for an app whose consent screen is in "Testing"; a
 * revocation of either token ends the grant.
 */
export const google: ProviderSpec = {
  id: 'google',
  displayName: 'Google',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  revocationUrl: 'https://oauth2.googleapis.com/revoke',
  apiBaseUrl: 'https://www.googleapis.com/',
  clientAuth: 'form',
  pkce: true,
  authorizationParams: { access_type: 'offline', prompt: 'consent' },
  scopes: ['https://www.googleapis.com/auth/userinfo.email'],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  // A refresh token unused for six months dies.
  refreshTokenLifetime: { seconds: 183 * 24 * 3600, sliding: true },
  redirectAuthHosts: ['*.googleapis.com'],
  errorDialect: 'rfc6749',
  identityPath: 'oauth2/v3/userinfo',
  urls: { userinfo: 'https://openidconnect.googleapis.com/v1/userinfo' },
  notes:
    'Baton asks for access_type=offline and prompt=consent, without which Google gives no refresh token after the first consent. Apps in "Testing" get refresh tokens that die after 7 days; publish the app for lasting ones. Google keeps about 100 live refresh tokens per account and client, dropping the oldest. Requests may go to any *.googleapis.com host by absolute URL.',
};
