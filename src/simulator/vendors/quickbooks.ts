/**
 * QuickBooks Online (Intuit), per "Set up OAuth 2.0", the authorization FAQ and Intuit's
 * refresh-token policy notes:
 * - one authorize and one token endpoint for both environments; development (sandbox) and
 *   production apps have their own keys, and the API host differs (`environment`);
 * - the callback carries the company id as the `realmId` query parameter, and only there;
 *   the API lives under `/v3/company/{realmId}/`;
 * - the token endpoint takes the client by HTTP Basic only; access tokens live one hour;
 * - refresh tokens have a rolling 100-day expiry (`x_refresh_token_expires_in` in every token
 *   answer) and, since Intuit's five-year policy, a hard cap five years after the consent:
 *   `x_refresh_token_expires_in` never reaches past it;
 * - the refresh token's value changes about every 24 hours: a refresh within a day of the
 *   value's issue answers the same value, a later one a new value. What becomes of the previous
 *   value is not stated in the documents the simulator is written from: it stops working at once,
 *   unless the `previousRefreshTokenUsableHours` switch keeps it for a while;
 * - API failures are Intuit `fault` documents: 401 AuthenticationFailed (code 3200) for a dead
 *   token, 403 ApplicationAuthorizationFailed (code 3100) for another company's realmId;
 * - revoking either token (JSON `{"token"}`, HTTP Basic) disconnects the app from the company.
 */
import { bearer, bodyFields, json, type SimRequest, type SimResponse } from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials } from '../types.js';
import { authorizeRoute } from './consent.js';
import { clientCredentials, DAY, HOUR, scopeSet, stableDigits } from './kit.js';
import { numberSwitch, rest, type SimVendor, type VendorRoute } from './vendor.js';

const ENVIRONMENTS = ['production', 'sandbox'];
const ACCOUNTS = ['owner', 'bookkeeper'];
const SCOPES = [
  'com.intuit.quickbooks.accounting',
  'com.intuit.quickbooks.payment',
  'openid',
  'profile',
  'email',
  'phone',
  'address',
];
const ACCESS_LIFETIME_MS = HOUR;
const ROLLING_MS = 100 * DAY;
const HARD_CAP_MS = 5 * 365 * DAY;
const VALUE_CHANGES_AFTER_MS = 24 * HOUR;

/** Each user's company, per environment (a sandbox company is its own realm). */
const realmOf = (environment: string, account: string) => stableDigits(`qbo ${environment} ${account}`, 16);

function fault(status: 401 | 403, detail: string): SimResponse {
  const [message, code, type] =
    status === 401
      ? ['message=AuthenticationFailed; errorCode=003200; statusCode=401', '3200', 'AUTHENTICATION']
      : ['message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403', '3100', 'AUTHORIZATION'];
  return json(status, {
    warnings: null,
    intuitObject: null,
    fault: { error: [{ message, detail, code, element: null }], type },
    report: null,
    queryResponse: null,
    batchItemResponse: [],
    attachableResponse: [],
    syncErrorResponse: null,
    requestId: null,
    time: Date.now(),
    cdcresponse: [],
  });
}

export function quickbooks(state: SimState, consent: () => 'auto' | 'prompt'): SimVendor {
  const cred = state.credentials;
  const clients = new Map<string, ClientCredentials>();
  for (const environment of ENVIRONMENTS)
    clients.set(environment, {
      clientId: `AB${cred.alnum(48)}`,
      clientSecret: cred.alnum(40),
      params: { environment },
    });
  const environmentOf = (clientId: string) =>
    ENVIRONMENTS.find((e) => clients.get(e)?.clientId === clientId) ?? null;
  const previousUsableHours = { value: 0 };
  const lifetime = () => state.accessLifetime('quickbooks', ACCESS_LIFETIME_MS);
  const err = (error: string, status = 400) => json(status, { error });

  function respond(grant: Grant): SimResponse {
    const now = state.clock.now();
    const access = state.issueAccessToken(grant, `eyJ${alnum(120)}`, lifetime());
    const rtEnds = Math.min(
      grant.refreshExpiresAt ?? Number.POSITIVE_INFINITY,
      grant.refreshAbsoluteExpiresAt ?? Number.POSITIVE_INFINITY,
    );
    return json(200, {
      token_type: 'bearer',
      expires_in: Math.round(lifetime() / 1000),
      refresh_token: grant.refreshToken,
      x_refresh_token_expires_in: Math.max(0, Math.round((rtEnds - now) / 1000)),
      access_token: access.token,
    });
  }

  const newRefreshValue = () => `RT1-${alnum(6)}-H0-${alnum(40)}`;

  function token(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    const basic = clientCredentials(req, f, { basic: true, body: false });
    const environment = basic ? environmentOf(basic.id) : null;
    const client = environment ? clients.get(environment) : undefined;
    if (!environment || !client || basic?.secret !== client.clientSecret) return err('invalid_client', 401);
    if (f['grant_type'] === 'authorization_code') {
      const code = state.redeemCode('quickbooks', environment, f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return err('invalid_grant');
      const grant = state.newGrant({
        vendor: 'quickbooks',
        realm: environment,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      grant.refreshAbsoluteExpiresAt = state.clock.now() + HARD_CAP_MS;
      state.setRefreshToken(grant, newRefreshValue(), ROLLING_MS);
      return respond(grant);
    }
    if (f['grant_type'] === 'refresh_token') {
      const found = state.lookupRefreshToken('quickbooks', environment, f['refresh_token']);
      if (!found || !('grant' in found) || found.grant.clientId !== client.clientId)
        return err('invalid_grant');
      const grant = found.grant;
      grant.refreshes++;
      grant.refreshPolicy = { previousUsableMs: previousUsableHours.value * HOUR };
      const issuedAt = state.refreshHistory.get(grant.refreshToken as string)?.issuedAt ?? 0;
      const changes = state.clock.now() - issuedAt >= VALUE_CHANGES_AFTER_MS;
      state.setRefreshToken(grant, changes ? newRefreshValue() : grant.refreshToken, ROLLING_MS);
      return respond(grant);
    }
    return err('unsupported_grant_type');
  }

  function revoke(req: SimRequest): SimResponse {
    const f = bodyFields(req) ?? {};
    const basic = clientCredentials(req, f, { basic: true, body: false });
    const environment = basic ? environmentOf(basic.id) : null;
    if (!environment || basic?.secret !== clients.get(environment)?.clientSecret)
      return err('invalid_client', 401);
    const t = f['token'];
    const access = t ? state.accessTokens.get(t) : undefined;
    const grant =
      state.grantByRefreshToken('quickbooks', environment, t) ??
      (access ? state.grants.get(access.grantId) : undefined);
    if (grant && grant.vendor === 'quickbooks' && grant.realm === environment) state.revokeGrant(grant);
    return { status: 200, headers: {}, body: '' };
  }

  function api(req: SimRequest, environment: string, realmId: string, path: string): SimResponse {
    const grant = state.useAccessToken('quickbooks', environment, bearer(req));
    if (!grant) return fault(401, 'Token expired or invalid');
    if (
      !scopeSet(grant.scope).has('com.intuit.quickbooks.accounting') ||
      realmOf(environment, grant.account) !== realmId
    )
      return fault(403, 'The token does not grant access to this company');
    const company = {
      CompanyName: `${grant.account[0]?.toUpperCase()}${grant.account.slice(1)}'s ${environment === 'sandbox' ? 'Sandbox ' : ''}Company`,
      Id: realmId,
      Country: 'US',
      domain: 'QBO',
    };
    if (path === `companyinfo/${realmId}`)
      return json(200, { CompanyInfo: company, time: new Date().toISOString() });
    if (path === 'preferences')
      return json(200, {
        Preferences: { Id: '1', AccountingInfoPrefs: { BookCloseDate: null } },
        time: new Date().toISOString(),
      });
    if (path === 'query') return json(200, { QueryResponse: {}, time: new Date().toISOString() });
    return json(404, {
      Fault: { Error: [{ Message: 'Unsupported Operation', code: '500' }], type: 'ValidationFault' },
    });
  }

  function userinfo(req: SimRequest, environment: string): SimResponse {
    const grant = state.useAccessToken('quickbooks', environment, bearer(req));
    if (!grant || !scopeSet(grant.scope).has('openid')) return json(401, { error: 'invalid_token' });
    return json(200, {
      sub: stableDigits(`qbo user ${grant.account}`, 12),
      email: `${grant.account}@example.com`,
      emailVerified: true,
      givenName: grant.account,
      familyName: 'Example',
    });
  }

  return {
    vendor: 'quickbooks',
    switches: {
      /** How long a replaced refresh-token value keeps working (0: not at all). */
      previousRefreshTokenUsableHours: numberSwitch(previousUsableHours, 0),
    },
    route(req, segments): VendorRoute | null {
      const path = rest(segments, 0);
      if (path === 'appcenter/connect/oauth2') {
        const environment = environmentOf(req.url.searchParams.get('client_id') ?? '') ?? 'production';
        return authorizeRoute(
          req,
          state,
          {
            vendor: 'quickbooks',
            displayName: 'Intuit',
            realm: environment,
            isClient: (id) => environmentOf(id) !== null,
            accounts: ACCOUNTS,
            allowOob: false,
            checkScope: (s) =>
              scopeSet(s).size > 0 && [...scopeSet(s)].every((x) => SCOPES.includes(x))
                ? null
                : 'invalid_scope',
            pkce: false,
            codeLength: 50,
            finishRedirect: (params, code) =>
              scopeSet(code.scope).has('com.intuit.quickbooks.accounting') ||
              scopeSet(code.scope).has('com.intuit.quickbooks.payment')
                ? { ...params, realmId: realmOf(environment, code.account) }
                : params,
          },
          consent,
        );
      }
      if (path === 'oauth/oauth2/v1/tokens/bearer' && req.method === 'POST')
        return { endpoint: 'token', handle: () => token(req) };
      if (path === 'developer/v2/oauth2/tokens/revoke' && req.method === 'POST')
        return { endpoint: 'revoke', handle: () => revoke(req) };
      const [environment, v3, company, realmId] = segments;
      if (
        environment &&
        ENVIRONMENTS.includes(environment) &&
        v3 === 'v3' &&
        company === 'company' &&
        realmId
      )
        return { endpoint: 'api', handle: () => api(req, environment, realmId, rest(segments, 4)) };
      if (
        segments[0] === 'accounts' &&
        segments[1] &&
        ENVIRONMENTS.includes(segments[1]) &&
        rest(segments, 2) === 'v1/openid_connect/userinfo'
      ) {
        const environmentOfHost = segments[1];
        return { endpoint: 'api', handle: () => userinfo(req, environmentOfHost) };
      }
      return null;
    },
    discovery(origin) {
      return {
        params: { environment: ENVIRONMENTS },
        endpoints: {
          authorize: `${origin}/quickbooks/appcenter/connect/oauth2`,
          token: `${origin}/quickbooks/oauth/oauth2/v1/tokens/bearer`,
          revoke: `${origin}/quickbooks/developer/v2/oauth2/tokens/revoke`,
          apiBase: `${origin}/quickbooks/{environment}/v3/company/{realmId}/`,
          userinfo: `${origin}/quickbooks/accounts/{environment}/v1/openid_connect/userinfo`,
        },
        identityPath: 'preferences',
        clients: [...clients.values()],
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
