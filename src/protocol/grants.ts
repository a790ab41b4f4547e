import { BatonError, type ClientPair, ConfigError, ProviderError } from '../errors.js';
import { clientAssertion, JWT_BEARER } from './client-assertion.js';
import { type DpopSigner, isTokenEndpointNonceChallenge } from './dpop.js';
import { type HttpOptions, postTokenEndpoint, type RawResponse } from './http.js';
import {
  errorFromResponse,
  type GrantType,
  type ProviderLabel,
  parseTokenResponse,
  type TokenResponse,
} from './token-response.js';
import type { ClientAuth, ClientConfig } from './types.js';

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
    const res = await postOnce(ctx, url, fields, resource);
    const nonce = res.headers.get('dpop-nonce');
    if (!ctx.dpop || attempt > 1 || !isTokenEndpointNonceChallenge(res.status, res.body, nonce)) return res;
  }
}

async function postOnce(
  ctx: GrantContext,
  url: string,
  fields: Record<string, string>,
  resource: readonly string[],
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
  if (ctx.clientAuth === 'json') {
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
  const fields: Record<string, string> = { grant_type: 'refresh_token', refresh_token: input.refreshToken };
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
  const fields: Record<string, string> = { grant_type: 'client_credentials' };
  if (input.scopes && input.scopes.length > 0) fields['scope'] = input.scopes.join(ctx.scopeSeparator);
  return observed(ctx, 'client_credentials', async () => {
    const res = await post(ctx, ctx.tokenUrl, fields, 'client_credentials', ctx.resource);
    return parseTokenResponse(res, responseContext(ctx, 'client_credentials', []));
  });
}

/**
 * RFC 7009 §2.1. The server answers 200 whether or not it knew the token (§2.2), so only an
 * error answer is an error.
 */
export async function revokeToken(
  ctx: GrantContext,
  input: { token: string; tokenTypeHint?: 'access_token' | 'refresh_token' },
): Promise<void> {
  const fields: Record<string, string> = { token: input.token };
  if (input.tokenTypeHint) fields['token_type_hint'] = input.tokenTypeHint;
  const res: RawResponse = await post(ctx, ctx.revocationUrl, fields, 'revocation');
  if (res.status >= 200 && res.status < 300) return;
  throw errorFromResponse(res, responseContext(ctx, 'revocation', [input.token]));
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
