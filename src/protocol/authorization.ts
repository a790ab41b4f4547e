import { createHmac, timingSafeEqual } from 'node:crypto';
import { AuthorizationError, ConfigError, excerpt } from '../errors.js';
import type { CallbackSignature } from './types.js';

export interface AuthorizationUrlInput {
  /** The authorization endpoint (RFC 6749 §3.1). */
  authorizationUrl: string;
  clientId: string;
  redirectUri: string;
  scopes: readonly string[];
  /** RFC 6749 §3.3 says space; some servers join scopes with another separator. */
  scopeSeparator: string;
  state: string;
  codeChallenge?: string;
  /** OpenID Connect Core §3.1.2.1: binds the id_token to this authorization. */
  nonce?: string;
  /** RFC 8707 §2: one `resource` parameter per resource. */
  resource?: readonly string[];
  /** RFC 9449 §10: the thumbprint of the DPoP key the code is to be bound to. */
  dpopJkt?: string;
  /** Further parameters, in order (later ones win); never one this function sets itself. */
  params?: Record<string, string>;
  /** Names the provider in a ConfigError. */
  provider?: string;
}

const RESERVED = new Set([
  'client_id',
  'response_type',
  'redirect_uri',
  'state',
  'scope',
  'code_challenge',
  'code_challenge_method',
  'nonce',
  'resource',
  'dpop_jkt',
]);

/** RFC 6749 §4.1.1 (+ RFC 7636 §4.3): the URL a person opens to grant access. */
export function buildAuthorizationUrl(input: AuthorizationUrlInput): string {
  const url = new URL(input.authorizationUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', input.clientId);
  url.searchParams.set('redirect_uri', input.redirectUri);
  if (input.scopes.length > 0) url.searchParams.set('scope', input.scopes.join(input.scopeSeparator));
  url.searchParams.set('state', input.state);
  if (input.codeChallenge) {
    url.searchParams.set('code_challenge', input.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  if (input.nonce) url.searchParams.set('nonce', input.nonce);
  for (const r of input.resource ?? []) url.searchParams.append('resource', r);
  if (input.dpopJkt) url.searchParams.set('dpop_jkt', input.dpopJkt);
  for (const [k, v] of Object.entries(input.params ?? {})) {
    if (RESERVED.has(k)) {
      throw new ConfigError(
        `extraParams and authorizationParams may not set "${k}"; Baton sets it.`,
        `Remove "${k}" from extraParams${input.provider ? ` and from the ${input.provider} spec's authorizationParams` : ''}.`,
        input.provider ? { provider: input.provider, forOperator: true } : {},
      );
    }
    url.searchParams.set(k, v);
  }
  return url.toString();
}

export interface Callback {
  /** Where the callback arrived (scheme, host, port and path), when it was given as a full URL. */
  arrivedAt?: string | undefined;
  state: string | undefined;
  /** RFC 9207 §2: the issuer of the authorization response. */
  iss?: string | undefined;
  code: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
  /** Every query parameter the callback carried (some providers add their own: QuickBooks `realmId`). */
  query?: URLSearchParams | undefined;
}

/** Reads the redirect a provider sent the browser back with (a full URL, a query string, or its fields). */
export function parseCallback(input: string | Record<string, string | undefined>): Callback {
  let get: (name: string) => string | undefined;
  let arrivedAt: string | undefined;
  let query: URLSearchParams;
  if (typeof input === 'string') {
    const text = input.trim();
    let params: URLSearchParams;
    try {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
        const url = new URL(text);
        arrivedAt = `${url.origin}${url.pathname}`;
        params = url.searchParams;
      } else {
        params = new URLSearchParams(text.replace(/^\?/, ''));
      }
    } catch {
      throw new AuthorizationError('missing_code', 'The callback is not a URL or a query string.');
    }
    get = (name) => params.get(name) ?? undefined;
    query = params;
  } else {
    get = (name) => input[name];
    query = new URLSearchParams();
    for (const [k, v] of Object.entries(input)) if (typeof v === 'string') query.append(k, v);
  }
  const pick = (name: string) => {
    const v = get(name);
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    arrivedAt,
    state: pick('state'),
    iss: pick('iss'),
    code: pick('code'),
    error: pick('error'),
    errorDescription: pick('error_description'),
    query,
  };
}

/** RFC 6749 §4.1.2: the state must be ours, and the callback carries either a code or an error. */
export function checkCallback(
  cb: Callback,
  expectedState: string,
  opts: { provider?: string; connectionId?: string } = {},
): string {
  if (cb.state !== expectedState) {
    throw new AuthorizationError(
      'state_mismatch',
      'The callback state does not match the authorization that was started.',
      opts,
    );
  }
  if (cb.error) {
    // The description is the provider's text, quoted back: redacted, then cut.
    const description = cb.errorDescription
      ? `: ${excerpt(cb.errorDescription, [cb.code, expectedState], 200)}`
      : '';
    if (cb.error === 'access_denied') {
      throw new AuthorizationError('access_denied', `The account owner declined access${description}.`, opts);
    }
    throw new AuthorizationError(
      'provider_error',
      `The provider answered the authorization with "${cb.error}"${description}.`,
      opts,
    );
  }
  if (!cb.code)
    throw new AuthorizationError('missing_code', 'The callback carries no authorization code.', opts);
  return cb.code;
}

/**
 * RFC 9207 §2.4 (mix-up defence): when the server says it sends `iss` (its metadata's
 * `authorization_response_iss_parameter_supported`), or the callback carries one anyway, it
 * must be the issuer the authorization was begun with, before the code or error is looked at.
 */
export function checkCallbackIssuer(
  cb: Callback,
  expected: string | null,
  required: boolean,
  opts: { provider?: string; connectionId?: string } = {},
): void {
  if (expected === null) return;
  if (cb.iss === undefined && !required) return;
  if (cb.iss !== expected) {
    throw new AuthorizationError(
      'issuer_mismatch',
      cb.iss === undefined
        ? `The callback carries no iss, though the issuer ${expected} sends one with every authorization response (RFC 9207).`
        : `The callback comes from the issuer ${JSON.stringify(excerpt(cb.iss, [], 200))}, not ${expected} (RFC 9207).`,
      opts,
    );
  }
}

/**
 * The provider's signature over the callback's query (CallbackSignature), checked with the
 * client secret before the code is exchanged; a missing or wrong one is `bad_signature`.
 */
export function checkCallbackSignature(
  cb: Callback,
  style: CallbackSignature,
  secret: string,
  opts: { provider?: string; connectionId?: string } = {},
): void {
  const query = cb.query ?? new URLSearchParams();
  const sent = query.get(style.param);
  if (!sent) {
    throw new AuthorizationError(
      'bad_signature',
      `The callback carries no ${style.param} signature, which the provider adds to every authorization it sends back.`,
      opts,
    );
  }
  const skip = new Set([style.param, ...(style.exclude ?? [])]);
  const names = [...new Set(query.keys())].filter((k) => !skip.has(k)).sort();
  const message = names.map((k) => `${k}=${query.getAll(k).join(',')}`).join('&');
  const expected = createHmac('sha256', secret).update(message).digest();
  const given = /^[0-9a-f]+$/i.test(sent) ? Buffer.from(sent, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AuthorizationError(
      'bad_signature',
      `The callback's ${style.param} signature does not match its parameters under the client secret.`,
      opts,
    );
  }
}

/**
 * The callback must arrive where the authorization asked the server to send it: the scheme,
 * host, port and path of the redirect URI the authorization began with (RFC 6749 §4.1.2).
 * A callback given as fields or a bare query string has no address to compare.
 */
export function checkCallbackAddress(
  cb: Callback,
  redirectUri: string,
  opts: { provider?: string; connectionId?: string } = {},
): void {
  if (cb.arrivedAt === undefined) return;
  const expected = new URL(redirectUri);
  if (cb.arrivedAt !== `${expected.origin}${expected.pathname}`) {
    throw new AuthorizationError(
      'redirect_mismatch',
      `The callback arrived at ${cb.arrivedAt}, not at the redirect URI ${expected.origin}${expected.pathname} the authorization was begun with.`,
      opts,
    );
  }
}
