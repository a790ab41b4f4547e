import type { BatonError } from '../errors.js';

/** Why a refresh was asked for. */
export interface RefreshRequest {
  /** Refresh even if the token is not yet due. */
  force: boolean;
  /**
   * The access token the caller saw rejected (a 401). If the store already holds another one,
   * someone else refreshed and that one is used instead of refreshing again.
   */
  rejectedToken?: string;
  /**
   * An explicit refresh (`baton.refresh`, `baton refresh`): a failure is thrown even when the
   * old token is still valid, so the caller learns that nothing was refreshed.
   */
  explicit?: boolean;
  /**
   * Refresh also when the refresh token expires by this instant (epoch ms): a sliding refresh
   * token is kept alive by using it. Decided on the record read under the lease, so a replica
   * that finds it renewed by another does not refresh again.
   */
  keepAliveUntil?: number;
  /** The keeper's: a rate limit on the token endpoint, and what came of the refresh. */
  gate?: GrantGate;
  /**
   * Wait while another process holds the connection's lease (default). The keeper does not:
   * `RefreshDeferred('leased')` says that process is doing the work.
   */
  waitForLease?: boolean;
}

/**
 * What a background refresh is told and asked: `admit` before each token-endpoint call (it
 * resolves when the call may go, or rejects with `RefreshDeferred` to leave the refresh for a
 * later pass), `rateLimited` when the provider answered 429, and `done` once a call was made:
 * without an error the connection holds a fresh pair, with one that is why it does not.
 */
export interface GrantGate {
  admit(): Promise<void>;
  rateLimited(retryAfterSeconds: number | undefined): void;
  done(error?: BatonError): void;
}

/**
 * A background refresh left for later: the token endpoint's rate limit had no room for it
 * (`rate_limit`), or another process holds the connection's lease and is refreshing it
 * (`leased`). Nothing was sent or written. Only the keeper asks for refreshes that can end
 * this way, and it counts them; it never reaches a caller.
 */
export class RefreshDeferred extends Error {
  constructor(readonly reason: 'rate_limit' | 'leased') {
    super(`refresh deferred: ${reason}`);
    this.name = 'RefreshDeferred';
  }
}
