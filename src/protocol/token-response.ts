import {
  AuthorizationError,
  type BatonError,
  excerpt,
  InvalidClient,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  type Secret,
} from '../errors.js';
import type { RawResponse } from './http.js';
import { readPath } from './json-path.js';
import type { ErrorDialect } from './types.js';

export type GrantType =
  | 'authorization_code'
  | 'refresh_token'
  | 'client_credentials'
  | 'revocation'
  | 'pushed_authorization'
  | 'introspection';

/** Who answered: what error messages name, and how the provider words its errors. */
export interface ProviderLabel {
  id: string;
  displayName: string;
  errorDialect: ErrorDialect;
  /** The environment the credentials were for (sandbox / production), to say which were wrong. */
  environment?: string | undefined;
  /** How long its authorization codes live, when it documents it: said when a code is rejected. */
  codeLifetimeSeconds?: number | undefined;
  /** The provider's own error codes and the RFC 6749 code each means (`bad_refresh_token` → `invalid_grant`). */
  errorCodes?: Readonly<Record<string, string>> | undefined;
  /** Where its error bodies put the code and description, when not in `error` / `error_description`. */
  errorShape?: { code: string; description?: string | undefined } | undefined;
}

export interface ResponseContext {
  provider: ProviderLabel;
  grant: GrantType;
  now: number;
  connectionId?: string | undefined;
  /** Values to scrub from anything quoted back (the refresh token sent, the client id + secret pair). */
  secrets: readonly Secret[];
}

/**
 * A token response as the provider sent it (RFC 6749 §5.1), checked and normalised but with
 * no policy applied: lifetimes are the provider's seconds or null. Core turns it into a
 * TokenSet (defaults, sliding refresh tokens, the old refresh token carried over).
 */
export interface TokenResponse {
  accessToken: string;
  /** Normalised to `Bearer` when the provider says `bearer`, `BEARER`, … */
  tokenType: string;
  expiresIn: number | null;
  refreshToken: string | null;
  refreshTokenExpiresIn: number | null;
  scope: string[] | null;
  /** When it was received (epoch ms). */
  receivedAt: number;
  /** Fields the provider added (`account_id`, `sub`, `linking_profile`), kept as they came. */
  extra: Record<string, unknown>;
}

const KNOWN_FIELDS = new Set([
  'access_token',
  'token_type',
  'expires_in',
  'refresh_token',
  'refresh_token_expires_in',
  'scope',
]);
const MAX_EXPIRES_IN = 2_147_483_647;

/**
 * A token response's members: a JSON object, or — from a server that answers
 * `application/x-www-form-urlencoded` (GitHub without `Accept: application/json`) — the form's
 * fields as strings.
 */
function responseObject(res: RawResponse): Record<string, unknown> | null {
  const json = jsonObject(res.body);
  if (json || !/application\/x-www-form-urlencoded/i.test(res.headers.get('content-type') ?? '')) return json;
  const form = new URLSearchParams(res.body.trim());
  const out: Record<string, unknown> = {};
  for (const [k, v] of form) out[k] = v;
  return Object.keys(out).length > 0 ? out : null;
}

/**
 * Whether a 2xx body says it is an error: an `error` member (GitHub answers 200 with one), or
 * `"ok": false` (Slack's `{"ok": false, "error": "invalid_code"}`).
 */
export function saysError(json: Record<string, unknown>): boolean {
  return (typeof json['error'] === 'string' && json['error'] !== '') || json['ok'] === false;
}

function jsonObject(body: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function seconds(value: unknown): number | null | 'invalid' {
  if (value === undefined || value === null || value === '') return null;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > MAX_EXPIRES_IN) return 'invalid';
  return Math.floor(n);
}

/**
 * RFC 6749 §5.1, strictly: a 2xx that is not a JSON object with a non-empty string
 * `access_token` is a ProviderError, never a token. Token types are normalised (`bearer` →
 * `Bearer`); `expires_in` may be a number or a numeric string.
 */
export function parseTokenResponse(res: RawResponse, ctx: ResponseContext): TokenResponse {
  if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, ctx);
  const malformed = (why: string) =>
    new ProviderError(
      `${ctx.provider.displayName} answered the ${ctx.grant.replace('_', ' ')} request with ${why}.`,
      { status: res.status, excerpt: excerpt(res.body, ctx.secrets) },
      { connectionId: ctx.connectionId, provider: ctx.provider.id },
    );
  const json = responseObject(res);
  if (!json) throw malformed(res.body.trim() === '' ? 'an empty body' : 'a body that is not a JSON object');
  if (saysError(json)) throw errorFromResponse(res, ctx, json);
  const accessToken = json['access_token'];
  if (typeof accessToken !== 'string' || accessToken.trim() === '') throw malformed('no access_token');
  const tokenType = json['token_type'] ?? 'Bearer';
  if (typeof tokenType !== 'string' || tokenType.trim() === '') throw malformed('an unusable token_type');
  const expiresIn = seconds(json['expires_in']);
  if (expiresIn === 'invalid') throw malformed('an unusable expires_in');
  const refreshRaw = json['refresh_token'];
  if (
    refreshRaw !== undefined &&
    refreshRaw !== null &&
    (typeof refreshRaw !== 'string' || refreshRaw === '')
  ) {
    throw malformed('an unusable refresh_token');
  }
  const refreshIn = seconds(json['refresh_token_expires_in']);
  if (refreshIn === 'invalid') throw malformed('an unusable refresh_token_expires_in');
  const scopeRaw = json['scope'];
  let scope: string[] | null = null;
  if (typeof scopeRaw === 'string') scope = scopeRaw.split(/[\s,]+/).filter(Boolean);
  else if (Array.isArray(scopeRaw) && scopeRaw.every((s) => typeof s === 'string'))
    scope = scopeRaw as string[];
  else if (scopeRaw !== undefined && scopeRaw !== null) throw malformed('an unusable scope');

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (!KNOWN_FIELDS.has(k)) extra[k] = v;
  return {
    accessToken,
    tokenType: canonicalTokenType(tokenType),
    expiresIn,
    refreshToken: typeof refreshRaw === 'string' ? refreshRaw : null,
    refreshTokenExpiresIn: refreshIn,
    scope,
    receivedAt: ctx.now,
    extra,
  };
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date). */
export function retryAfterSeconds(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

interface ProviderSaid {
  code: string | undefined;
  description: string | undefined;
}

function whatTheProviderSaid(provider: ProviderLabel, json: Record<string, unknown> | null): ProviderSaid {
  if (!json) return { code: undefined, description: undefined };
  const shape = provider.errorShape;
  if (shape) {
    const code = readPath(json, shape.code);
    const d = shape.description ? readPath(json, shape.description) : undefined;
    if (typeof code === 'string' && code !== '')
      return { code, description: typeof d === 'string' ? d : undefined };
  }
  if (typeof json['error'] === 'string') {
    const d = json['error_description'];
    return { code: json['error'], description: typeof d === 'string' ? d : undefined };
  }
  // Checkissuing: {"status":0,"errors":["Access Denied"]}
  const errors = json['errors'];
  if (provider.errorDialect === 'checkissuing') {
    if (Array.isArray(errors)) {
      const text = errors.filter((e) => typeof e === 'string').join('; ');
      if (/access denied/i.test(text)) return { code: 'access_denied', description: text };
      return { code: 'provider_errors', description: text || undefined };
    }
  }
  return { code: undefined, description: undefined };
}

/**
 * Turns an error answer from a token or revocation endpoint into the error a person can act
 * on: RFC 6749 §5.2 codes, vendor dialects and the provider's own codes (`errorCodes`) by
 * meaning, whether the status is an error or a 2xx whose body says so, and everything else
 * (5xx, HTML, an empty body) as a ProviderError with a short redacted excerpt.
 */
export function errorFromResponse(
  res: RawResponse,
  ctx: ResponseContext,
  parsed: Record<string, unknown> | null = responseObject(res),
): BatonError {
  const spec = ctx.provider;
  const opts = { connectionId: ctx.connectionId, provider: spec.id };
  const raw = whatTheProviderSaid(spec, parsed);
  const own = raw.code === undefined ? undefined : spec.errorCodes?.[raw.code];
  // The provider's words are quoted back to a person: scrub them like any other response text.
  const said = {
    code: own ?? (raw.code === undefined ? undefined : excerpt(raw.code, ctx.secrets, 60)),
    description: raw.description ?? (own && raw.code ? raw.code : undefined),
  };
  const description = said.description ? excerpt(said.description, ctx.secrets, 160) : undefined;
  const quoted = description ? ` ("${description}")` : '';
  if (res.status === 429 || said.code === 'slow_down') {
    return new RateLimited(
      `${spec.displayName} is rate limiting token requests${quoted}.`,
      retryAfterSeconds(res.headers.get('retry-after'), ctx.now),
      opts,
    );
  }
  const environment = spec.environment;
  if (
    said.code === 'invalid_client' ||
    said.code === 'unauthorized_client' ||
    said.code === 'access_denied'
  ) {
    return new InvalidClient(
      `${spec.displayName} rejected the client credentials${environment ? ` for ${environment}` : ''}${quoted}.`,
      { ...opts, environment },
    );
  }
  if (said.code === 'unsupported_grant_type' && ctx.grant === 'client_credentials') {
    // RFC 6749 §5.2: the server does not take this grant from this client — most often the
    // client Baton chose is an app for users, not the provider's machine-to-machine kind.
    const fix = `Configure the client ${spec.displayName} issued for this grant (a server-to-server or machine-to-machine app) for ${spec.id}; where it is limited to params (clients[].params), the connection's params must match them exactly.`;
    return new InvalidClient(
      `${spec.displayName} does not take the client credentials grant from the client Baton sent${quoted}.`,
      { ...opts, environment, remediation: fix, cliRemediation: fix, grantUnsupported: true },
    );
  }
  if (said.code === 'invalid_grant') {
    if (ctx.grant === 'authorization_code') {
      return new AuthorizationError(
        'invalid_code',
        `${spec.displayName} rejected the authorization code${quoted}.`,
        { ...opts, codeLifetimeSeconds: spec.codeLifetimeSeconds },
      );
    }
    if (ctx.grant === 'refresh_token') {
      return new ReauthorizationRequired(
        `${spec.displayName} no longer accepts the refresh token${ctx.connectionId ? ` of "${ctx.connectionId}"` : ''}${quoted}; the grant was revoked, expired or replaced.`,
        opts,
      );
    }
  }
  const label = raw.code ? `"${excerpt(raw.code, ctx.secrets, 60)}"` : `HTTP ${res.status}`;
  const contentType = res.headers.get('content-type') ?? '';
  const shape =
    res.body.trim() === ''
      ? 'an empty body'
      : /html/i.test(contentType) || /^\s*</.test(res.body)
        ? 'an HTML page'
        : null;
  return new ProviderError(
    `${spec.displayName} answered the ${ctx.grant.replace('_', ' ')} request with ${label}${shape ? ` and ${shape}` : ''}${quoted}.`,
    {
      status: res.status,
      excerpt: excerpt(res.body, ctx.secrets),
      providerCode: raw.code === undefined ? undefined : excerpt(raw.code, ctx.secrets, 60),
    },
    opts,
  );
}

/** Token types are case-insensitive (RFC 6749 §5.1, RFC 9449 §7.1): `bearer` is `Bearer`, `dpop` is `DPoP`. */
function canonicalTokenType(type: string): string {
  const lower = type.toLowerCase();
  if (lower === 'bearer') return 'Bearer';
  if (lower === 'dpop') return 'DPoP';
  return type;
}
