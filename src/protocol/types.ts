/**
 * The protocol's own vocabulary: how a client authenticates at the token endpoint, how a server
 * words its errors, a registered client, and the endpoints of one authorization server. The
 * provider specs (`src/providers/`) are written in these terms; protocol code knows nothing of
 * providers (docs/architecture.md, "Layers").
 */

/** Where client credentials go on the token and revocation endpoints. */
export type ClientAuth =
  /** HTTP Basic header, form-encoded body (RFC 6749 §2.3.1's preferred form). */
  | 'basic'
  /** client_id / client_secret in a form-encoded body. */
  | 'form'
  /** client_id / client_secret in a JSON body. */
  | 'json'
  /** RFC 7523 §2.2: a JWT assertion signed with the client's private key (OpenID Connect Core §9). */
  | 'private_key_jwt'
  /** RFC 7523 §2.2: a JWT assertion signed with the client secret (HMAC). */
  | 'client_secret_jwt';

/** How the provider words its errors. */
export type ErrorDialect =
  /** RFC 6749 §5.2: `{"error": "...", "error_description": "..."}`. */
  | 'rfc6749'
  /** Checkissuing: `{"status": 0, "errors": ["Access Denied"]}`. */
  | 'checkissuing';

/**
 * How a revocation endpoint takes a token, where it is not RFC 7009's form POST authenticated
 * like a token request.
 */
/**
 * A provider's signature over its authorization callback's query (Shopify's `hmac`): the hex
 * HMAC-SHA256, keyed with the client secret, of the other query parameters sorted by name and
 * joined as `name=value&name=value` (the values decoded). Checked before the code is exchanged.
 */
export interface CallbackSignature {
  /** The query parameter carrying the signature (Shopify: `hmac`). */
  param: string;
  /** The one algorithm there is: hex HMAC-SHA256 of the sorted query, keyed with the client secret. */
  algorithm: 'hmac-sha256-hex';
  /** Further query parameters the signature does not cover (Shopify: the legacy `signature`). */
  exclude?: string[];
}

export interface RevocationStyle {
  /**
   * `client` (default): authenticated as a token request, the token in the body. `basic`: the
   * client by HTTP Basic whatever token requests do (GitHub). `token`: the token being revoked
   * is the request's own credential (`Authorization: Bearer`), and no client credentials are
   * sent (Dropbox, Slack).
   */
  auth?: 'client' | 'basic' | 'token';
  /** Default POST; GitHub deletes a grant with DELETE. */
  method?: 'POST' | 'DELETE';
  /** How the body goes: `form` (default), `json`, or `none`. */
  body?: 'form' | 'json' | 'none';
  /** The member naming the token (default `token`; GitHub `access_token`). */
  tokenField?: string;
  /**
   * Which tokens the endpoint takes: `any` (default: the refresh token, and a live access
   * token), or `access_token` — revoking the access token ends the whole grant.
   */
  takes?: 'any' | 'access_token';
}

/** A client registered with a provider. */
export interface ClientConfig {
  clientId: string;
  clientSecret?: string;
  redirectUri?: string;
  /** For `private_key_jwt`: the client's private key, as a PEM or a JWK (object or JSON text). */
  privateKey?: string | Record<string, unknown>;
  /** The `kid` put in each assertion's header (a JWK's own `kid` otherwise). */
  keyId?: string;
  /** The assertion's algorithm: the JWK's `alg`, else by key type (RS256, ES256, EdDSA), HS256 for client_secret_jwt. */
  signingAlg?: string;
  /**
   * How this client authenticates at the token endpoint when its registration decided it (RFC
   * 7591 `token_endpoint_auth_method`); the provider's `clientAuth` otherwise.
   */
  clientAuth?: ClientAuth;
}

/** The endpoints of one authorization server and API, resolved for one connection. */
export interface Endpoints {
  authorizationUrl?: string;
  tokenUrl?: string;
  revocationUrl?: string;
  apiBaseUrl: string;
}
