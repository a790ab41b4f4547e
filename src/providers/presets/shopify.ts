import type { ProviderSpec } from '../spec.js';

/**
 * Shopify ("Implement authorization code grant manually", "About offline access tokens"):
 * every URL belongs to one shop; scopes are comma-separated; the client id and secret go in the
 * token request's body; with `expiring=1` on the code exchange an offline token lives 60 minutes
 * and comes with a refresh token for 90 days that every refresh replaces (without it the token
 * never expires); the Admin API reads the token from `X-Shopify-Access-Token`.
 */
export const shopify: ProviderSpec = {
  id: 'shopify',
  displayName: 'Shopify',
  authModes: ['oauth2'],
  params: {
    shop: {
      description: 'the shop’s subdomain, as in https://{shop}.myshopify.com',
      pattern: '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?',
      label: 'Shop',
      hint: 'The name in your shop’s admin address, as in https://name.myshopify.com.',
      format: 'lower-case letters, digits and dashes, as in name.myshopify.com',
    },
  },
  accountParam: 'shop',
  authorizationUrl: 'https://{shop}.myshopify.com/admin/oauth/authorize',
  tokenUrl: 'https://{shop}.myshopify.com/admin/oauth/access_token',
  apiBaseUrl: 'https://{shop}.myshopify.com/admin/api/2025-07/',
  clientAuth: 'form',
  pkce: false,
  scopes: ['read_products'],
  scopeSeparator: ',',
  defaultExpiresIn: null,
  refreshTokenLifetime: { seconds: 90 * 24 * 3600, sliding: true },
  // The previous refresh token stays good until the new access token is used.
  refreshTokenReuse: { mode: 'until_new_used' },
  redirectAuthHosts: [],
  errorDialect: 'rfc6749',
  identityPath: 'shop.json',
  tokenParams: { expiring: '1' },
  tokenHeader: { header: 'X-Shopify-Access-Token', template: '{accessToken}' },
  // The callback's hmac: hex HMAC-SHA256 of the other query parameters, sorted, under the client secret.
  callbackSignature: { param: 'hmac', algorithm: 'hmac-sha256-hex', exclude: ['signature'] },
  notes:
    'Baton checks the hmac Shopify signs the callback with (HMAC-SHA256 under the client secret) before exchanging the code. Baton asks for expiring offline tokens (expiring=1): an hour each, renewed with a 90-day refresh token that every refresh replaces. The token goes in X-Shopify-Access-Token. Shopify has no token revocation endpoint: uninstalling the app (DELETE admin/api_permissions/current.json) revokes its tokens.',
};
