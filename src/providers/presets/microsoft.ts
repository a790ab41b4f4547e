import type { ProviderSpec } from '../spec.js';

/**
 * Microsoft identity platform v2.0 ("OAuth 2.0 authorization code flow", "Refresh tokens"):
 * the tenant is part of every URL (`common`, `organizations`, `consumers` or a tenant id); a
 * refresh token comes only with `offline_access`; access tokens live 60–90 minutes; every
 * refresh answers a new refresh token (each lives 90 days) and must name `scope` again; there is
 * no RFC 7009 revocation endpoint.
 */
export const microsoft: ProviderSpec = {
  id: 'microsoft',
  displayName: 'Microsoft (Entra ID, Graph)',
  authModes: ['oauth2'],
  params: {
    tenant: {
      description: 'common, organizations, consumers, or a tenant id or domain',
      default: 'common',
      pattern: '[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?',
      label: 'Tenant',
      hint: 'common for any account; organizations for work or school accounts; consumers for personal ones; or your directory’s id or domain.',
      format: 'common, organizations, consumers, a tenant id or a domain',
    },
  },
  authorizationUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize',
  tokenUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
  apiBaseUrl: 'https://graph.microsoft.com/v1.0/',
  clientAuth: 'form',
  pkce: true,
  scopes: ['offline_access', 'User.Read'],
  scopeSeparator: ' ',
  refreshScopes: true,
  defaultExpiresIn: 3600,
  refreshTokenLifetime: { seconds: 90 * 24 * 3600, sliding: true },
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'me',
  urls: { userinfo: 'https://graph.microsoft.com/oidc/userinfo' },
  notes:
    'Keep offline_access in the scopes, or Microsoft gives no refresh token. Each refresh sends the connection’s scopes again (Microsoft requires scope on refresh) and stores the new refresh token. The tenant param defaults to common; set it to organizations, consumers or your tenant id to restrict sign-in. Microsoft has no token revocation endpoint: an administrator revokes a user’s sessions.',
};
