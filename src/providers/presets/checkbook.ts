import type { ProviderSpec } from '../spec.js';

/**
 * Checkbook ("Bearer Token"): production and sandbox are separate hosts with separate
 * developer keys; one scope per authorization; the token endpoint takes client_id and
 * client_secret in a form body; bearer tokens last 15552000 s (180 days).
 */
export const checkbook: ProviderSpec = {
  id: 'checkbook',
  displayName: 'Checkbook',
  authModes: ['oauth2', 'api_key'],
  params: {
    environment: {
      description: 'production or sandbox; each has its own developer keys',
      values: ['production', 'sandbox'],
      default: 'production',
      label: 'Environment',
      hint: 'Sandbox keys work only with the sandbox; production keys only with production.',
      valueLabels: { production: 'Production', sandbox: 'Sandbox' },
      vars: {
        production: { appHost: 'app.checkbook.io', apiHost: 'api.checkbook.io' },
        sandbox: { appHost: 'sandbox.app.checkbook.io', apiHost: 'sandbox.checkbook.io' },
      },
    },
  },
  authorizationUrl: 'https://{appHost}/oauth/authorize',
  tokenUrl: 'https://{appHost}/web/v1/auth/oauth/token',
  apiBaseUrl: 'https://{apiHost}/',
  clientAuth: 'form',
  pkce: false,
  scopes: ['check'],
  scopeOptions: ['check', 'check_receive', 'single-use'],
  singleScope: true,
  scopeSeparator: ' ',
  defaultExpiresIn: 15552000,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  environmentParam: 'environment',
  identityPath: 'v3/user',
  apiKeyAuth: { header: 'Authorization', template: '{apiKey}:{apiSecret}' },
  singleUseScopes: ['single-use'],
  notes:
    'Scope is exactly one of check, check_receive, single-use. A single-use token works for one request. Sandbox and production keys differ.',
};
