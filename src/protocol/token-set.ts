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
   * The private key the pair is bound to (RFC 9449 §4), for providers with `dpop`: the tokens
   * are worthless without it, so it lives and is sealed with them.
   */
  dpopKey?: DpopPrivateJwk;
}
