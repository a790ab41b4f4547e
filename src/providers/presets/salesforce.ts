import type { ProviderSpec } from '../spec.js';

/**
 * Salesforce ("OAuth 2.0 Web Server Flow", "Refresh Token Flow", "Revoke OAuth Tokens"):
 * production orgs sign in at login.salesforce.com, sandboxes at test.salesforce.com; the token
 * answer has no `expires_in` — an access token is a session that ends after the org's timeout
 * without use — and names the org's own host in `instance_url`, where the REST API lives; a
 * refresh token comes with the `refresh_token` (or `offline_access`) scope and, unless the app
 * turns on rotation, stays the same; an ended session answers 401 `INVALID_SESSION_ID`.
 */
export const salesforce: ProviderSpec = {
  id: 'salesforce',
  displayName: 'Salesforce',
  authModes: ['oauth2'],
  params: {
    environment: {
      description: 'production (login.salesforce.com) or sandbox (test.salesforce.com)',
      values: ['production', 'sandbox'],
      default: 'production',
      label: 'Environment',
      hint: 'Production orgs sign in at login.salesforce.com, sandboxes at test.salesforce.com.',
      valueLabels: { production: 'Production', sandbox: 'Sandbox' },
      vars: {
        production: { loginHost: 'login.salesforce.com' },
        sandbox: { loginHost: 'test.salesforce.com' },
      },
    },
  },
  authorizationUrl: 'https://{loginHost}/services/oauth2/authorize',
  tokenUrl: 'https://{loginHost}/services/oauth2/token',
  revocationUrl: 'https://{loginHost}/services/oauth2/revoke',
  apiBaseUrl: '{instanceUrl}/',
  clientAuth: 'form',
  pkce: true,
  scopes: ['api', 'refresh_token'],
  scopeSeparator: ' ',
  defaultExpiresIn: null,
  refreshTokenLifetime: null,
  redirectAuthHosts: ['*.salesforce.com', '*.force.com', '*.cloudforce.com'],
  errorDialect: 'rfc6749',
  environmentParam: 'environment',
  identityPath: 'services/oauth2/userinfo',
  captures: {
    instanceUrl: {
      from: 'token',
      path: 'instance_url',
      kind: 'url',
      required: true,
      description: 'the org’s own host, where its REST API lives',
    },
  },
  urls: { userinfo: 'https://{loginHost}/services/oauth2/userinfo' },
  errorCodes: { invalid_client_id: 'invalid_client' },
  notes:
    'The API base is the instance_url of the token answer (checked against *.salesforce.com, *.force.com, *.cloudforce.com), e.g. services/data/v62.0/sobjects. Tokens carry no lifetime: a session ends after the org’s timeout without use (two hours by default), the API then answers 401 INVALID_SESSION_ID, and Baton refreshes and retries once. For a My Domain login host, override authorizationUrl and tokenUrl.',
};
