import type { GrantType, TokenResponse } from '../protocol/token-response.js';
import type { GrantTimes, TokenSet } from '../protocol/token-set.js';
import type { ProviderSpec } from '../providers/spec.js';

/** The spec fields the lifetime policy reads. */
export type LifetimeSpec = Pick<
  ProviderSpec,
  'defaultExpiresIn' | 'refreshTokenLifetime' | 'refreshTokenExpiresInField'
>;

/**
 * Lifetime policy: what a token response means for the connection (README, "When tokens are
 * refreshed"). The protocol layer only parses; here a missing `expires_in` takes the spec's
 * documented lifetime, and a refresh that returns no refresh token keeps the old one in force
 * (RFC 6749 §6) with its scope. A refresh token has two ends (`GrantTimes`): its own — the
 * provider's `refresh_token_expires_in` (or the spec's named field), else the spec's lifetime,
 * moved by every use when it slides — and the grant's absolute end, counted from the first
 * authorization and carried across rotations. `refreshTokenExpiresAt`, which the stores index
 * for the keeper, is the earlier of the two.
 */
export function toTokenSet(
  response: TokenResponse,
  spec: LifetimeSpec,
  grant: GrantType,
  previous: TokenSet | null = null,
): TokenSet {
  const now = response.receivedAt;
  const lifetime = response.expiresIn ?? spec.defaultExpiresIn;
  let refreshToken = response.refreshToken;
  if (refreshToken === null && previous?.refreshToken && grant === 'refresh_token') {
    refreshToken = previous.refreshToken;
  }
  const times =
    refreshToken === null
      ? undefined
      : grantTimes(
          spec,
          now,
          toldLifetime(response, spec),
          grant === 'refresh_token' ? previous : null,
          refreshToken,
        );
  return {
    accessToken: response.accessToken,
    tokenType: response.tokenType,
    expiresAt: lifetime === null ? null : now + lifetime * 1000,
    refreshToken,
    refreshTokenExpiresAt: times ? endOf(times) : null,
    scope: response.scope ?? (grant === 'refresh_token' ? (previous?.scope ?? null) : null),
    issuedAt: now,
    extra: response.extra,
    ...(times ? { grant: times } : {}),
  };
}

/**
 * The grant's times after a token response at `now`: a new grant when there is no `previous`
 * (an authorization, an import), else the previous one's carried on — its authorization time
 * and absolute end, its notice — with the refresh token's issue, use and own end updated.
 * A set stored before Baton kept these times counts its grant from this refresh.
 */
export function grantTimes(
  spec: LifetimeSpec,
  now: number,
  toldSeconds: number | null,
  previous: TokenSet | null,
  refreshToken: string,
): GrantTimes {
  const rt = spec.refreshTokenLifetime;
  const prev = previous?.grant;
  const authorizedAt = prev?.authorizedAt ?? now;
  const same = previous !== null && previous.refreshToken === refreshToken;
  const previousEnd = prev ? prev.slidingExpiresAt : (previous?.refreshTokenExpiresAt ?? null);
  let slidingExpiresAt: number | null;
  if (toldSeconds !== null) slidingExpiresAt = now + toldSeconds * 1000;
  else if (rt) slidingExpiresAt = rt.sliding || !same ? now + rt.seconds * 1000 : previousEnd;
  else slidingExpiresAt = same ? previousEnd : null;
  return {
    authorizedAt,
    refreshTokenIssuedAt: same ? (prev?.refreshTokenIssuedAt ?? previous?.issuedAt ?? now) : now,
    refreshTokenUsedAt: previous ? now : null,
    slidingExpiresAt,
    absoluteExpiresAt: rt?.absoluteSeconds ? authorizedAt + rt.absoluteSeconds * 1000 : null,
    expiringNoticeAt: prev?.expiringNoticeAt ?? null,
    inDoubtSince: null,
  };
}

/** The earlier of the refresh token's own end and the grant's absolute end; null when neither is known. */
export function endOf(times: Pick<GrantTimes, 'slidingExpiresAt' | 'absoluteExpiresAt'>): number | null {
  const { slidingExpiresAt: s, absoluteExpiresAt: a } = times;
  if (s === null) return a;
  if (a === null) return s;
  return Math.min(s, a);
}

const MAX_SECONDS = 2_147_483_647;

/**
 * The refresh token's remaining lifetime as the response says it: `refresh_token_expires_in`
 * (parsed strictly by the protocol layer), else the spec's named field (QuickBooks
 * `x_refresh_token_expires_in`) when it holds a number of seconds — anything else there is
 * ignored, since the pair it came with is already the only valid one.
 */
function toldLifetime(response: TokenResponse, spec: LifetimeSpec): number | null {
  if (response.refreshTokenExpiresIn !== null) return response.refreshTokenExpiresIn;
  const field = spec.refreshTokenExpiresInField;
  if (!field) return null;
  const raw = response.extra[field];
  const n = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 && n <= MAX_SECONDS ? Math.floor(n) : null;
}

/**
 * Whether using the refresh token now keeps the connection alive past `until` where it would
 * otherwise lapse by then (the keeper's `keepAliveMs`). Not when only the grant's absolute end
 * is near (no refresh moves it), nor when the token was already used after the window opened
 * without its end moving (a fixed lifetime the provider does not renew): refreshing again
 * would change nothing.
 */
export function keepAliveDue(tokens: TokenSet | null, now: number, until: number): boolean {
  if (!tokens?.refreshToken) return false;
  const end = tokens.refreshTokenExpiresAt;
  if (end === null || end > until) return false;
  const g = tokens.grant;
  if (!g) return true;
  const own = g.slidingExpiresAt;
  if (own === null || (g.absoluteExpiresAt !== null && own >= g.absoluteExpiresAt)) return false;
  return !(g.refreshTokenUsedAt !== null && g.refreshTokenUsedAt >= own - (until - now));
}

/**
 * Whether `connection.expiring` is due: the grant's absolute end is within `withinMs` of `now`
 * (or past), and the event has not been emitted for this grant.
 */
export function expiringDue(tokens: TokenSet | null, now: number, withinMs: number): boolean {
  const g = tokens?.grant;
  return (
    !!g &&
    g.absoluteExpiresAt !== null &&
    g.expiringNoticeAt === null &&
    g.absoluteExpiresAt - now <= withinMs
  );
}

/** The same tokens, with `connection.expiring` noted as emitted at `at`. */
export function withExpiringNoted(tokens: TokenSet, at: number): TokenSet {
  return tokens.grant ? { ...tokens, grant: { ...tokens.grant, expiringNoticeAt: at } } : tokens;
}

/**
 * The times of a token set stored before Baton kept them (`TokenSet.grant` absent): the grant
 * counted from the set's issue, the refresh token's end as stored, no absolute end.
 */
export function timesOf(tokens: TokenSet): GrantTimes {
  return (
    tokens.grant ?? {
      authorizedAt: tokens.issuedAt,
      refreshTokenIssuedAt: tokens.issuedAt,
      refreshTokenUsedAt: null,
      slidingExpiresAt: tokens.refreshTokenExpiresAt,
      absoluteExpiresAt: null,
      expiringNoticeAt: null,
      inDoubtSince: null,
    }
  );
}
