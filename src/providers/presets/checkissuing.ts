import type { ProviderSpec } from '../spec.js';

/**
 * Checkissuing ("Authenticating With OpenAuth 2.0"): client_credentials only, client id and
 * secret by HTTP Basic, one-hour tokens with no refresh token, separate sandbox and production
 * credentials, and every failure worded `{"status":0,"errors":["Access Denied"]}`.
 * The document does not name its hosts; these are the conventional ones — override tokenUrl
 * and apiBaseUrl if your account lives elsewhere.
 */
export const checkissuing: ProviderSpec = {
  id: 'checkissuing',
  displayName: 'Checkissuing',
  authModes: ['client_credentials'],
  params: {
    environment: {
      description: 'production or sandbox; each has its own API credentials',
      values: ['production', 'sandbox'],
      default: 'production',
      label: 'Environment',
      hint: 'Sandbox keys work only with the sandbox; production keys only with production.',
      valueLabels: { production: 'Production', sandbox: 'Sandbox' },
      vars: {
        production: { host: 'api.checkissuing.com' },
        sandbox: { host: 'sandbox.checkissuing.com' },
      },
    },
  },
  tokenUrl: 'https://{host}/oauth/token',
  apiBaseUrl: 'https://{host}/',
  clientAuth: 'basic',
  pkce: false,
  scopes: [],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'checkissuing',
  environmentParam: 'environment',
  identityPath: 'v1/account',
  notes: 'No refresh token: Baton requests a new token with the client credentials when the old one is due.',
};
