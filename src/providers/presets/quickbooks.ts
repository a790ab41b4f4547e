import type { ProviderSpec } from '../spec.js';

/**
 * QuickBooks Online (Intuit, "Set up OAuth 2.0" and the authorization FAQ): one authorize and
 * one token endpoint for both environments, separate keys and API hosts for sandbox and
 * production; the company id arrives only as `realmId` on the callback and the API lives under
 * `/v3/company/{realmId}/`; the client goes by HTTP Basic; access tokens live an hour, refresh
 * tokens 100 days from their last use (the value changes about once a day); revocation takes a
 * JSON body; the API answers XML unless asked for JSON.
 */
export const quickbooks: ProviderSpec = {
  id: 'quickbooks',
  displayName: 'QuickBooks Online',
  authModes: ['oauth2'],
  params: {
    environment: {
      description: 'production or sandbox; each has its own keys and API host',
      values: ['production', 'sandbox'],
      default: 'production',
      label: 'Environment',
      hint: 'Development keys work with sandbox companies only; production keys with real companies.',
      valueLabels: { production: 'Production', sandbox: 'Sandbox' },
      vars: {
        production: { apiHost: 'quickbooks.api.intuit.com', accountsHost: 'accounts.platform.intuit.com' },
        sandbox: {
          apiHost: 'sandbox-quickbooks.api.intuit.com',
          accountsHost: 'sandbox-accounts.platform.intuit.com',
        },
      },
    },
  },
  authorizationUrl: 'https://appcenter.intuit.com/connect/oauth2',
  tokenUrl: 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer',
  revocationUrl: 'https://developer.api.intuit.com/v2/oauth2/tokens/revoke',
  apiBaseUrl: 'https://{apiHost}/v3/company/{realmId}/',
  clientAuth: 'basic',
  pkce: false,
  scopes: ['com.intuit.quickbooks.accounting'],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  refreshTokenLifetime: { seconds: 100 * 24 * 3600, sliding: true, absoluteSeconds: 5 * 365 * 24 * 3600 },
  refreshTokenExpiresInField: 'x_refresh_token_expires_in',
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  environmentParam: 'environment',
  identityPath: 'preferences',
  captures: {
    realmId: {
      from: 'callback',
      path: 'realmId',
      required: true,
      description: 'the QuickBooks company the authorization was for',
    },
  },
  urls: { userinfo: 'https://{accountsHost}/v1/openid_connect/userinfo' },
  revocation: { body: 'json' },
  apiHeaders: { Accept: 'application/json' },
  notes:
    'The company id (realmId) comes with the callback and goes into the API base; pass the whole callback URL to completeAuthorization. Sandbox and production keys and hosts differ: set environment=sandbox for development keys. Every refresh may return a new refresh token; Baton stores each one. API answers are asked for as JSON.',
};
