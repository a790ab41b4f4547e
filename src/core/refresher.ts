import { ConnectionNotFound, InvalidClient, ReauthorizationRequired, StoreError } from '../errors.js';
import type { TokenSet } from '../protocol/token-set.js';
import { commitPair } from './commit.js';
import {
  assertUsable,
  type CoreContext,
  type LoadedConnection,
  openConnection,
  prepareProvider,
  readRecord,
  withHeldTokens,
} from './context.js';
import { isDue, isExpired } from './due.js';
import { noteExpiring } from './expiring.js';
import { grantWithRetry } from './grant.js';
import { type HeldPair, HeldPairs, type RescuedPair, type RescueJournal } from './held-pairs.js';
import { acquireLease, type HeldLease } from './lease.js';
import { RefreshFailures } from './refresh-failure.js';
import { RefreshDeferred, type RefreshRequest } from './refresh-request.js';
import { RotationDoubt } from './reuse-window.js';
import { expiringDue, keepAliveDue } from './token-lifetime.js';

export { type GrantGate, RefreshDeferred, type RefreshRequest } from './refresh-request.js';

/**
 * Refreshes connections: at most one token-endpoint call per rotation, however many callers
 * and processes ask (docs/architecture.md, invariant 1), committed before anyone sees it (invariant 2), and
 * never falling through to a dead token (invariant 3). A refresh is five steps: a held pair?
 * (held-pairs.ts) → the lease (lease.ts) → re-read under it → the grant (grant.ts) → the
 * guarded commit through the one write path (commit.ts, write-path.ts). Failures and the
 * cooldown are refresh-failure.ts's.
 *
 * The caller (TokenSource) already collapses concurrent callers in this process into one
 * promise per connection; this class handles the other processes through the store's lease.
 */
export class Refresher {
  readonly #ctx: CoreContext;
  readonly #held: HeldPairs;
  readonly #failures: RefreshFailures;
  /** Refresh tokens this process sent without an answer, per connection (also sealed with the tokens). */
  readonly #doubts = new Map<string, { spent: string | null; since: number }>();

  constructor(ctx: CoreContext, journal: RescueJournal | null) {
    this.#ctx = ctx;
    this.#held = new HeldPairs(ctx, journal);
    this.#failures = new RefreshFailures(ctx);
  }

  /**
   * Returns a usable connection: the stored one if its token is still good (or another process
   * has just refreshed it), otherwise one with a freshly granted and committed token. `seen`:
   * the connection as the caller has just read it (saves a read).
   */
  async refresh(id: string, req: RefreshRequest, seen?: LoadedConnection): Promise<LoadedConnection> {
    for (;;) {
      // 1. A held pair? It is committed first, or answers while the store still refuses it.
      const held = this.#held.get(id);
      if (held) {
        const answer = await this.#fromHeld(held, req);
        if (answer) return answer;
        seen = undefined;
      }
      const conn = seen ?? (await this.#load(id));
      if (this.#satisfied(conn, req)) return this.#noticed(conn, req);
      const failed = this.#failures.cooling(id);
      if (failed) {
        // Backing off after repeated failures: the old token is fine while it lives, but a dead
        // or rejected one is never handed out, and an explicit refresh hears the failure.
        if (this.#failures.oldTokenServes(conn, req)) return conn;
        throw failed;
      }
      // 2. The lease, or another process's answer while waiting for it.
      const taken = await this.#lease(id, req, conn);
      if (!('lease' in taken)) return taken.result;
      if (this.#held.get(id)) {
        // The caller of this process we waited for holds a pair the store refused. The store's
        // lease is its (the lease is this process's, so we were let in): releasing the row would
        // let another process spend the refresh token that pair replaced. Our turn ends without
        // touching the row, and the held pair answers (docs/architecture.md, invariant 2).
        taken.lease.abandon();
        seen = undefined;
        continue;
      }
      return this.#leased(id, req, taken.lease);
    }
  }

  /** Steps 3–5 under the lease, which is released after, unless a held pair keeps it. */
  async #leased(id: string, req: RefreshRequest, lease: HeldLease): Promise<LoadedConnection> {
    try {
      // 3. Re-read under the lease: the previous holder may have finished between our read and our acquire.
      let conn = await this.#load(id);
      if (this.#satisfied(conn, req)) return this.#noticed(conn, req);
      // 4. The grant (a refresh token in doubt only inside the provider's reuse window).
      const doubt = RotationDoubt.of(conn, lease, this.#doubted(id, conn));
      let tokens: TokenSet;
      try {
        tokens = await grantWithRetry(this.#ctx, conn, req.gate, doubt);
      } catch (err) {
        this.#remember(id, doubt);
        if (this.#ctx.closed() || err instanceof RefreshDeferred) {
          await doubt?.persist(this.#ctx);
          throw err;
        }
        // A client Baton registered and the server forgot: registered again (or another
        // process's new one adopted), and the grant tried once more with it — the server
        // decides whether the grant survived its client (docs/architecture.md, "MCP").
        const renewed = err instanceof InvalidClient ? await this.#renewed(conn) : null;
        if (!renewed) return await this.#failures.settle(conn, err, req, lease, doubt);
        try {
          tokens = await grantWithRetry(this.#ctx, renewed, req.gate, doubt);
          conn = renewed;
        } catch (again) {
          this.#remember(id, doubt);
          if (this.#ctx.closed() || again instanceof RefreshDeferred) {
            await doubt?.persist(this.#ctx);
            throw again;
          }
          return await this.#failures.settle(conn, clientRenewed(again, renewed), req, lease, doubt);
        }
      }
      this.#doubts.delete(id);
      // 5. The commit, straight onto the record just read.
      try {
        const committed = await commitPair(this.#ctx, conn, tokens, true);
        this.#failures.succeeded(id);
        req.gate?.done();
        return committed;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        // The provider has already rotated: this pair is the only valid one. Journal it, keep
        // the lease so no other process spends the dead refresh token, and retry the commit.
        this.#held.hold(conn, tokens, lease);
        req.gate?.done();
        if (!req.explicit) return withHeldTokens(conn, tokens);
        throw err;
      }
    } finally {
      if (!this.#held.keeps(lease)) await lease.release();
    }
  }

  /** The connection with the client that replaced its refused one, or null when there is none. */
  async #renewed(conn: LoadedConnection): Promise<LoadedConnection | null> {
    if (!conn.client || !this.#ctx.registrar) return null;
    const client = await this.#ctx.registrar.renew(conn.record.provider, conn.client).catch(() => null);
    return client ? { ...conn, client } : null;
  }

  /** Commits a held pair; while the store still refuses it, the pair answers a caller it can serve. */
  async #fromHeld(held: HeldPair, req: RefreshRequest): Promise<LoadedConnection | undefined> {
    try {
      await this.#held.flush(held.id);
      return undefined;
    } catch (err) {
      // The store is still refusing: the held pair is the valid one, and it is journaled.
      const t = held.tokens;
      if (
        !req.explicit &&
        !isExpired(t.expiresAt, this.#ctx.clock.now()) &&
        t.accessToken !== req.rejectedToken
      ) {
        return withHeldTokens(held.from, t);
      }
      throw err;
    }
  }

  #lease(id: string, req: RefreshRequest, seen: LoadedConnection) {
    const asked = this.#ctx.clock.now();
    return acquireLease(
      this.#ctx,
      id,
      async () => {
        const current = await this.#load(id);
        if (current.record.version === seen.record.version) return undefined;
        // Someone committed. A forced refresh is satisfied by anyone's refresh granted after we
        // asked (a pair granted before and stored late does not count).
        const fresh = current.secrets.tokens;
        const answered = req.force
          ? fresh !== null &&
            fresh.accessToken !== seen.secrets.tokens?.accessToken &&
            fresh.issuedAt >= asked &&
            !this.#rejected(current)
          : this.#satisfied(current, req);
        return answered ? current : undefined;
      },
      { wait: req.waitForLease ?? true },
    ).then((taken) => {
      if ('busy' in taken) throw new RefreshDeferred('leased');
      return taken;
    });
  }

  /** Connections whose new token pair is held because the store refused it. */
  get pendingCommits(): string[] {
    return this.#held.ids();
  }

  /** The pair held for `id`, if the store refused it. */
  held(id: string): HeldPair | undefined {
    return this.#held.get(id);
  }

  /** Forgets a held pair (the connection was revoked or removed): returns it for revocation. */
  forget(id: string): HeldPair | undefined {
    return this.#held.forget(id);
  }

  flushAll(): Promise<void> {
    return this.#held.flushAll();
  }

  close(): void {
    this.#held.close();
  }

  recover(pairs: RescuedPair[]): Promise<void> {
    return this.#held.recover(pairs);
  }

  /** When this process last lost an answer to a refresh that spent `conn`'s refresh token. */
  #doubted(id: string, conn: LoadedConnection): number | undefined {
    const d = this.#doubts.get(id);
    return d && d.spent === conn.secrets.tokens?.refreshToken ? d.since : undefined;
  }

  #remember(id: string, doubt: RotationDoubt | null): void {
    if (doubt?.since != null) this.#doubts.set(id, { spent: doubt.spent, since: doubt.since });
  }

  async #load(id: string): Promise<LoadedConnection> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    await prepareProvider(this.#ctx, record.provider, record.clientId);
    const conn = openConnection(this.#ctx, record);
    assertUsable(conn);
    return conn;
  }

  #rejected(conn: LoadedConnection): boolean {
    const token = conn.secrets.tokens?.accessToken;
    return token !== undefined && this.#ctx.cache.isRejected(conn.record.id, token);
  }

  /** Whether the stored state already answers the request without a token-endpoint call. */
  #satisfied(conn: LoadedConnection, req: RefreshRequest): boolean {
    const tokens = conn.secrets.tokens;
    if (!tokens || this.#rejected(conn)) return false;
    const now = this.#ctx.clock.now();
    if (req.rejectedToken !== undefined) {
      return tokens.accessToken !== req.rejectedToken && !isExpired(tokens.expiresAt, now);
    }
    if (req.force) return false;
    const lapsing = req.keepAliveUntil !== undefined && keepAliveDue(tokens, now, req.keepAliveUntil);
    return !lapsing && !isDue(tokens.expiresAt, tokens.issuedAt, now, this.#ctx.options.refreshWindowMs);
  }

  /**
   * A connection the keeper found needing no refresh: if its grant's absolute end is near and
   * `connection.expiring` was not emitted yet, it is now (a refresh notes it in its commit).
   */
  async #noticed(conn: LoadedConnection, req: RefreshRequest): Promise<LoadedConnection> {
    if (req.keepAliveUntil === undefined) return conn;
    const { clock, options } = this.#ctx;
    if (!expiringDue(conn.secrets.tokens, clock.now(), options.expiringWithinMs)) return conn;
    return noteExpiring(this.#ctx, conn);
  }
}

/** A refused grant after the client was registered again says so: the grant did not survive its client. */
function clientRenewed(err: unknown, conn: LoadedConnection): unknown {
  if (!(err instanceof ReauthorizationRequired)) return err;
  return new ReauthorizationRequired(
    `${conn.spec.displayName} no longer knew the client Baton had registered (invalid_client); Baton registered a new one, and the grant did not survive the old one: ${err.message}`,
    { connectionId: conn.record.id, provider: conn.record.provider, cause: err },
  );
}
