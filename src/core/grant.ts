import {
  AuthorizationError,
  BatonError,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
} from '../errors.js';
import { refreshAccessToken, requestClientCredentials } from '../protocol/grants.js';
import type { TokenSet } from '../protocol/token-set.js';
import { sleep } from './clock.js';
import type { CoreContext, LoadedConnection } from './context.js';
import { boundTo, keyForGrant } from './dpop.js';
import { grantContextOf } from './grant-context.js';
import { checkIdToken } from './id-tokens.js';
import type { GrantGate } from './refresh-request.js';
import type { RotationDoubt } from './reuse-window.js';
import { toTokenSet } from './token-lifetime.js';

/** A failure worth another attempt: the network, a 5xx, a 429. */
export function isTransient(err: unknown): boolean {
  if (err instanceof NetworkError || err instanceof RateLimited) return true;
  if (err instanceof ProviderError) return err.status === undefined || err.status >= 500;
  return false;
}

/**
 * One new token pair from the token endpoint: a refresh-token grant (RFC 6749 §6), or for a
 * client-credentials connection a new grant (§4.4). Transient failures are retried with
 * jittered exponential backoff, honouring a Retry-After up to the policy's ceiling; the
 * keeper's gate admits each attempt and hears a 429. A refresh token in doubt (an earlier
 * answer lost) is sent only while `doubt` allows it (reuse-window.ts).
 */
export async function grantWithRetry(
  ctx: CoreContext,
  conn: LoadedConnection,
  gate?: GrantGate,
  doubt?: RotationDoubt | null,
): Promise<TokenSet> {
  const { retry } = ctx.options;
  for (let attempt = 1; ; attempt++) {
    await gate?.admit();
    // A refresh token that may have been replaced goes out only inside the provider's reuse window.
    doubt?.check(ctx);
    const sentAt = ctx.clock.now();
    try {
      return await grantOnce(ctx, conn);
    } catch (err) {
      doubt?.failed(err, sentAt);
      if (err instanceof RateLimited) gate?.rateLimited(err.retryAfter);
      if (!isTransient(err) || attempt >= retry.attempts || ctx.closed()) throw err;
      let delay = Math.min(retry.baseDelayMs * 2 ** (attempt - 1), retry.maxDelayMs);
      if (err instanceof RateLimited && err.retryAfter !== undefined) {
        const asked = err.retryAfter * 1000;
        // Waiting longer than our own ceiling would stall every caller; give up and cool down.
        if (asked > retry.maxDelayMs) throw err;
        delay = Math.max(delay, asked);
      }
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}

async function grantOnce(ctx: CoreContext, conn: LoadedConnection): Promise<TokenSet> {
  const { record, spec, secrets } = conn;
  const key = await keyForGrant(ctx, spec, secrets.tokens);
  const grant = grantContextOf(ctx, conn, { dpop: key });
  if (record.authMode === 'client_credentials') {
    const scopes = record.scopes ?? spec.scopes;
    const response = await requestClientCredentials(grant, scopes.length > 0 ? { scopes } : {});
    return boundTo(toTokenSet(response, spec, 'client_credentials'), key);
  }
  const refreshToken = secrets.tokens?.refreshToken;
  if (!refreshToken) {
    throw new ReauthorizationRequired(
      `Connection "${record.id}" has no refresh token; the provider gave none.`,
      {
        connectionId: record.id,
        provider: record.provider,
      },
    );
  }
  // Some providers want the scopes again on every refresh (Microsoft): the connection's own.
  const scopes = spec.refreshScopes ? (record.scopes ?? spec.scopes) : [];
  const response = await refreshAccessToken(grant, {
    refreshToken,
    accessToken: secrets.tokens?.accessToken,
    ...(scopes.length > 0 ? { scopes } : {}),
  });
  return checkRefreshIdToken(
    ctx,
    conn,
    boundTo(toTokenSet(response, spec, 'refresh_token', secrets.tokens), key),
  );
}

/**
 * An id_token a refresh returns (OpenID Connect Core §12.2) is verified like the first one,
 * without the nonce, and must name the connection's account. One that fails is not stored,
 * and the failure is an `error` event — but the pair is: its refresh token has replaced the
 * spent one, and dropping it would lose the grant (README, "OpenID Connect").
 */
async function checkRefreshIdToken(
  ctx: CoreContext,
  conn: LoadedConnection,
  tokens: TokenSet,
): Promise<TokenSet> {
  const { spec, record, client } = conn;
  if (typeof tokens.extra['id_token'] !== 'string' || !spec.issuer || !client) return tokens;
  try {
    await checkIdToken(ctx, tokens, {
      nonce: null,
      subject: record.account?.id,
      issuer: spec.issuer,
      clientId: client.clientId,
      provider: record.provider,
      connectionId: record.id,
    });
    return tokens;
  } catch (err) {
    const { id_token: _dropped, ...extra } = tokens.extra;
    const error =
      err instanceof BatonError
        ? err
        : new AuthorizationError('invalid_id_token', 'The id_token of a refresh could not be verified.', {
            connectionId: record.id,
            provider: record.provider,
          });
    ctx.events.emit('error', error, record.id);
    return { ...tokens, extra };
  }
}
