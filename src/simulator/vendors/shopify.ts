/**
 * Shopify, per "Implement authorization code grant manually", "About offline access tokens"
 * and the changelog on expiring offline tokens:
 * - every URL belongs to one shop (`{shop}.myshopify.com`): `/admin/oauth/authorize`,
 *   `/admin/oauth/access_token`, the Admin API under `/admin/api/{version}/`;
 * - the authorize request has no `response_type`; the redirect back carries `code`, `hmac`,
 *   `host`, `shop`, `state` and `timestamp`, where `hmac` is the hex HMAC-SHA256, keyed with the
 *   client secret, of the other parameters sorted by name and joined as `k=v&k=v`;
 * - the token request sends `client_id`, `client_secret` and `code` (JSON or form). Without
 *   `expiring=1` the answer is a non-expiring offline token (`access_token`, `scope` only), and
 *   authorizing again returns the same token; with `expiring=1` the access token lives 60
 *   minutes and comes with a refresh token (`expires_in`, `refresh_token`,
 *   `refresh_token_expires_in`: 90 days);
 * - each refresh (`grant_type=refresh_token`) replaces the refresh token; the replaced one keeps
 *   working until the app uses its replacement (the new access token or the new refresh token),
 *   for at most 30 days;
 * - the Admin API takes the token in `X-Shopify-Access-Token` (an Authorization header is not
 *   read) and answers 401 `{"errors":"[API] Invalid API key or access token …"}`;
 * - uninstalling (`DELETE /admin/api_permissions/current.json`) revokes the app's tokens for the shop.
 */
import { createHmac } from 'node:crypto';
import { bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { type Grant, hex, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { DAY, HOUR, headerOf, stableDigits } from './kit.js';
import { rest, type SimVendor, type VendorRoute } from './vendor.js';

const SHOPS = ['acme-store', 'globex-store'];
const ACCOUNTS = ['owner', 'staff'];
const SCOPES = ['read_products', 'write_products', 'read_orders', 'write_orders', 'read_customers'];
const ACCESS_LIFETIME_MS = HOUR;
const REFRESH_LIFETIME_MS = 90 * DAY;
const PREVIOUS_USABLE_MS = 30 * DAY;
const NEVER_MS = 100 * 365 * DAY;
const INVALID = { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' };

/** Shopify's callback signature over the query parameters (all but `hmac`). */
export function shopifyHmac(params: Record<string, string>, secret: string): string {
  const message = Object.keys(params)
    .filter((k) => k !== 'hmac' && k !== 'signature')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return createHmac('sha256', secret).update(message).digest('hex');
}

export function shopify(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const client: ClientCredentials = {
    clientId: cred.hex(16),
    clientSecret: `shpss_${cred.hex(16)}`,
    params: {},
  };
  /** The newest access token of each expiring grant: its first use ends the previous refresh token. */
  const newest = new Map<string, string>();
  const lifetime = () => state.accessLifetime('shopify', ACCESS_LIFETIME_MS);
  const err = (status: number, error: string, description: string) =>
    json(status, { error, error_description: description });

  function expiringAnswer(grant: Grant): SimResponse {
    const access = state.issueAccessToken(grant, `shpat_${hex(16)}`, lifetime());
    newest.set(grant.id, access.token);
    return json(200, {
      access_token: access.token,
      scope: grant.scope,
      expires_in: Math.round(lifetime() / 1000),
      refresh_token: grant.refreshToken,
      refresh_token_expires_in: Math.round(REFRESH_LIFETIME_MS / 1000),
    });
  }

  function token(req: SimRequest, shop: string): SimResponse {
    const f = bodyFields(req);
    if (!f) return err(400, 'invalid_request', 'The body could not be read.');
    if (f['client_id'] !== client.clientId || f['client_secret'] !== client.clientSecret)
      return err(401, 'invalid_client', 'The client id or secret is wrong.');
    if (f['grant_type'] === 'refresh_token') {
      const found = state.lookupRefreshToken('shopify', shop, f['refresh_token']);
      if (!found || !('grant' in found)) return err(400, 'invalid_grant', 'The refresh token is invalid.');
      const grant = found.grant;
      // Using the current refresh token is using the replacement: earlier ones stop.
      if (found.current) state.endPreviousRefreshTokens(grant.id);
      grant.refreshes++;
      state.setRefreshToken(grant, `shprt_${hex(16)}`, REFRESH_LIFETIME_MS);
      return expiringAnswer(grant);
    }
    if (f['grant_type'] !== undefined && f['grant_type'] !== 'authorization_code')
      return err(400, 'unsupported_grant_type', 'Use the authorization code or a refresh token.');
    const code = state.redeemCode('shopify', shop, f['code'], client.clientId, undefined);
    if (typeof code === 'string')
      return err(400, 'invalid_request', 'The authorization code was not found or was already used');
    const expiring = f['expiring'] === '1' || f['expiring'] === 'true';
    if (!expiring) {
      // Authorizing again in offline mode returns the same token.
      const existing = [...state.grants.values()].find(
        (g) => g.vendor === 'shopify' && g.realm === shop && !g.revoked && g.refreshToken === null,
      );
      const live =
        existing && [...state.accessTokens.values()].find((t) => t.grantId === existing.id && !t.revoked);
      if (existing && live) return json(200, { access_token: live.token, scope: existing.scope });
    }
    const grant = state.newGrant({
      vendor: 'shopify',
      realm: shop,
      clientId: client.clientId,
      account: code.account,
      scope: code.scope,
    });
    if (!expiring) {
      const access = state.issueAccessToken(grant, `shpat_${hex(16)}`, NEVER_MS);
      return json(200, { access_token: access.token, scope: grant.scope });
    }
    grant.refreshPolicy = { previousUsableMs: PREVIOUS_USABLE_MS };
    state.setRefreshToken(grant, `shprt_${hex(16)}`, REFRESH_LIFETIME_MS);
    return expiringAnswer(grant);
  }

  function api(req: SimRequest, shop: string, path: string): SimResponse {
    const sent = headerOf(req, 'x-shopify-access-token');
    const grant = state.useAccessToken('shopify', shop, sent);
    if (!grant) return json(401, INVALID);
    if (sent && newest.get(grant.id) === sent) state.endPreviousRefreshTokens(grant.id);
    if (path === 'api_permissions/current.json' && req.method === 'DELETE') {
      for (const g of state.grants.values())
        if (g.vendor === 'shopify' && g.realm === shop && g.clientId === grant.clientId) state.revokeGrant(g);
      return json(200, {});
    }
    const m = /^api\/[^/]+\/(.+)$/.exec(path);
    if (m?.[1] === 'shop.json') {
      return json(200, {
        shop: {
          id: Number(stableDigits(`shopify ${shop}`, 11)),
          name: shop.replace(/-store$/, '').replace(/^./, (c) => c.toUpperCase()),
          email: `${grant.account}@${shop}.example`,
          domain: `${shop}.myshopify.com`,
          myshopify_domain: `${shop}.myshopify.com`,
        },
      });
    }
    if (m?.[1] === 'graphql.json' && req.method === 'POST')
      return json(200, { data: { shop: { name: shop, myshopifyDomain: `${shop}.myshopify.com` } } });
    return json(404, { errors: 'Not Found' });
  }

  return {
    vendor: 'shopify',
    route(req, segments): VendorRoute | null {
      const shop = segments[0];
      if (!shop || !SHOPS.includes(shop) || segments[1] !== 'admin') return null;
      const path = rest(segments, 2);
      if (path === 'oauth/authorize') {
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'shopify',
            displayName: 'Shopify',
            realm: shop,
            isClient: (id) => id === client.clientId,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) =>
              s
                .split(',')
                .filter(Boolean)
                .every((x) => SCOPES.includes(x.trim()))
                ? null
                : 'invalid_scope',
            pkce: false,
            codeLength: 32,
            responseTypeOptional: true,
            finishRedirect: (params) => {
              const signed: Record<string, string> = {
                code: params['code'] as string,
                host: Buffer.from(`${shop}.myshopify.com/admin`).toString('base64url'),
                shop: `${shop}.myshopify.com`,
                timestamp: String(Math.floor(state.clock.now() / 1000)),
                ...(params['state'] !== undefined ? { state: params['state'] } : {}),
              };
              return { ...signed, hmac: shopifyHmac(signed, client.clientSecret) };
            },
          },
          consent,
        );
      }
      if (path === 'oauth/access_token' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req, shop) };
      if (path.startsWith('api/') || path === 'api_permissions/current.json')
        return { endpoint: 'api', handle: () => api(req, shop, path) };
      return null;
    },
    discovery(origin) {
      return {
        params: { shop: SHOPS },
        endpoints: {
          authorize: `${origin}/shopify/{shop}/admin/oauth/authorize`,
          token: `${origin}/shopify/{shop}/admin/oauth/access_token`,
          apiBase: `${origin}/shopify/{shop}/admin/api/2025-07/`,
        },
        identityPath: 'shop.json',
        clients: [client],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
