import type { ProviderSpec } from '../spec.js';

/**
 * HubSpot ("Manage OAuth access tokens using the v3 APIs", the OAuth tokens reference): the
 * install URL takes space-separated scopes that must include `oauth`; every token request
 * parameter, the client id and secret included, goes in a form body; access tokens live 30
 * minutes; the refresh token does not rotate or expire while the app stays installed; errors
 * name their own code (`BAD_REFRESH_TOKEN`, `BAD_AUTH_CODE`, …) beside or instead of RFC 6749's.
 */
export const hubspot: ProviderSpec = {
  id: 'hubspot',
  displayName: 'HubSpot',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://app.hubspot.com/oauth/authorize',
  tokenUrl: 'https://api.hubapi.com/oauth/v3/token',
  revocationUrl: 'https://api.hubapi.com/oauth/2026-03/token/revoke',
  apiBaseUrl: 'https://api.hubapi.com/',
  clientAuth: 'form',
  pkce: false,
  scopes: ['oauth'],
  scopeSeparator: ' ',
  defaultExpiresIn: 1800,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'account-info/v3/details',
  captures: {
    hubId: { from: 'token', path: 'hub_id', description: 'the HubSpot account (hub) installed in' },
  },
  errorShape: { code: 'status', description: 'message' },
  errorCodes: {
    BAD_REFRESH_TOKEN: 'invalid_grant',
    BAD_AUTH_CODE: 'invalid_grant',
    BAD_CLIENT_ID: 'invalid_client',
    BAD_CLIENT_SECRET: 'invalid_client',
    BAD_REDIRECT_URI: 'invalid_request',
    BAD_GRANT_TYPE: 'unsupported_grant_type',
  },
  notes:
    'Keep oauth in the scopes: HubSpot requires it. Access tokens last 30 minutes; the refresh token stays the same until the app is uninstalled. Revoking deletes the refresh token; access tokens already issued work until they expire.',
};
