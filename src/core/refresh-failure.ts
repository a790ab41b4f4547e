import type { Secret } from '../errors.js';
import { type BatonError, ProviderError, RateLimited, ReauthorizationRequired, redact } from '../errors.js';
import type { ConnectionRecord } from '../store/store.js';
import { toConnectionInfo } from './connection-info.js';
import { type CoreContext, type LoadedConnection, openConnection } from './context.js';
import { isExpired } from './due.js';
import { isTransient } from './grant.js';
import type { HeldLease } from './lease.js';
import type { RefreshRequest } from './refresh-request.js';
import { ReuseWindowClosed, type RotationDoubt } from './reuse-window.js';
import { secretValues } from './secrets.js';
import { spentOf, WriteRefused, writeConnection } from './write-path.js';

interface Cooldown {
  failures: number;
  until: number;
  error: BatonError;
}

/**
 * A failed grant, and what it leaves behind: a refused grant marks the connection
 * needs_reauth (unless someone else's newer pair is stored); any other failure is recorded as
 * lastError and cools the connection down (exponential, at least a 429's Retry-After), during
 * which the old token still serves while it lives and a dead one never does.
 */
export class RefreshFailures {
  readonly #cooldowns = new Map<string, Cooldown>();

  constructor(private readonly ctx: CoreContext) {}

  /** The error of the last failure while `id` is cooling down. */
  cooling(id: string): BatonError | undefined {
    const c = this.#cooldowns.get(id);
    return c && c.until > this.ctx.clock.now() ? c.error : undefined;
  }

  succeeded(id: string): void {
    this.#cooldowns.delete(id);
  }

  /** After a failure: whether the old token may still be handed out (never to an explicit refresh). */
  oldTokenServes(conn: LoadedConnection, req: RefreshRequest): boolean {
    const t = conn.secrets.tokens;
    return (
      !req.explicit &&
      t !== null &&
      !isExpired(t.expiresAt, this.ctx.clock.now()) &&
      t.accessToken !== req.rejectedToken &&
      !this.ctx.cache.isRejected(conn.record.id, t.accessToken)
    );
  }

  /** Records the failure of the grant from `conn` (under `lease`); answers with a usable connection or throws. */
  async settle(
    conn: LoadedConnection,
    err: unknown,
    req: RefreshRequest,
    lease: HeldLease,
    doubt: RotationDoubt | null = null,
  ): Promise<LoadedConnection> {
    const { record } = conn;
    const id = record.id;
    const secrets = secretValues(conn.secrets, conn.client);
    if (err instanceof ReauthorizationRequired) return this.#refused(conn, err, req, lease, secrets, doubt);
    const error = toBatonError(err, id, record.provider, secrets);
    req.gate?.done(error);
    const now = this.ctx.clock.now();
    const lastError = { code: error.code, message: redact(error.message, secrets), at: now };
    // An answer lost on the way back leaves the refresh token in doubt: sealed with it, for
    // every process's next refresh (reuse-window.ts).
    await writeConnection(this.ctx, id, 'record_error', (current) =>
      current
        ? doubt
          ? doubt.mark(this.ctx, current, { ...current, lastError })
          : { ...current, lastError }
        : null,
    ).catch(() => undefined);
    const failures = (this.#cooldowns.get(id)?.failures ?? 0) + 1;
    const { retry } = this.ctx.options;
    let wait = Math.min(retry.baseDelayMs * 2 ** failures, retry.maxCooldownMs);
    if (error instanceof RateLimited && error.retryAfter !== undefined)
      wait = Math.max(wait, error.retryAfter * 1000);
    // A refresh token in doubt is tried again while its reuse window still allows it.
    const last = doubt?.lastChance(this.ctx);
    if (last != null && last > now) wait = Math.min(wait, Math.max(0, (last - now) / 2));
    this.#cooldowns.set(id, { failures, until: this.ctx.clock.now() + wait, error });
    this.ctx.events.emit('error', error, id);
    // The old access token may still be alive (we refreshed early); a dead one is never returned.
    if (isTransient(err) && this.oldTokenServes(conn, req)) return conn;
    throw error;
  }

  /** The provider refused the grant: the connection needs a new authorization, unless another process rotated meanwhile. */
  async #refused(
    conn: LoadedConnection,
    err: ReauthorizationRequired,
    req: RefreshRequest,
    lease: HeldLease,
    secrets: readonly Secret[],
    doubt: RotationDoubt | null,
  ): Promise<LoadedConnection> {
    const { record, spec } = conn;
    const id = record.id;
    const said = redact(err.message, secrets);
    // Not sent at all (the reuse window had passed), or refused after an answer was lost.
    const inDoubt = err instanceof ReuseWindowClosed || (doubt?.since ?? null) !== null;
    const lost = inDoubt || lease.takenOver !== null;
    const message =
      err instanceof ReuseWindowClosed
        ? said
        : doubt && inDoubt
          ? doubt.explain(said)
          : lease.takenOver
            ? `A refresh of "${id}" was in flight in process ${lease.takenOver.owner.split(':')[0]} at ${new Date(lease.takenOver.since).toISOString()} and its result was lost (the process stopped after the provider replaced the refresh token and before storing it); ${spec.displayName} now refuses the old one: ${said}`
            : err.connectionId === id
              ? said
              : `${spec.displayName} no longer accepts the refresh token of connection "${id}": ${said}`;
    let marked: ConnectionRecord | null = null;
    try {
      // Only the grant we spent is dead: a newer pair someone stored (its lease expired under
      // it, say) stays, and answers.
      marked = await writeConnection(
        this.ctx,
        id,
        'needs_reauth',
        (current) =>
          current && {
            ...current,
            lastError: { code: lost ? 'refresh_lost' : err.code, message, at: this.ctx.clock.now() },
          },
        { from: { version: record.version, spent: spentOf(conn.secrets.tokens) } },
      );
    } catch (refused) {
      if (!(refused instanceof WriteRefused)) throw refused;
      if (refused.reason === 'superseded' && refused.current)
        return openConnection(this.ctx, refused.current);
    }
    const error = new ReauthorizationRequired(message, {
      connectionId: id,
      provider: record.provider,
      cause: err,
      secrets,
    });
    this.ctx.events.emit('needs_reauth', toConnectionInfo(marked ?? record), error);
    req.gate?.done(error);
    throw error;
  }
}

function toBatonError(err: unknown, id: string, provider: string, secrets: readonly Secret[]): BatonError {
  if (err && typeof err === 'object' && 'remediation' in err) return err as BatonError;
  return new ProviderError(
    `Refreshing "${id}" failed unexpectedly.`,
    {},
    { connectionId: id, provider, cause: err, secrets },
  );
}
