/**
 * When a token is due for refresh (README, "When tokens are refreshed"): `window` before it
 * expires, or half its lifetime before if that is shorter. A 60-second token is refreshed 30
 * seconds in, about twice a minute, never on every call; a one-hour token a minute before.
 */
export const LIFETIME_FRACTION = 0.5;

/** The moment a token stops being handed out as-is; +Infinity when it never expires. */
export function refreshPoint(expiresAt: number | null, issuedAt: number | null, windowMs: number): number {
  if (expiresAt === null) return Number.POSITIVE_INFINITY;
  const lifetime = issuedAt === null ? Number.POSITIVE_INFINITY : Math.max(0, expiresAt - issuedAt);
  return expiresAt - Math.min(windowMs, lifetime * LIFETIME_FRACTION);
}

export function isDue(
  expiresAt: number | null,
  issuedAt: number | null,
  now: number,
  windowMs: number,
): boolean {
  return refreshPoint(expiresAt, issuedAt, windowMs) <= now;
}

export function isExpired(expiresAt: number | null, now: number): boolean {
  return expiresAt !== null && expiresAt <= now;
}

/** Whether the connection's access token works for one request only (Checkbook `single-use`). */
export function isSingleUse(conn: {
  spec: { singleUseScopes?: string[] | undefined };
  record: { scopes: string[] | null };
}): boolean {
  const single = conn.spec.singleUseScopes;
  return !!single && single.length > 0 && (conn.record.scopes ?? []).some((s) => single.includes(s));
}
