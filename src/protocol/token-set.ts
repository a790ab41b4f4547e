/**
 * A token response, normalised. Times are epoch milliseconds so they compare directly with
 * the clock; `null` means the provider did not say.
 */
export interface TokenSet {
  accessToken: string;
  /** Normalised to `Bearer` when the provider says `bearer`, `BEARER`, … */
  tokenType: string;
  expiresAt: number | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: number | null;
  scope: string[] | null;
  issuedAt: number;
  /** Fields the provider added (`account_id`, `sub`, `linking_profile`), kept as they came. */
  extra: Record<string, unknown>;
}
