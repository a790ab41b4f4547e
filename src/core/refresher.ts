import {
  type BatonError,
  ConnectionNotFound,
  InvalidClient,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  redact,
  StoreError,
} from '../errors.js';
import { type GrantContext, refreshAccessToken, requestClientCredentials } from '../protocol/grants.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ConnectionRecord } from '../store/store.js';
import { sleep } from './clock.js';
import { toConnectionInfo } from './connection-info.js';
import { assertUsable, type CoreContext, type LoadedConnection, openConnection } from './context.js';
import { sealSecrets, secretValues } from './secrets.js';

/** Why a refresh was asked for. */
export interface RefreshRequest {
  /** Refresh even if the token is not yet due. */
  force: boolean;
  /**
   * The access token the caller saw rejected (a 401). If the store already holds another one,
   * someone else refreshed and that one is used instead of refreshing again.
   */
  rejectedToken?: string;
}

interface Cooldown {
  failures: number;
  until: number;
  error: BatonError;
}

interface PendingCommit {
  tokens: TokenSet;
  /** When the commit is retried in the background. */
  timer: NodeJS.Timeout | null;
}

const LEASE_POLL_MIN_MS = 10;
const LEASE_POLL_MAX_MS = 200;
const COMMIT_ATTEMPTS = 3;

export function isDue(expiresAt: number | null, now: number, windowMs: number): boolean {
  return expiresAt !== null && expiresAt - windowMs <= now;
}

export function isExpired(expiresAt: number | null, now: number): boolean {
  return expiresAt !== null && expiresAt <= now;
}

function isTransient(err: unknown): boolean {
  if (err instanceof NetworkError || err instanceof RateLimited) return true;
  if (err instanceof ProviderError) return err.status === undefined || err.status >= 500;
  return false;
}

/**
 * Refreshes connections: at most one token-endpoint call per rotation, however many callers
 * and processes ask (DESIGN invariant 1), committed before anyone sees it (invariant 2), and
 * never falling through to a dead token (invariant 3).
 *
 * The caller (TokenSource) already collapses concurrent callers in this process into one
 * promise per connection; this class handles the other processes through the store's lease.
 */
export class Refresher {
  readonly #ctx: CoreContext;
  readonly #cooldowns = new Map<string, Cooldown>();
  readonly #pending = new Map<string, PendingCommit>();
  #closed = false;

  constructor(ctx: CoreContext) {
    this.#ctx = ctx;
  }

  /** Connections whose new token pair is held in memory because the store refused it. */
  get pendingCommits(): string[] {
    return [...this.#pending.keys()];
  }

  /**
   * Returns a usable connection: the stored one if its token is still good (or another process
   * has just refreshed it), otherwise one with a freshly granted and committed token.
   */
  async refresh(id: string, req: RefreshRequest): Promise<LoadedConnection> {
    if (this.#pending.has(id)) await this.#flushPending(id);
    let conn = await this.#load(id);
    if (this.#satisfied(conn, req)) return conn;

    const now = this.#ctx.clock.now();
    const cooldown = this.#cooldowns.get(id);
    if (cooldown && cooldown.until > now) {
      // Backing off after repeated failures: the old token is fine while it lives, but a dead
      // one is never handed out.
      if (!req.force && !isExpired(conn.record.accessTokenExpiresAt, now) && conn.secrets.tokens) return conn;
      throw cooldown.error;
    }

    const owner = this.#ctx.owner;
    const leased = await this.#acquireOrWait(id, conn, req);
    if (!leased.acquired) return leased.conn;
    conn = leased.conn;
    let keepLease = false;
    try {
      // Re-read under the lease: the previous holder may have finished between our read and our acquire.
      conn = await this.#load(id);
      if (this.#satisfied(conn, req)) return conn;
      const tokens = await this.#grant(conn);
      try {
        const committed = await this.#commit(conn, tokens);
        this.#cooldowns.delete(id);
        this.#ctx.events.emit('refreshed', toConnectionInfo(committed.record));
        return committed;
      } catch (err) {
        if (err instanceof StoreError) {
          // The provider has already rotated: this pair is the only valid one. Keep it, keep the
          // lease so no other process spends the dead refresh token, and retry the commit.
          keepLease = true;
          this.#holdPending(id, tokens);
        }
        throw err;
      }
    } catch (err) {
      if (err instanceof StoreError || this.#closed) throw err;
      return await this.#onGrantFailure(id, conn, err);
    } finally {
      if (!keepLease) await this.#ctx.store.releaseLease(id, owner).catch(() => undefined);
    }
  }

  /** Tries once more to commit every token pair held in memory. */
  async flushAll(): Promise<void> {
    for (const id of [...this.#pending.keys()]) {
      await this.#flushPending(id).catch(() => undefined);
    }
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) if (p.timer) clearTimeout(p.timer);
  }

  async #load(id: string): Promise<LoadedConnection> {
    const record = await this.#ctx.store.get(id);
    if (!record) throw new ConnectionNotFound(id);
    const conn = openConnection(this.#ctx, record);
    assertUsable(conn);
    return conn;
  }

  /** Whether the stored state already answers the request without a token-endpoint call. */
  #satisfied(conn: LoadedConnection, req: RefreshRequest): boolean {
    const tokens = conn.secrets.tokens;
    if (!tokens) return false;
    if (req.rejectedToken !== undefined) return tokens.accessToken !== req.rejectedToken;
    if (req.force) return false;
    return !isDue(tokens.expiresAt, this.#ctx.clock.now(), this.#ctx.options.refreshWindowMs);
  }

  /**
   * Takes the lease, or waits for the process that holds it and uses its result. Polling backs
   * off; a change notification from the store (PostgreSQL) is not needed for correctness.
   */
  async #acquireOrWait(
    id: string,
    conn: LoadedConnection,
    req: RefreshRequest,
  ): Promise<{ acquired: boolean; conn: LoadedConnection }> {
    const { store, options } = this.#ctx;
    const seenVersion = conn.record.version;
    let delay = LEASE_POLL_MIN_MS;
    // Wall time, not the injectable clock: the lease expires in the store's time.
    const deadline = Date.now() + options.leaseTtlMs * 2 + 5_000;
    for (;;) {
      if (await store.acquireLease(id, this.#ctx.owner, options.leaseTtlMs)) {
        return { acquired: true, conn };
      }
      if (Date.now() > deadline) {
        throw new StoreError(`Timed out waiting for another process to finish refreshing "${id}".`, {
          connectionId: id,
          provider: conn.record.provider,
        });
      }
      await sleep(delay + Math.floor(Math.random() * delay));
      delay = Math.min(delay * 2, LEASE_POLL_MAX_MS);
      const current = await this.#load(id);
      if (current.record.version !== seenVersion) {
        // Someone committed. If that answered our need (a fresh token), use it; a forced refresh
        // is satisfied by anyone's refresh after we asked.
        const fresh = current.secrets.tokens;
        if (
          fresh &&
          (req.force ? fresh.accessToken !== conn.secrets.tokens?.accessToken : this.#satisfied(current, req))
        ) {
          return { acquired: false, conn: current };
        }
        conn = current;
      }
    }
  }

  async #grant(conn: LoadedConnection): Promise<TokenSet> {
    const { retry } = this.#ctx.options;
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        return await this.#grantOnce(conn);
      } catch (err) {
        if (!isTransient(err) || attempt >= retry.attempts || this.#closed) throw err;
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

  #grantOnce(conn: LoadedConnection): Promise<TokenSet> {
    const { record, spec, client, endpoints, secrets } = conn;
    if (!client) {
      throw new InvalidClient(`Connection "${record.id}" has no client to refresh with.`, {
        connectionId: record.id,
        provider: record.provider,
      });
    }
    const ctx: GrantContext = {
      spec,
      params: record.params,
      endpoints,
      client,
      now: () => this.#ctx.clock.now(),
      connectionId: record.id,
      http: this.#ctx.options.http,
    };
    if (record.authMode === 'client_credentials') {
      return requestClientCredentials(ctx, record.scopes ? { scopes: record.scopes } : {});
    }
    const refreshToken = secrets.tokens?.refreshToken;
    if (!refreshToken) {
      return Promise.reject(
        new ReauthorizationRequired(
          `Connection "${record.id}" has no refresh token; the provider gave none.`,
          {
            connectionId: record.id,
            provider: record.provider,
          },
        ),
      );
    }
    return refreshAccessToken(ctx, { refreshToken, previous: secrets.tokens });
  }

  /**
   * Compare-and-swap the new pair onto the connection. A conflict means someone else wrote the
   * record (a learned base URL, say) while we held the lease: merge our tokens onto theirs.
   */
  async #commit(conn: LoadedConnection, tokens: TokenSet): Promise<LoadedConnection> {
    let base = conn.record;
    for (let attempt = 1; ; attempt++) {
      let written: ConnectionRecord | null;
      try {
        written = await this.#ctx.store.put(this.#withTokens(base, conn, tokens), base.version);
      } catch (err) {
        if (attempt >= COMMIT_ATTEMPTS) throw asStoreError(err, base);
        await sleep(50 * 2 ** attempt);
        continue;
      }
      if (written) return openConnection(this.#ctx, written);
      const latest = await this.#ctx.store.get(base.id);
      if (!latest)
        throw new StoreError(`Connection "${base.id}" was removed while it was being refreshed.`, {
          connectionId: base.id,
        });
      base = latest;
    }
  }

  #withTokens(base: ConnectionRecord, conn: LoadedConnection, tokens: TokenSet): ConnectionRecord {
    const now = this.#ctx.clock.now();
    return {
      ...base,
      status: 'active',
      sealed: sealSecrets(this.#ctx.sealer, base, { tokens, credentials: conn.secrets.credentials }),
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      scopes: tokens.scope ?? base.scopes,
      lastRefreshedAt: now,
      lastError: null,
      updatedAt: now,
    };
  }

  #holdPending(id: string, tokens: TokenSet): void {
    const existing = this.#pending.get(id);
    if (existing?.timer) clearTimeout(existing.timer);
    const pending: PendingCommit = { tokens, timer: null };
    this.#pending.set(id, pending);
    this.#schedulePending(id, pending, 250);
  }

  #schedulePending(id: string, pending: PendingCommit, delayMs: number): void {
    if (this.#closed) return;
    pending.timer = setTimeout(() => {
      pending.timer = null;
      this.#flushPending(id).catch(() => {
        if (this.#pending.get(id) === pending)
          this.#schedulePending(id, pending, Math.min(delayMs * 2, 10_000));
      });
    }, delayMs);
    pending.timer.unref();
  }

  async #flushPending(id: string): Promise<void> {
    const pending = this.#pending.get(id);
    if (!pending) return;
    const record = await this.#ctx.store.get(id).catch((err: unknown) => {
      throw asStoreError(err, undefined, id);
    });
    if (!record) {
      this.#pending.delete(id);
      return;
    }
    const conn = openConnection(this.#ctx, record);
    const committed = await this.#commit(conn, pending.tokens);
    if (pending.timer) clearTimeout(pending.timer);
    this.#pending.delete(id);
    await this.#ctx.store.releaseLease(id, this.#ctx.owner).catch(() => undefined);
    this.#ctx.events.emit('refreshed', toConnectionInfo(committed.record));
  }

  async #onGrantFailure(id: string, conn: LoadedConnection, err: unknown): Promise<LoadedConnection> {
    const { record } = conn;
    const secrets = secretValues(conn.secrets);
    if (err instanceof ReauthorizationRequired) {
      // Another process may have rotated the token after our read (its lease expired under it,
      // say); its pair is valid even though ours was refused.
      const latest = await this.#ctx.store.get(id);
      if (latest && latest.version !== record.version) {
        const other = openConnection(this.#ctx, latest);
        if (
          other.secrets.tokens?.refreshToken !== conn.secrets.tokens?.refreshToken &&
          latest.status === 'active'
        ) {
          return other;
        }
      }
      const marked = await this.#recordFailure(latest ?? record, err, secrets, 'needs_reauth');
      const error = new ReauthorizationRequired(
        err.connectionId === id
          ? redact(err.message, secrets)
          : `${conn.spec.displayName} no longer accepts the refresh token of connection "${id}": ${redact(err.message, secrets)}`,
        { connectionId: id, provider: record.provider, cause: err },
      );
      this.#ctx.events.emit('needs_reauth', toConnectionInfo(marked ?? record), error);
      throw error;
    }
    const error = toBatonError(err, id, record.provider);
    await this.#recordFailure(record, error, secrets, null).catch(() => undefined);
    const prev = this.#cooldowns.get(id);
    const failures = (prev?.failures ?? 0) + 1;
    const { retry } = this.#ctx.options;
    let wait = Math.min(retry.baseDelayMs * 2 ** failures, retry.maxCooldownMs);
    if (error instanceof RateLimited && error.retryAfter !== undefined)
      wait = Math.max(wait, error.retryAfter * 1000);
    this.#cooldowns.set(id, { failures, until: this.#ctx.clock.now() + wait, error });
    this.#ctx.events.emit('error', error, id);
    // The old access token may still be alive (we refreshed early); a dead one is never returned.
    if (
      conn.secrets.tokens &&
      !isExpired(conn.record.accessTokenExpiresAt, this.#ctx.clock.now()) &&
      isTransient(err)
    ) {
      return conn;
    }
    throw error;
  }

  /** Writes lastError (and a new status) by CAS, retrying on conflicts. */
  async #recordFailure(
    record: ConnectionRecord,
    err: BatonError,
    secrets: string[],
    status: 'needs_reauth' | null,
  ): Promise<ConnectionRecord | null> {
    let base: ConnectionRecord | null = record;
    for (let i = 0; i < 5 && base; i++) {
      const now = this.#ctx.clock.now();
      const next: ConnectionRecord = {
        ...base,
        status: status ?? base.status,
        lastError: { code: err.code, message: redact(err.message, secrets), at: now },
        updatedAt: now,
      };
      const written = await this.#ctx.store.put(next, base.version);
      if (written) return written;
      base = await this.#ctx.store.get(record.id);
    }
    return null;
  }
}

function toBatonError(err: unknown, id: string, provider: string): BatonError {
  if (err && typeof err === 'object' && 'remediation' in err) return err as BatonError;
  return new ProviderError(
    `Refreshing "${id}" failed unexpectedly.`,
    {},
    { connectionId: id, provider, cause: err },
  );
}

function asStoreError(err: unknown, record?: ConnectionRecord, id?: string): StoreError {
  if (err instanceof StoreError) return err;
  const connectionId = record?.id ?? id;
  return new StoreError(`The store refused the new token pair of "${connectionId}".`, {
    connectionId,
    provider: record?.provider,
    cause: err,
  });
}
