import type { ProviderSpec } from '../spec.js';

/**
 * GitHub ("Generating a user access token for a GitHub App", "Refreshing user access tokens",
 * "Troubleshooting OAuth app access token request errors"): the client id and secret go in the
 * token request's body; the token endpoint answers form-encoded unless asked for JSON, and its
 * errors come inside a 200 (`bad_verification_code`, `bad_refresh_token`,
 * `incorrect_client_credentials`); a GitHub App's user tokens live 8 hours with a refresh token
 * for 6 months that each refresh replaces (an OAuth app's never expire); PKCE S256 is taken;
 * `DELETE /applications/{client_id}/grant` (the client by HTTP Basic, the token in a JSON body)
 * ends the authorization.
 */
export const github: ProviderSpec = {
  id: 'github',
  displayName: 'GitHub',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  revocationUrl: 'https://api.github.com/applications/{clientId}/grant',
  apiBaseUrl: 'https://api.github.com/',
  clientAuth: 'form',
  pkce: true,
  scopes: [],
  scopeSeparator: ' ',
  defaultExpiresIn: null,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'user',
  errorCodes: {
    bad_verification_code: 'invalid_grant',
    bad_refresh_token: 'invalid_grant',
    incorrect_client_credentials: 'invalid_client',
    redirect_uri_mismatch: 'invalid_request',
  },
  apiHeaders: { Accept: 'application/vnd.github+json', 'X-GitHub-Api-Version': '2022-11-28' },
  revocation: {
    auth: 'basic',
    method: 'DELETE',
    body: 'json',
    tokenField: 'access_token',
    takes: 'access_token',
  },
  notes:
    'GitHub answers token errors inside a 200; Baton reads them as the typed errors they mean. A GitHub App’s user tokens expire after 8 hours and are refreshed with a refresh token that lasts 6 months and is replaced by each refresh; an OAuth app’s tokens never expire (scopes such as repo apply to OAuth apps only). Revoking deletes the whole authorization of the app.',
};
