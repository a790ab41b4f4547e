import type { ProviderSpec } from '../spec.js';

/**
 * Checkfront ("Connecting to the API"): one host per company, consumer key/secret by HTTP
 * Basic on /oauth/token/ only, access tokens for 14000 s, refresh tokens for 14 days that are
 * replaced on every refresh, token pairs (API key/secret by Basic) for server-to-server use,
 * and migrated companies answering 301 to *.manage.{na1,eu1}.bookingplatform.app.
 */
export const checkfront: ProviderSpec = {
  id: 'checkfront',
  displayName: 'Checkfront',
  authModes: ['oauth2', 'token_pair'],
  params: {
    company: {
      description: 'the company subdomain, as in https://{company}.checkfront.com',
      pattern: '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?',
      label: 'Company',
      hint: 'The name in your address, as in https://name.checkfront.com. Lower-case letters, digits and dashes.',
      format: 'lower-case letters, digits and dashes, as in your address',
    },
  },
  accountParam: 'company',
  authorizationUrl: 'https://{company}.checkfront.com/oauth/',
  tokenUrl: 'https://{company}.checkfront.com/oauth/token/',
  apiBaseUrl: 'https://{company}.checkfront.com/',
  clientAuth: 'basic',
  pkce: false,
  scopes: [],
  scopeSeparator: ' ',
  defaultExpiresIn: 14000,
  refreshTokenLifetime: { seconds: 14 * 24 * 3600, sliding: true },
  redirectAuthHosts: ['*.bookingplatform.app'],
  errorDialect: 'rfc6749',
  identityPath: 'api/3.0/ping',
  authorizationCodeLifetimeSeconds: 60,
  notes:
    'Authorization codes must be exchanged within 60 seconds. Every refresh replaces the refresh token; the old one stops working. Consumer key/secret are sent only to /oauth/token/.',
};
