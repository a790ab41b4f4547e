import type { DpopPrivateJwk } from './dpop.js';

/**
 * A token response, normalised. Times are epoch milliseconds so they compare directly with
 * the clock; `null` means the provider did not say.
 */
export interface TokenSet {
  accessToken: string;
  /** Normalised to `Bearer` (`bearer`, `BEARER`, …) and `DPoP` (RFC 9449 §7.1). */
  tokenType: string;
  expiresAt: number | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: number | null;
  scope: string[] | null;
  issuedAt: number;
  /** Fields the provider added (`account_id`, `sub`, `linking_profile`), kept as they came. */
  extra: Record<string, unknown>;
  /**
   * The grant's lifetime as kept with its tokens (set by core's lifetime policy; absent on a
   * set without a refresh token, and on sets stored before Baton kept it).
   */
  grant?: GrantTimes;
  /**
   * The private key the pair is bound to (RFC 9449 §4), for providers with `dpop`: the tokens
   * are worthless without it, so it lives and is sealed with them.
   */
  dpopKey?: DpopPrivateJwk;
}

/**
 * When a grant's refresh token was issued and used, and the two limits that end it. Times are
 * epoch milliseconds. `TokenSet.refreshTokenExpiresAt` is the earlier of the two ends.
 */
export interface GrantTimes {
  /** The authorization that began the grant (or the import that stored it); the absolute limit counts from here. */
  authorizedAt: number;
  /** When the refresh token held now was issued. */
  refreshTokenIssuedAt: number;
  /** When it was last used at the token endpoint; null: not yet. */
  refreshTokenUsedAt: number | null;
  /**
   * The refresh token's own end: the provider's `refresh_token_expires_in` (or the spec's named
   * field), else the spec's lifetime — moved by each use when it slides. Null: none known.
   */
  slidingExpiresAt: number | null;
  /** The hard end no refresh extends (the spec's `absoluteSeconds` from `authorizedAt`); null: none. */
  absoluteExpiresAt: number | null;
  /** When `connection.expiring` was emitted for this grant; null: not yet. */
  expiringNoticeAt: number | null;
  /**
   * A refresh that spent this refresh token got no answer (the request may have arrived): the
   * provider may have replaced the token since this time. Null: not in doubt.
   */
  inDoubtSince: number | null;
}
