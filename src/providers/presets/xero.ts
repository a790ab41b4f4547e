import type { ProviderSpec } from '../spec.js';

/**
 * Xero (OAuth 2.0 auth code flow, "Tenants", the OAuth 2.0 FAQ): access tokens live 30 minutes;
 * a refresh token comes only with `offline_access`, is replaced by every refresh and dies after
 * 60 days unused; the client goes by HTTP Basic; every accounting call names its organisation in
 * `Xero-Tenant-Id`, one of the tenants `GET /connections` lists for the token.
 */
export const xero: ProviderSpec = {
  id: 'xero',
  displayName: 'Xero',
  authModes: ['oauth2'],
  params: {},
  authorizationUrl: 'https://login.xero.com/identity/connect/authorize',
  tokenUrl: 'https://identity.xero.com/connect/token',
  revocationUrl: 'https://identity.xero.com/connect/revocation',
  apiBaseUrl: 'https://api.xero.com/',
  clientAuth: 'basic',
  pkce: true,
  scopes: ['offline_access', 'accounting.settings.read'],
  scopeSeparator: ' ',
  defaultExpiresIn: 1800,
  refreshTokenLifetime: { seconds: 60 * 24 * 3600, sliding: true },
  // The replaced refresh token may be presented again for 30 minutes (a lost answer is recovered inside it).
  refreshTokenReuse: { mode: 'window', seconds: 1800 },
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'connections',
  urls: {
    connections: 'https://api.xero.com/connections',
    userinfo: 'https://identity.xero.com/connect/userinfo',
  },
  connectSteps: [
    {
      endpoint: 'connections',
      capture: { tenantId: 'tenantId' },
      whenEmpty:
        'No Xero organisation was connected (or not the tenantId asked for): choose an organisation on Xero’s consent screen and authorize again.',
    },
  ],
  apiHeaders: { 'Xero-Tenant-Id': '{tenantId}' },
  notes:
    'Keep offline_access in the scopes, or Xero gives no refresh token. After consent Baton reads GET /connections and keeps the first organisation as tenantId (pass params: { tenantId } to choose one); every API call carries it as Xero-Tenant-Id. Each refresh replaces the refresh token; one unused for 60 days dies. Paths go under https://api.xero.com/, e.g. api.xro/2.0/Organisation.',
};
