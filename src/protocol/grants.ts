import { BatonError, type ClientPair, ConfigError, ProviderError } from '../errors.js';
import { clientAssertion, JWT_BEARER } from './client-assertion.js';
import { type DpopSigner, isTokenEndpointNonceChallenge } from './dpop.js';
import { type HttpOptions, postTokenEndpoint, type RawResponse } from './http.js';
import {
  errorFromResponse,
  type GrantType,
  type ProviderLabel,
  parseTokenResponse,
  saysError,
  type TokenResponse,
} from './token-response.js';
import type { ClientAuth, ClientConfig, RevocationStyle } from './types.js';

/**
 * Everything one grant needs, and nothing of the provider spec beyond it: the endpoints, how
 * the client authenticates, where a redirect may take its credentials, and what to call the
 * provider in errors. No storage, no state, no lifetime policy.
 */
export interface GrantContext {
  provider: ProviderLabel;
  tokenUrl?: string | undefined;
  revocationUrl?: string | undefined;
  clientAuth: ClientAuth;
  /** The authorization server's issuer, the audience of client assertions (RFC 7523 §3); else the endpoint's URL. */
  issuer?: string | undefined;
  scopeSeparator: string;
  /** RFC 8707: the resources (APIs) tokens are asked for, sent on token and refresh requests. */
  resource?: readonly string[] | undefined;
  /** Hosts a redirect may take the client's credentials to (the spec's redirectAuthHosts). */
  redirectAuthHosts: readonly string[];
  client: ClientConfig;
  now(): number;
  connectionId?: string | undefined;
  http?: HttpOptions | undefined;
  /** RFC 9449: token requests prove possession of this key; the tokens come back bound to it. */
  dpop?: DpopSigner | undefined;
  /** Told of every grant at the token endpoint once it has ended, answered or failed. */
  onTokenEndpoint?: ((call: TokenEndpointCall) => void) | undefined;
  /** Extra fields of the code exchange and the client-credentials grant (`expiring: '1'`). */
  tokenParams?: Readonly<Record<string, string>> | undefined;
  /** Extra fields of each refresh request. */
  refreshParams?: Readonly<Record<string, string>> | undefined;
  /** How the request's fields travel: `form` (RFC 6749 §4.1.3) or `json`. Default: json for clientAuth `json`. */
  body?: 'form' | 'json' | undefined;
  /** How the revocation endpoint takes a token, when not as RFC 7009 says. */
  revocation?: RevocationStyle | undefined;
  /** A client-credentials grant of the provider's own: its grant type and extra fields. */
  clientCredentials?: { grantType: string; fields?: Record<string, string> | undefined } | undefined;
}

/** The grants that go to the token endpoint (RFC 6749 §4.1.3, §6, §4.4). */
export type TokenGrant = Extract<GrantType, 'authorization_code' | 'refresh_token' | 'client_credentials'>;

/** One grant at the token endpoint: which, how it ended, and how long it took. */
export interface TokenEndpointCall {
  grant: TokenGrant;
  /** `ok`, or the `code` of the error it ended in (`reauthorization_required`, `network_error`, …). */
  outcome: string;
  /** From the request until the answer was read and parsed (a DPoP nonce retry included). */
  durationMs: number;
}

/** Runs one grant at the token endpoint and tells `onTokenEndpoint` how it ended. */
async function observed<T>(ctx: GrantContext, grant: TokenGrant, call: () => Promise<T>): Promise<T> {
  const observe = ctx.onTokenEndpoint;
  // Without a token endpoint nothing is sent: a ConfigError, not a call.
  if (!observe || !ctx.tokenUrl) return call();
  const started = performance.now();
  const done = (outcome: string) => observe({ grant, outcome, durationMs: performance.now() - started });
  try {
    const result = await call();
    done('ok');
    return result;
  } catch (err) {
    done(err instanceof BatonError ? err.code : 'error');
    throw err;
  }
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for HTTP Basic. */
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** The client's id and secret, so that redaction also removes their HTTP Basic form. */
function clientPair(ctx: GrantContext): ClientPair {
  return { clientId: ctx.client.clientId, clientSecret: ctx.client.clientSecret };
}

/**
 * Puts the client's credentials where the provider wants them (`clientAuth`) and POSTs. With
 * DPoP, a `use_dpop_nonce` answer (RFC 9449 §8) is sent once more with the nonce it gave — and
 * a fresh client assertion, as a server may refuse a `jti` it has seen.
 */
async function post(
  ctx: GrantContext,
  url: string | undefined,
  fields: Record<string, string>,
  grant: GrantType,
  resource: readonly string[] = [],
  method?: 'POST' | 'DELETE',
): Promise<RawResponse> {
  const { provider: spec } = ctx;
  if (!url) {
    throw new ConfigError(
      `${spec.displayName} has no ${grant === 'revocation' ? 'revocation' : 'token'} endpoint.`,
      `Set ${grant === 'revocation' ? 'revocationUrl' : 'tokenUrl'} in the provider spec.`,
      { provider: spec.id, connectionId: ctx.connectionId, forOperator: true },
    );
  }
  for (let attempt = 1; ; attempt++) {
    const res = await postOnce(ctx, url, fields, resource, method);
    const nonce = res.headers.get('dpop-nonce');
    if (!ctx.dpop || attempt > 1 || !isTokenEndpointNonceChallenge(res.status, res.body, nonce)) return res;
  }
}

async function postOnce(
  ctx: GrantContext,
  url: string,
  fields: Record<string, string>,
  resource: readonly string[],
  method?: 'POST' | 'DELETE',
): Promise<RawResponse> {
  const { provider: spec, client } = ctx;
  const headers: Record<string, string> = {};
  const body: Record<string, string> = { ...fields };
  const secret = client.clientSecret;
  let assertion: string | undefined;
  if (ctx.clientAuth === 'private_key_jwt' || ctx.clientAuth === 'client_secret_jwt') {
    assertion = await clientAssertion(ctx.clientAuth, client, {
      audience: ctx.issuer ?? url,
      now: ctx.now(),
      provider: spec.id,
    });
    body['client_id'] = client.clientId;
    body['client_assertion_type'] = JWT_BEARER;
    body['client_assertion'] = assertion;
  } else if (ctx.clientAuth === 'basic' && secret !== undefined) {
    headers['authorization'] = basic(client.clientId, secret);
  } else {
    body['client_id'] = client.clientId;
    if (secret !== undefined) body['client_secret'] = secret;
  }
  let text: string;
  if ((ctx.body ?? (ctx.clientAuth === 'json' ? 'json' : 'form')) === 'json') {
    headers['content-type'] = 'application/json; charset=utf-8';
    text = JSON.stringify(
      resource.length > 0 ? { ...body, resource: resource.length === 1 ? resource[0] : resource } : body,
    );
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    const form = new URLSearchParams(body);
    // RFC 8707 §2: one resource parameter per resource.
    for (const r of resource) form.append('resource', r);
    text = form.toString();
  }
  return postTokenEndpoint(
    {
      url,
      ...(method ? { method } : {}),
      headers,
      body: text,
      redirectAuthHosts: ctx.redirectAuthHosts,
      connectionId: ctx.connectionId,
      provider: spec.id,
      secrets: [
        clientPair(ctx),
        assertion,
        fields['refresh_token'],
        fields['code'],
        fields['code_verifier'],
        fields['token'],
      ],
      dpop: ctx.dpop,
    },
    ctx.http,
  );
}

function responseContext(ctx: GrantContext, grant: GrantType, secrets: (string | null | undefined)[]) {
  return {
    provider: ctx.provider,
    grant,
    now: ctx.now(),
    connectionId: ctx.connectionId,
    secrets: [clientPair(ctx), ...secrets],
  };
}

/** RFC 6749 §4.1.3 (+ RFC 7636 §4.5). */
export async function exchangeAuthorizationCode(
  ctx: GrantContext,
  input: { code: string; redirectUri: string; codeVerifier?: string; resource?: readonly string[] },
): Promise<TokenResponse> {
  const fields: Record<string, string> = {
    ...ctx.tokenParams,
    grant_type: 'authorization_code',
    code: input.code,
    redirect_uri: input.redirectUri,
  };
  if (input.codeVerifier) fields['code_verifier'] = input.codeVerifier;
  return observed(ctx, 'authorization_code', async () => {
    const res = await post(ctx, ctx.tokenUrl, fields, 'authorization_code', input.resource ?? ctx.resource);
    return parseTokenResponse(
      res,
      responseContext(ctx, 'authorization_code', [input.code, input.codeVerifier]),
    );
  });
}

/**
 * RFC 6749 §6. `accessToken` is the token being replaced, scrubbed from any error like the
 * refresh token. What a response without a refresh token means is core's to decide.
 */
export async function refreshAccessToken(
  ctx: GrantContext,
  input: { refreshToken: string; accessToken?: string | undefined; scopes?: string[] },
): Promise<TokenResponse> {
  const fields: Record<string, string> = {
    ...ctx.refreshParams,
    grant_type: 'refresh_token',
    refresh_token: input.refreshToken,
  };
  if (input.scopes && input.scopes.length > 0) fields['scope'] = input.scopes.join(ctx.scopeSeparator);
  return observed(ctx, 'refresh_token', async () => {
    const res = await post(ctx, ctx.tokenUrl, fields, 'refresh_token', ctx.resource);
    return parseTokenResponse(
      res,
      responseContext(ctx, 'refresh_token', [input.refreshToken, input.accessToken]),
    );
  });
}

/** RFC 6749 §4.4. */
export async function requestClientCredentials(
  ctx: GrantContext,
  input: { scopes?: string[] } = {},
): Promise<TokenResponse> {
  const own = ctx.clientCredentials;
  const fields: Record<string, string> = {
    ...ctx.tokenParams,
    ...own?.fields,
    grant_type: own?.grantType ?? 'client_credentials',
  };
  if (input.scopes && input.scopes.length > 0) fields['scope'] = input.scopes.join(ctx.scopeSeparator);
  return observed(ctx, 'client_credentials', async () => {
    const res = await post(ctx, ctx.tokenUrl, fields, 'client_credentials', ctx.resource);
    return parseTokenResponse(res, responseContext(ctx, 'client_credentials', []));
  });
}

/**
 * RFC 7009 §2.1. The server answers 200 whether or not it knew the token (§2.2), so only an
 * error answer is an error — or a 2xx whose body says it is one (`{"ok": false, ...}`).
 */
export async function revokeToken(
  ctx: GrantContext,
  input: { token: string; tokenTypeHint?: 'access_token' | 'refresh_token' },
): Promise<void> {
  const style = ctx.revocation ?? {};
  // An endpoint that takes only access tokens has nothing to do with a refresh token.
  if (style.takes === 'access_token' && input.tokenTypeHint === 'refresh_token') return;
  const field = style.tokenField ?? 'token';
  const fields: Record<string, string> = { [field]: input.token };
  // RFC 7009 §2.1's hint goes with its form body; a JSON body carries the token alone.
  if (input.tokenTypeHint && field === 'token' && (style.body ?? 'form') === 'form' && ctx.body !== 'json')
    fields['token_type_hint'] = input.tokenTypeHint;
  const res: RawResponse =
    style.auth === 'token'
      ? await revokeAsBearer(ctx, input.token, style)
      : await post(
          {
            ...ctx,
            ...(style.body === 'json' || style.body === 'form' ? { body: style.body } : {}),
            ...(style.auth === 'basic' && ctx.client.clientSecret !== undefined
              ? { clientAuth: 'basic' as const }
              : {}),
          },
          ctx.revocationUrl,
          style.body === 'none' ? {} : fields,
          'revocation',
          [],
          style.method,
        );
  if (res.status >= 200 && res.status < 300 && !bodySaysError(res.body)) return;
  // A token the server no longer knows is what revocation wants (RFC 7009 §2.2): Google answers
  // `invalid_token` for the access token of a grant just revoked through its refresh token.
  if (res.status === 400 && errorCodeOf(res.body) === 'invalid_token') return;
  throw errorFromResponse(res, responseContext(ctx, 'revocation', [input.token]));
}

/** A revocation whose credential is the token itself (Dropbox, Slack): no client credentials. */
async function revokeAsBearer(
  ctx: GrantContext,
  token: string,
  style: RevocationStyle,
): Promise<RawResponse> {
  const { provider: spec } = ctx;
  if (!ctx.revocationUrl) {
    throw new ConfigError(
      `${spec.displayName} has no revocation endpoint.`,
      'Set revocationUrl in the provider spec.',
      {
        provider: spec.id,
        connectionId: ctx.connectionId,
      },
    );
  }
  const field = style.tokenField ?? 'token';
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let body = '';
  if (style.body === 'json') {
    headers['content-type'] = 'application/json; charset=utf-8';
    body = JSON.stringify({ [field]: token });
  } else if (style.body === 'form') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams({ [field]: token }).toString();
  }
  return postTokenEndpoint(
    {
      url: ctx.revocationUrl,
      ...(style.method ? { method: style.method } : {}),
      headers,
      body,
      redirectAuthHosts: ctx.redirectAuthHosts,
      connectionId: ctx.connectionId,
      provider: spec.id,
      secrets: [token],
    },
    ctx.http,
  );
}

function errorCodeOf(body: string): unknown {
  try {
    const json: unknown = JSON.parse(body);
    return json !== null && typeof json === 'object' ? (json as Record<string, unknown>)['error'] : undefined;
  } catch {
    return undefined;
  }
}

function bodySaysError(body: string): boolean {
  try {
    const json: unknown = JSON.parse(body);
    return (
      json !== null &&
      typeof json === 'object' &&
      !Array.isArray(json) &&
      saysError(json as Record<string, unknown>)
    );
  } catch {
    return false;
  }
}

/**
 * RFC 9126 §2: pushes an authorization request's parameters to the server, authenticated as
 * any token request; the `request_uri` it answers with stands for them on the authorization URL.
 */
export async function pushAuthorizationRequest(
  ctx: GrantContext,
  input: { url: string; params: URLSearchParams },
): Promise<{ requestUri: string; expiresIn: number }> {
  const fields: Record<string, string> = {};
  const resource: string[] = [];
  for (const [k, v] of input.params) {
    if (k === 'resource') resource.push(v);
    else fields[k] = v;
  }
  const res = await post(ctx, input.url, fields, 'pushed_authorization', resource);
  if (res.status === 201 || res.status === 200) {
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      json = null;
    }
    const requestUri = json?.['request_uri'];
    const expiresIn = json?.['expires_in'];
    if (typeof requestUri === 'string' && typeof expiresIn === 'number') return { requestUri, expiresIn };
    throw new ProviderError(
      `${ctx.provider.displayName} answered the pushed authorization request without request_uri and expires_in.`,
      { status: res.status },
      { provider: ctx.provider.id, connectionId: ctx.connectionId },
    );
  }
  throw errorFromResponse(res, responseContext(ctx, 'pushed_authorization', [fields['code_challenge']]));
}

/** What an introspection answer says about a token (RFC 7662 §2.2), the fields Baton shows. */
export interface Introspection {
  active: boolean;
  scope?: string;
  sub?: string;
  clientId?: string;
  exp?: number;
}

/** RFC 7662 §2.1: asks the server whether a token is active, authenticated like a token request. */
export async function introspectToken(
  ctx: GrantContext,
  input: { url: string; token: string; tokenTypeHint?: 'access_token' | 'refresh_token' },
): Promise<Introspection> {
  const fields: Record<string, string> = { token: input.token };
  if (input.tokenTypeHint) fields['token_type_hint'] = input.tokenTypeHint;
  const res = await post(ctx, input.url, fields, 'introspection');
  if (res.status === 200) {
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      json = null;
    }
    if (json && typeof json['active'] === 'boolean') {
      const out: Introspection = { active: json['active'] };
      if (typeof json['scope'] === 'string') out.scope = json['scope'];
      if (typeof json['sub'] === 'string') out.sub = json['sub'];
      if (typeof json['client_id'] === 'string') out.clientId = json['client_id'];
      if (typeof json['exp'] === 'number') out.exp = json['exp'];
      return out;
    }
    throw new ProviderError(
      `${ctx.provider.displayName} answered the introspection request without a boolean "active".`,
      { status: res.status },
      { provider: ctx.provider.id, connectionId: ctx.connectionId },
    );
  }
  throw errorFromResponse(res, responseContext(ctx, 'introspection', [input.token]));
}
