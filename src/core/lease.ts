import { StoreError } from '../errors.js';
import type { LeaseGrant } from '../store/store.js';
import { sleep } from './clock.js';
import type { CoreContext } from './context.js';

const POLL_MIN_MS = 10;
const POLL_MAX_MS = 200;

/**
 * The refresh lease of one connection, held by this process (docs/architecture.md, invariant 1). While held
 * it is renewed every third of its TTL, so a grant that runs longer than the TTL (retries,
 * slow providers) keeps it; a holder that stops, dies or stalls loses it after the TTL. `lost`
 * says another owner may have taken it meanwhile: the commit's guard then decides (a lost
 * lease never writes over a newer pair).
 */
export class HeldLease {
  /** The holder whose lease expired unreleased; `since` on Baton's clock (it gives it when it takes a lease). */
  readonly takenOver: LeaseGrant['takenOver'];
  #timer: NodeJS.Timeout | null = null;
  #lost = false;
  #released = false;
  #unlock: (() => void) | null;

  constructor(
    private readonly ctx: CoreContext,
    readonly id: string,
    grant: LeaseGrant,
    unlock: () => void,
  ) {
    this.takenOver = grant.takenOver;
    this.#unlock = unlock;
    const every = Math.max(50, Math.floor(ctx.options.leaseTtlMs / 3));
    this.#timer = setInterval(() => void this.#renew(), every);
    this.#timer.unref();
  }

  get lost(): boolean {
    return this.#lost;
  }

  async #renew(): Promise<void> {
    if (this.#released) return;
    try {
      const again = await this.ctx.store.acquireLease(this.id, this.ctx.owner, this.ctx.options.leaseTtlMs);
      if (!again) this.#lost = true;
    } catch {
      // The store is unreachable: the lease may lapse; the commit's guard protects the record.
    }
  }

  /**
   * A held pair waits for the store: the lease stays held (and renewed while the store takes
   * renewals), so no other process spends the refresh token the pair replaced, and a revoke
   * elsewhere waits for the pair to be stored, then revokes it. Callers in this process go on:
   * a revoke here must not wait for the store to come back.
   */
  keep(): void {
    this.#unlock?.();
    this.#unlock = null;
  }

  /**
   * Stops renewing without releasing: the row stays for whoever else in this process keeps it
   * (a held pair), or expires after its TTL (the process is closing).
   */
  abandon(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.keep();
  }

  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#released) return;
    this.#released = true;
    await this.ctx.store.releaseLease(this.id, this.ctx.owner).catch(() => undefined);
    this.#unlock?.();
    this.#unlock = null;
  }
}

/**
 * Takes the lease of `id`, or waits while another process holds it. `check` runs after each
 * pause and may end the wait with a result (another process already did the work). Waiting is
 * bounded by how long the holder may legitimately take: its whole grant budget plus a TTL.
 * With `wait: false` (the keeper), a lease another process holds is `busy` at once: that
 * process is doing the work.
 */
export async function acquireLease<T>(
  ctx: CoreContext,
  id: string,
  check: () => Promise<T | undefined>,
  options: { wait?: boolean } = {},
): Promise<{ lease: HeldLease } | { result: T } | { busy: true }> {
  // The store lease is re-entrant for its owner (this Baton): callers within it take turns here.
  const unlock = await localTurn(ctx, id);
  try {
    const got = await acquireStoreLease(ctx, id, check, unlock, options.wait ?? true);
    if (!('lease' in got)) unlock();
    return got;
  } catch (err) {
    unlock();
    throw err;
  }
}

const turns = new WeakMap<CoreContext, Map<string, Promise<void>>>();

/** Waits for this Baton's previous holder of `id`'s lease, then returns the function that ends this turn. */
async function localTurn(ctx: CoreContext, id: string): Promise<() => void> {
  let byId = turns.get(ctx);
  if (!byId) {
    byId = new Map();
    turns.set(ctx, byId);
  }
  const previous = byId.get(id);
  let end!: () => void;
  const mine = new Promise<void>((resolve) => {
    end = resolve;
  });
  const chained = (previous ?? Promise.resolve()).then(() => mine);
  byId.set(id, chained);
  if (previous) await previous;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    end();
    if (byId.get(id) === chained) byId.delete(id);
  };
}

async function acquireStoreLease<T>(
  ctx: CoreContext,
  id: string,
  check: () => Promise<T | undefined>,
  unlock: () => void,
  wait: boolean,
): Promise<{ lease: HeldLease } | { result: T } | { busy: true }> {
  const { store, options } = ctx;
  let delay = POLL_MIN_MS;
  // Wall time, not the injectable clock: the lease expires in the store's time.
  const deadline = Date.now() + grantBudgetMs(ctx) + options.leaseTtlMs + 5_000;
  for (;;) {
    // Dated on Baton's clock, the one a reuse window is checked on (invariant 13): the store's
    // clock (the wall clock, or PostgreSQL's) need not be it.
    const grant = await store.acquireLease(id, ctx.owner, options.leaseTtlMs, ctx.clock.now());
    if (grant) return { lease: new HeldLease(ctx, id, grant, unlock) };
    if (!wait) return { busy: true };
    if (Date.now() > deadline) {
      throw new StoreError(`Timed out waiting for another process to finish refreshing "${id}".`, {
        connectionId: id,
      });
    }
    await sleep(delay + Math.floor(Math.random() * delay));
    delay = Math.min(delay * 2, POLL_MAX_MS);
    const result = await check();
    if (result !== undefined) return { result };
  }
}

/** The longest a grant with all its retries may take: attempts × timeout + the backoff between. */
export function grantBudgetMs(ctx: CoreContext): number {
  const { retry, http } = ctx.options;
  const timeout = http.timeoutMs ?? 30_000;
  return retry.attempts * timeout + (retry.attempts - 1) * retry.maxDelayMs;
}
