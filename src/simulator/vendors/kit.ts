import { createHash } from 'node:crypto';
import { basicAuth, type SimRequest } from '../http.js';
import type { Code } from '../state.js';

/** Pieces the provider personas share: time units, client authentication, PKCE, stable ids. */

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** The client credentials of a token request, from HTTP Basic or from the body, as the vendor allows. */
export function clientCredentials(
  req: SimRequest,
  fields: Record<string, string>,
  allow: { basic: boolean; body: boolean },
): { id: string; secret: string | undefined } | null {
  const basic = allow.basic ? basicAuth(req) : null;
  if (basic) return { id: basic.user, secret: basic.pass };
  if (allow.body && fields['client_id'])
    return { id: fields['client_id'], secret: fields['client_secret'] ?? undefined };
  return null;
}

/** RFC 7636 §4.6: the verifier matches the challenge the code was issued with (true when there was none). */
export function pkceHolds(code: Code, verifier: string | undefined): boolean {
  if (!code.codeChallenge) return true;
  if (!verifier) return false;
  const computed =
    code.codeChallengeMethod === 'S256'
      ? createHash('sha256').update(verifier).digest('base64url')
      : verifier;
  return computed === code.codeChallenge;
}

/** A UUID-shaped id derived from a name: the same at every start, for tenants, sites and users. */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Digits derived from a name (QuickBooks realm ids, Salesforce-like ids). */
export function stableDigits(name: string, length: number): string {
  const h = createHash('sha256').update(name).digest();
  let out = '';
  for (let i = 0; out.length < length; i++) out += String((h[i % h.length] as number) % 10);
  return out.replace(/^0/, '1');
}

/** The space-separated scopes of a request, as a set. */
export function scopeSet(scope: string | undefined): Set<string> {
  return new Set((scope ?? '').split(/[\s,]+/).filter(Boolean));
}

/** A header's single value. */
export function headerOf(req: SimRequest, name: string): string | null {
  const v = req.headers[name.toLowerCase()];
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
}
