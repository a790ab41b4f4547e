/**
 * What a provider needs, as data. Core code reads these fields and never asks which provider
 * it is talking to: a vendor quirk is a field here, not a branch in core.
 */

import type { CallbackSignature, ClientAuth, ErrorDialect, RevocationStyle } from '../protocol/types.js';

/** How a connection authenticates: the OAuth2 grants, or static credentials that never refresh. */
export type AuthMode =
  /** Authorization code grant with refresh tokens (RFC 6749 §4.1, §6). */
  | 'oauth2'
  /** Client credentials grant (RFC 6749 §4.4): no user, no refresh token; re-granted when expired. */
  | 'client_credentials'
  /** HTTP Basic with a static key pair (Checkfront token authentication). */
  | 'token_pair'
  /** A static key (and secret) sent in a provider-specific header (Checkbook `key:secret`). */
  | 'api_key';

export interface ParamSpec {
  description: string;
  /** Allowed values; absent means any value matching `pattern`. */
  values?: string[];
  /** Used when the connection does not give the param. Absent: the param is required, unless optional. */
  default?: string;
  /** The param may be left out (Zoom's `accountId`, for server-to-server apps only). */
  optional?: boolean;
  /** A regular expression the value must match in full (for free-form params like a company name). */
  pattern?: string;
  /**
   * `url`: the value is an absolute URL — https, or http on a loopback host, without a fragment
   * (an MCP server's, RFC 8707 §2) — and never a URL template variable: it goes where the spec
   * says (`resourceParam`), whole, never into a template. Absent: a value of unreserved
   * characters for URL templates.
   */
  kind?: 'url';
  /**
   * `false`: the param does not tell accounts apart — authorizing an existing connection again
   * with another value of it is the same account, not a `ConnectionMismatch` (an MCP server's
   * `endpoint`, which may move under the same resource). Absent: part of the account's identity.
   */
  identity?: false;
  /**
   * Derived template variables per value: `{ de: { apiHost: 'api-de.cronofy.com' } }` lets a
   * URL template say `https://{apiHost}/oauth/token`.
   */
  vars?: Record<string, Record<string, string>>;
  /** What the connect pages call the param (`Data center`). Absent: its name in words. */
  label?: string;
  /** The line a connect page shows under the label. Absent: `description`. */
  hint?: string;
  /** What the connect pages call each value (`de: 'Germany'`), shown with the value itself. */
  valueLabels?: Record<string, string>;
  /**
   * What a valid value looks like, in words a person follows (`lower-case letters, digits and
   * dashes, as in your address`): said when a connect page refuses a typed value.
   */
  format?: string;
}

export interface ApiKeyAuth {
  /** The header that carries the key, e.g. `Authorization`. */
  header: string;
  /** The header value over the credentials, e.g. `{apiKey}:{apiSecret}`. */
  template: string;
}

/** A header an API request carries: its name, and its value as a template. */
export interface HeaderTemplate {
  /** The header's name, e.g. `X-Shopify-Access-Token`. */
  header: string;
  /** The value over `{accessToken}` and `{tokenType}`, e.g. `{accessToken}` or `Bearer {accessToken}`. */
  template: string;
}

/**
 * A value the provider hands over while a connection is made, kept in the connection's params
 * (stored with it, usable in URL and header templates like any param).
 */
export interface CaptureSpec {
  /**
   * Where it comes from: `token` — a member of the token response, read again from each
   * refresh's response that carries it; `callback` — a query parameter of the authorization
   * callback (QuickBooks `realmId`).
   */
  from: 'token' | 'callback';
  /** A dotted path into the token response (`authed_user.id`), or the query parameter's name. */
  path: string;
  /**
   * `value` (default): letters, digits and `-._~` like any param. `url`: an absolute URL the
   * provider names for the account's API (Salesforce `instance_url`): https (plain http only to
   * a loopback host), its host one of `redirectAuthHosts`, checked again at every use; it may
   * only begin a URL template (`{instanceUrl}/services/data/`). `text`: any printable text
   * (Dropbox's `dbid:…` account id), kept for headers and for people; no URL template may use it.
   */
  kind?: 'value' | 'url' | 'text';
  /** Connecting fails when the provider does not give it. */
  required?: boolean;
  description: string;
}

/**
 * An authenticated GET the connection makes once its first tokens arrive, whose JSON answer
 * names something the API needs (Xero's tenant, Atlassian's cloud id). An array answer stands
 * for its first element. An answer without the values fails the authorization with `whenEmpty`.
 */
export interface ConnectStep {
  /** The name of one of the spec's `urls`. */
  endpoint: string;
  /** Params to keep: name → dotted path into the answer (`tenantId` → `tenantId`). */
  capture: Record<string, string>;
  /** What the person must do when the answer holds nothing (no organisation was connected). */
  whenEmpty: string;
}

/** Where a provider's error bodies put their code and description, when not in RFC 6749's members. */
export interface ErrorShape {
  /** Dotted path of the error code (HubSpot `status`). */
  code: string;
  /** Dotted path of the description (HubSpot `message`). */
  description?: string;
}

/**
 * An API answer that refuses the access token without a 401 (Slack: HTTP 200 with
 * `{"ok": false, "error": "invalid_auth"}`): the JSON value at `path` is one of `values`.
 */
export interface ApiTokenRejection {
  path: string;
  values: string[];
}

/** What an RFC 6749 error code a provider's own code means (`bad_refresh_token` → `invalid_grant`). */
export type Rfc6749Code =
  | 'invalid_grant'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'access_denied'
  | 'invalid_request'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'slow_down';

/**
 * How long a refresh token lives. Two limits may apply at once, and the earlier one ends it:
 * its own lifetime (`seconds`: from issue, or, when `sliding`, from its last use — an
 * inactivity limit), and the grant's hard cap (`absoluteSeconds`: from the first
 * authorization, kept across rotations, started again only by a new authorization). Atlassian:
 * 90 days inactive, 365 days absolute; QuickBooks: 100 days rolling, 5 years absolute; Xero:
 * 60 days unused; Google: 6 months unused; Microsoft: 90 days sliding.
 */
export interface RefreshTokenLifetime {
  /** Seconds from issue (from the last use, when `sliding`). */
  seconds: number;
  /**
   * Whether each use starts the lifetime again (Checkfront: "use it within 2 weeks and you get
   * a new one"; Google: unused for six months): the keeper refreshes ahead of it so idle
   * connections stay alive.
   */
  sliding: boolean;
  /**
   * A hard limit in seconds from the first authorization that no refresh extends. Baton warns
   * (`connection.expiring`) ahead of it; only a new authorization starts it again.
   */
  absoluteSeconds?: number;
}

/**
 * What the provider does with a refresh token a rotation replaced, when it documents it: for
 * how long it is still accepted (the answer to the refresh that replaced it may have been lost
 * on the way back), and what presenting it later does. Baton sends a replaced-or-maybe-replaced
 * refresh token again only inside this window, never outside it (docs/architecture.md,
 * invariant 13). Absent: the provider does not document one, and a refresh whose answer was
 * lost is retried as any transient failure is.
 */
export type RefreshTokenReuse =
  /** Accepted for `seconds` after the rotation (Xero: 1800; Atlassian: 600). */
  | { mode: 'window'; seconds: number; revokesFamily?: boolean }
  /** Accepted until the new refresh token is first used (Shopify). */
  | { mode: 'until_new_used'; revokesFamily?: boolean };

/**
 * How fast the keeper may call a provider's token endpoint: a token bucket refilled at
 * `perSecond`, holding at most `burst` calls (default: `perSecond`, at least 1).
 */
export interface TokenRateLimit {
  perSecond: number;
  burst?: number;
}

export interface ProviderSpec {
  id: string;
  displayName: string;
  authModes: AuthMode[];
  params: Record<string, ParamSpec>;
  /**
   * The authorization server's issuer identifier (RFC 8414 §2). Given, Baton reads the server's
   * metadata (OpenID Connect Discovery, else RFC 8414) and fills every endpoint the spec leaves
   * out; explicit fields win.
   */
  issuer?: string;
  /**
   * URL templates over params and their vars: `https://{company}.checkfront.com/oauth/`.
   * `{clientId}` stands for the connection's client id (GitHub's revocation URL names it).
   */
  authorizationUrl?: string;
  tokenUrl?: string;
  revocationUrl?: string;
  apiBaseUrl: string;
  clientAuth: ClientAuth;
  /** Use PKCE S256 on the authorization code grant (RFC 7636). */
  pkce: boolean;
  /**
   * Parameters every authorization URL carries unless the caller gives others
   * (`{ prompt: 'consent', access_type: 'offline' }`).
   */
  authorizationParams?: Record<string, string>;
  /**
   * RFC 8707 resource indicators: the APIs (absolute URIs) tokens are asked for, on the
   * authorization, token and refresh requests.
   */
  resource?: string[];
  /**
   * The param (of `kind: 'url'`) that names the RFC 8707 resource each connection's tokens are
   * for, asked on the authorization, token and refresh requests; it is also the connection's API
   * base (`apiBaseUrl` is then not used). An MCP authorization server's connections each name
   * their MCP server this way (docs/architecture.md, "MCP").
   */
  resourceParam?: string;
  /**
   * When no client is configured, Baton obtains one itself from the issuer's server: a Client ID
   * Metadata Document where the server takes one (and Baton.open names one), else RFC 7591
   * Dynamic Client Registration. The registration is stored sealed, one per issuer, and made
   * again when the server refuses it (`invalid_client`). Needs `issuer`.
   */
  clientRegistration?: boolean;
  /**
   * Push every authorization request first (RFC 9126), even when the server does not require it
   * (a server's `require_pushed_authorization_requests` always turns it on).
   */
  par?: boolean;
  /**
   * Sender-constrained tokens (RFC 9449): each connection gets its own key pair, sealed with its
   * tokens; token, refresh and API requests carry a DPoP proof of it, and the authorization
   * request its thumbprint (`dpop_jkt`). For providers that register the client with
   * `dpop_bound_access_tokens` or otherwise bind tokens to keys.
   */
  dpop?: boolean;
  /** Scopes requested when the caller names none. */
  scopes: string[];
  /** The scopes the provider knows, when it publishes a closed list. */
  scopeOptions?: string[];
  /** The provider takes exactly one scope per authorization (Checkbook). */
  singleScope?: boolean;
  scopeSeparator: string;
  /** Access-token lifetime in seconds when a token response omits `expires_in`; null: unknown. */
  defaultExpiresIn: number | null;
  refreshTokenLifetime: RefreshTokenLifetime | null;
  /**
   * The token-response field that carries the refresh token's remaining lifetime in seconds,
   * when the provider names it other than `refresh_token_expires_in` (QuickBooks:
   * `x_refresh_token_expires_in`). Either field, when present, sets the refresh token's own
   * expiry in place of `refreshTokenLifetime.seconds`.
   */
  refreshTokenExpiresInField?: string;
  /**
   * The provider's reuse window for a replaced refresh token (`revokesFamily`: presenting it
   * after the window revokes every token of the grant, as Atlassian does).
   */
  refreshTokenReuse?: RefreshTokenReuse;
  /**
   * Host patterns (`*.checkfront.com`, `api.example.com`, `127.0.0.1:4011`) that may receive
   * credentials when an API request is redirected, or be named as the account's API base by the
   * provider (a `url` capture). The API base URL's own host always may.
   */
  redirectAuthHosts: string[];
  errorDialect: ErrorDialect;
  /** An API path that says who the credentials belong to; used by `connect` and `doctor`. */
  identityPath?: string;
  /**
   * The param whose value names the environment (`sandbox`, `production`): errors and the
   * connect pages say which environment's credentials were wrong.
   */
  environmentParam?: string;
  /**
   * The param that names the account at the provider (Checkfront's company): a value the
   * connect page refuses is "not a <provider> <label> name".
   */
  accountParam?: string;
  /** For `api_key` mode: where the key goes. */
  apiKeyAuth?: ApiKeyAuth;
  /**
   * `baton serve`'s proxy passes cookies through for this provider: the caller's `Cookie` goes
   * upstream and the API's `Set-Cookie` comes back. Off by default: both are dropped (README,
   * "Proxy"), so a caller's cookies for the Baton server never reach an API and an API never sets
   * cookies on the Baton server's origin. For a vendor whose API needs a session cookie.
   */
  proxyCookies?: boolean;
  /** Scopes whose access token works for a single request (Checkbook `single-use`). */
  singleUseScopes?: string[];
  /**
   * The keeper's limit on background refreshes at the token endpoint (all of the provider's
   * connections together). Absent: a conservative default (README, "Many connections").
   */
  tokenRateLimit?: TokenRateLimit;
  /**
   * How long the provider's authorization codes live, in seconds, when it documents it: said in
   * the remediation of a rejected code (Checkfront: 60).
   */
  authorizationCodeLifetimeSeconds?: number;
  /**
   * The provider signs its authorization callback (Shopify: `hmac`, HMAC-SHA256 of the sorted
   * query under the client secret): Baton checks it before exchanging the code, and a missing or
   * wrong signature fails the authorization (`bad_signature`) with nothing stored.
   */
  callbackSignature?: CallbackSignature;
  /**
   * Values the provider hands over while connecting, kept in the connection's params by name:
   * `{ realmId: { from: 'callback', path: 'realmId' } }`. See CaptureSpec.
   */
  captures?: Record<string, CaptureSpec>;
  /**
   * Further endpoints of the provider, by name, as URL templates like the others:
   * `{ connections: 'https://api.xero.com/connections' }`. Connect steps name them. An override
   * adds to (or replaces by name) the preset's.
   */
  urls?: Record<string, string>;
  /** Authenticated GETs made after the first grant, whose answers fill params (Xero's tenant). */
  connectSteps?: ConnectStep[];
  /**
   * Extra fields of the code exchange (and the client-credentials grant), as templates over
   * params: `{ expiring: '1' }`.
   */
  tokenParams?: Record<string, string>;
  /** Extra fields of each refresh request, as templates over params. */
  refreshParams?: Record<string, string>;
  /** Each refresh sends the connection's scopes again (Microsoft requires `scope` on refresh). */
  refreshScopes?: boolean;
  /**
   * How token requests carry their fields: `form` (RFC 6749) or `json`. Default: `json` with
   * clientAuth `json`, else `form`. With `basic`, the client still goes in the Authorization header.
   */
  tokenRequestBody?: 'form' | 'json';
  /** Where the access token goes on API requests. Default: `Authorization: {tokenType} {accessToken}`. */
  tokenHeader?: HeaderTemplate;
  /**
   * Headers every API request carries, as templates over params (captured ones too):
   * `{ 'Xero-Tenant-Id': '{tenantId}', 'Notion-Version': '2022-06-28' }`. A caller's own header
   * of the same name wins.
   */
  apiHeaders?: Record<string, string>;
  /**
   * The provider's own error codes and the RFC 6749 code each means, so they become the same
   * typed errors (`{ bad_refresh_token: 'invalid_grant' }`).
   */
  errorCodes?: Record<string, Rfc6749Code>;
  /** Where error bodies put their code, when not in `error` (HubSpot: `status` and `message`). */
  errorShape?: ErrorShape;
  /** An API answer that refuses the token without a 401: treated as a 401 (one refresh, one retry). */
  apiTokenRejection?: ApiTokenRejection;
  /**
   * How the revocation endpoint takes a token, where not as RFC 7009 says (Dropbox: the token
   * as its own Bearer credential; GitHub: DELETE with a JSON body).
   */
  revocation?: RevocationStyle;
  /** The identity endpoint's method, when it is not GET (Dropbox's RPC endpoints are POST). */
  identityMethod?: 'GET' | 'POST';
  /**
   * A client-credentials grant of the provider's own (Zoom server-to-server:
   * `grant_type=account_credentials` with `account_id`): the grant type and extra fields as
   * templates over params.
   */
  clientCredentialsGrant?: { grantType: string; params?: Record<string, string> };
  /** Extra documentation shown by `baton providers`. */
  notes?: string;
}

/** What users pass in `Baton.open({ providers })`: any field of a preset, or a whole new spec. */
export type ProviderOverride = Partial<ProviderSpec>;
