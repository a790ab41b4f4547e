import type { ParamSpec, ProviderSpec } from '../spec.js';

const DATA_CENTERS: Record<string, string> = {
  us: '',
  au: '-au',
  ca: '-ca',
  de: '-de',
  sg: '-sg',
  uk: '-uk',
};

const dataCenter: ParamSpec = {
  description: 'the data center the account lives in (us, au, ca, de, sg, uk)',
  values: Object.keys(DATA_CENTERS),
  default: 'us',
  label: 'Data center',
  hint: 'Where your account lives. Pick the one in the address you sign in at.',
  valueLabels: {
    us: 'United States',
    au: 'Australia',
    ca: 'Canada',
    de: 'Germany',
    sg: 'Singapore',
    uk: 'United Kingdom',
  },
  vars: Object.fromEntries(
    Object.entries(DATA_CENTERS).map(([dc, suffix]) => [
      dc,
      { appHost: `app${suffix}.cronofy.com`, apiHost: `api${suffix}.cronofy.com` },
    ]),
  ),
};

/**
 * Cronofy ("Refresh an Access Token"): six data centers, each with an app host (authorize)
 * and an api host (token, revoke, API); client credentials in a JSON body; one-hour tokens;
 * refresh tokens rotated "periodically" — whenever the response carries a different one it
 * must be stored, or the user has to authorize again.
 */
export const cronofy: ProviderSpec = {
  id: 'cronofy',
  displayName: 'Cronofy',
  authModes: ['oauth2'],
  params: { dataCenter },
  authorizationUrl: 'https://{appHost}/oauth/authorize',
  tokenUrl: 'https://{apiHost}/oauth/token',
  revocationUrl: 'https://{apiHost}/oauth/token/revoke',
  apiBaseUrl: 'https://{apiHost}/',
  clientAuth: 'json',
  pkce: true,
  scopes: ['read_account', 'read_events'],
  scopeSeparator: ' ',
  defaultExpiresIn: 3600,
  refreshTokenLifetime: null,
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'v1/userinfo',
  notes:
    'Issuing tokens counts against the rate limit and 401s do not, so Baton uses each token until it is due. Refresh tokens rotate at Cronofy’s discretion; Baton stores every new one before use.',
};
