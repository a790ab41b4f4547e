import type { GrantType, TokenResponse } from '../protocol/token-response.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ProviderSpec } from '../providers/spec.js';

/**
 * Lifetime policy: what a token response means for the connection (README, "When tokens are
 * refreshed"). The protocol layer only parses; here a missing `expires_in` takes the spec's
 * documented lifetime, a refresh token's expiry comes from the response or the spec's
 * (sliding or fixed) lifetime, and a refresh that returns no refresh token keeps the old one
 * in force (RFC 6749 §6) with its scope.
 */
export function toTokenSet(
  response: TokenResponse,
  spec: Pick<ProviderSpec, 'defaultExpiresIn' | 'refreshTokenLifetime'>,
  grant: GrantType,
  previous: TokenSet | null = null,
): TokenSet {
  const now = response.receivedAt;
  const lifetime = response.expiresIn ?? spec.defaultExpiresIn;
  let refreshToken = response.refreshToken;
  let refreshTokenExpiresAt: number | null = null;
  const rtLifetime = spec.refreshTokenLifetime;
  if (refreshToken !== null) {
    if (response.refreshTokenExpiresIn !== null)
      refreshTokenExpiresAt = now + response.refreshTokenExpiresIn * 1000;
    else if (rtLifetime) {
      const unchanged = previous?.refreshToken === refreshToken;
      refreshTokenExpiresAt =
        unchanged && !rtLifetime.sliding && previous
          ? previous.refreshTokenExpiresAt
          : now + rtLifetime.seconds * 1000;
    }
  } else if (previous?.refreshToken && grant === 'refresh_token') {
    refreshToken = previous.refreshToken;
    refreshTokenExpiresAt = previous.refreshTokenExpiresAt;
  }
  return {
    accessToken: response.accessToken,
    tokenType: response.tokenType,
    expiresAt: lifetime === null ? null : now + lifetime * 1000,
    refreshToken,
    refreshTokenExpiresAt,
    scope: response.scope ?? (grant === 'refresh_token' ? (previous?.scope ?? null) : null),
    issuedAt: now,
    extra: response.extra,
  };
}
