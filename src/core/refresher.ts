import type { Secret } from '../errors.js';
import {
  AuthorizationError,
  BatonError,
  ConnectionNotFound,
  InvalidClient,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  redact,
  StoreError,
} from '../errors.js';
import type { DpopKey } from '../protocol/dpop.js';
import {
  type GrantContext,
  refreshAccessToken,
  requestClientCredentials,
  revokeToken,
} from '../protocol/grants.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ConnectionRecord } from '../store/store.js';
import { sleep } from './clock.js';
import { toConnectionInfo } from './connection-info.js';
import {
  assertUsable,
  type CoreContext,
  type LoadedConnection,
  openConnection,
  readRecord,
  withHeldTokens,
} from './context.js';
import { boundTo, keyForGrant, signerFor } from './dpop.js';
import { isDue, isExpired } from './due.js';
import { grantContextFor } from './grant-context.js';
import type { HeldPair, RescuedPair, RescueJournal } from './held-pairs.js';
import { checkIdToken } from './id-tokens.js';
import { acquireLease, type HeldLease } from './lease.js';
import { openSecrets, sealSecrets, secretValues } from './secrets.js';
import { toTokenSet } from './token-lifetime.js';
import { WriteRefused, writeConnection } from './write-path.js';

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

interface Cooldown {
  failures: number;
  until: number;
  error: BatonError;
}

function isTransient(err: unknown): boolean {
  if (err instanceof NetworkError || err instanceof RateLimited) return true;
  if (err instanceof ProviderError) return err.status === undefined || err.status >= 500;
  return false;
}

/** The credential a token pair was granted from: its refresh token, or for client credentials its access token. */
function spentOf(tokens: TokenSet | null | undefined): string | null {
  return tokens?.refreshToken ?? tokens?.accessToken ?? null;
}

function sameBinding(a: ConnectionRecord, b: ConnectionRecord): boolean {
  return (
    a.provider === b.provider &&
    a.clientId === b.clientId &&
    a.authMode === b.authMode &&
    JSON.stringify(Object.entries(a.params).sort()) === JSON.stringify(Object.entries(b.params).sort())
  );
}

/**
 * Refreshes connections: at most one token-endpoint call per rotation, however many callers
 * and processes ask (docs/architecture.md, invariant 1), committed before anyone sees it (invariant 2), and
 * never falling through to a dead token (invariant 3). It composes the pieces that each hold
 * one invariant: the lease (lease.ts), the grant with backoff, the guarded commit through the
 * one write path (write-path.ts), held pairs with their rescue journal (held-pairs.ts), and
 * the per-connection cooldown.
 *
 * The caller (TokenSource) already collapses concurrent callers in this process into one
 * promise per connection; this class handles the other processes through the store's lease.
 */
export class Refresher {
  readonly #ctx: CoreContext;
  readonly #journal: RescueJournal | null;
  readonly #cooldowns = new Map<string, Cooldown>();
  readonly #held = new Map<string, HeldPair>();

  constructor(ctx: CoreContext, journal: RescueJournal | null) {
    this.#ctx = ctx;
    this.#journal = journal;
  }

  /** Connections whose new token pair is held because the store refused it. */
  get pendingCommits(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * Returns a usable connection: the stored one if its token is still good (or another process
   * has just refreshed it), otherwise one with a freshly granted and committed token.
   */
  async refresh(id: string, req: RefreshRequest): Promise<LoadedConnection> {
    const held = this.#held.get(id);
    if (held) {
      try {
        await this.#flush(id);
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
    let conn = await this.#load(id);
    if (this.#satisfied(conn, req)) return conn;

    const cooldown = this.#cooldowns.get(id);
    if (cooldown && cooldown.until > this.#ctx.clock.now()) {
      // Backing off after repeated failures: the old token is fine while it lives, but a dead
      // or rejected one is never handed out, and an explicit refresh hears the failure.
      if (this.#softResult(conn, req)) return conn;
      throw cooldown.error;
    }

    const seen = conn;
    const asked = this.#ctx.clock.now();
    const taken = await acquireLease(
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
    );
    if ('result' in taken) return taken.result;
    if ('busy' in taken) throw new RefreshDeferred('leased');
    const lease = taken.lease;
    if (this.#held.has(id)) {
      // The caller of this process we waited for holds a pair the store refused. The store's
      // lease is its (the lease is this process's, so we were let in): releasing the row would
      // let another process spend the refresh token that pair replaced. Our turn ends without
      // touching the row, and the held pair answers (docs/architecture.md, invariant 2).
      lease.abandon();
      return this.refresh(id, req);
    }
    let keepLease = false;
    try {
      // Re-read under the lease: the previous holder may have finished between our read and our acquire.
      conn = await this.#load(id);
      if (this.#satisfied(conn, req)) return conn;
      let tokens: TokenSet;
      try {
        tokens = await this.#grant(conn, req.gate);
      } catch (err) {
        if (this.#ctx.closed() || err instanceof RefreshDeferred) throw err;
        return await this.#onGrantFailure(id, conn, err, req, lease);
      }
      try {
        const committed = await this.#commit(conn, tokens);
        this.#cooldowns.delete(id);
        req.gate?.done();
        return committed;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        // The provider has already rotated: this pair is the only valid one. Journal it, keep
        // the lease so no other process spends the dead refresh token, and retry the commit.
        keepLease = true;
        lease.keep();
        this.#hold(id, conn, tokens, lease);
        req.gate?.done();
        if (!req.explicit) return withHeldTokens(conn, tokens);
        throw err;
      }
    } finally {
      if (!keepLease) await lease.release();
    }
  }

  /** Tries once more to commit every token pair held in memory. */
  async flushAll(): Promise<void> {
    for (const id of [...this.#held.keys()]) await this.#flush(id).catch(() => undefined);
  }

  /** The pair held for `id`, if the store refused it. */
  held(id: string): HeldPair | undefined {
    return this.#held.get(id);
  }

  /** Forgets a held pair (the connection was revoked or removed): returns it for revocation. */
  forget(id: string): HeldPair | undefined {
    const held = this.#held.get(id);
    if (held?.timer) clearTimeout(held.timer);
    held?.lease?.abandon();
    this.#held.delete(id);
    this.#journal?.remove(id);
    return held;
  }

  /** Stops background retries; held pairs stay in the rescue journal for the next open. */
  close(): void {
    for (const p of this.#held.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      p.lease?.abandon();
    }
  }

  /**
   * Commits pairs a previous process journaled. Each goes through the same guard as any
   * commit: onto the version it was granted from, or one whose credential is the one it spent.
   */
  async recover(pairs: RescuedPair[]): Promise<void> {
    for (const pair of pairs) {
      const record = await readRecord(this.#ctx, pair.id);
      if (!record) {
        this.#journal?.remove(pair.id);
        continue;
      }
      let opened: LoadedConnection;
      try {
        opened = openConnection(this.#ctx, record);
      } catch {
        continue; // Another configuration: leave it for a process that matches.
      }
      // The connection as it was when the pair was granted: its version and spent credential.
      const spentConn: LoadedConnection = {
        ...opened,
        record: { ...opened.record, version: pair.fromVersion },
        secrets: { ...opened.secrets, tokens: { ...pair.tokens, accessToken: '', refreshToken: pair.spent } },
      };
      try {
        await this.#commit(spentConn, pair.tokens);
        this.#journal?.remove(pair.id);
      } catch (err) {
        if (err instanceof StoreError) {
          this.#hold(pair.id, spentConn, pair.tokens, null);
        } else {
          this.#journal?.remove(pair.id);
        }
      }
    }
  }

  async #load(id: string): Promise<LoadedConnection> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    await this.#ctx.discovery?.ensure(record.provider);
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
    const lapsing =
      req.keepAliveUntil !== undefined &&
      tokens.refreshToken !== null &&
      tokens.refreshTokenExpiresAt !== null &&
      tokens.refreshTokenExpiresAt <= req.keepAliveUntil;
    return !lapsing && !isDue(tokens.expiresAt, tokens.issuedAt, now, this.#ctx.options.refreshWindowMs);
  }

  /** After a failure: whether the old token may still be handed out (never to an explicit refresh). */
  #softResult(conn: LoadedConnection, req: RefreshRequest): boolean {
    const t = conn.secrets.tokens;
    return (
      !req.explicit &&
      t !== null &&
      !isExpired(t.expiresAt, this.#ctx.clock.now()) &&
      t.accessToken !== req.rejectedToken &&
      !this.#rejected(conn)
    );
  }

  async #grant(conn: LoadedConnection, gate?: GrantGate): Promise<TokenSet> {
    const { retry } = this.#ctx.options;
    let attempt = 0;
    for (;;) {
      attempt++;
      await gate?.admit();
      try {
        return await this.#grantOnce(conn);
      } catch (err) {
        if (err instanceof RateLimited) gate?.rateLimited(err.retryAfter);
        if (!isTransient(err) || attempt >= retry.attempts || this.#ctx.closed()) throw err;
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

  #grantContext(conn: LoadedConnection, dpop: DpopKey | null = null): GrantContext {
    const { record, spec, client, endpoints } = conn;
    if (!client) {
      throw new InvalidClient(`Connection "${record.id}" has no client to refresh with.`, {
        connectionId: record.id,
        provider: record.provider,
      });
    }
    return grantContextFor(spec, record.params, endpoints, client, {
      now: () => this.#ctx.clock.now(),
      connectionId: record.id,
      http: this.#ctx.options.http,
      dpop: signerFor(this.#ctx, dpop),
    });
  }

  async #grantOnce(conn: LoadedConnection): Promise<TokenSet> {
    const { record, spec, secrets } = conn;
    const key = await keyForGrant(this.#ctx, spec, secrets.tokens);
    const ctx = this.#grantContext(conn, key);
    if (record.authMode === 'client_credentials') {
      const scopes = record.scopes ?? spec.scopes;
      const response = await requestClientCredentials(ctx, scopes.length > 0 ? { scopes } : {});
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
    const response = await refreshAccessToken(ctx, {
      refreshToken,
      accessToken: secrets.tokens?.accessToken,
    });
    return this.#checkIdToken(
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
  async #checkIdToken(conn: LoadedConnection, tokens: TokenSet): Promise<TokenSet> {
    const { spec, record, client } = conn;
    if (typeof tokens.extra['id_token'] !== 'string' || !spec.issuer || !client) return tokens;
    try {
      await checkIdToken(this.#ctx, tokens, {
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
      this.#ctx.events.emit('error', error, record.id);
      return { ...tokens, extra };
    }
  }

  /**
   * The guarded commit (docs/architecture.md, invariant 7): the pair lands only on the version it was
   * granted from, or on a newer version whose credential is still the one this grant spent
   * (someone wrote other fields meanwhile). A newer pair is never overwritten; a revoked,
   * removed, needs_reauth or rebound connection is never brought back — and the new refresh
   * token, which nobody will use, is revoked at the provider (RFC 7009).
   */
  async #commit(conn: LoadedConnection, tokens: TokenSet): Promise<LoadedConnection> {
    const id = conn.record.id;
    const spent = spentOf(conn.secrets.tokens);
    try {
      const written = await writeConnection(this.#ctx, id, 'commit_tokens', (current) => {
        if (!current) throw new WriteRefused('commit_tokens', 'removed', null);
        if (!sameBinding(current, conn.record)) throw new WriteRefused('commit_tokens', 'rebound', current);
        if (current.version !== conn.record.version) {
          const stored = openSecrets(this.#ctx.sealer, current).tokens;
          if (spentOf(stored) !== spent) throw new WriteRefused('commit_tokens', 'superseded', current);
        }
        return this.#withTokens(current, conn, tokens);
      });
      const committed = openConnection(this.#ctx, written as ConnectionRecord);
      this.#ctx.events.emit('refreshed', toConnectionInfo(committed.record));
      return committed;
    } catch (err) {
      if (!(err instanceof WriteRefused)) throw err;
      await this.#revokeOrphan(conn, tokens, err.current);
      if (err.reason === 'superseded') return this.#load(id);
      throw err.toBatonError(id);
    }
  }

  #withTokens(base: ConnectionRecord, conn: LoadedConnection, tokens: TokenSet): ConnectionRecord {
    const now = this.#ctx.clock.now();
    return {
      ...base,
      sealed: sealSecrets(this.#ctx.sealer, base, { tokens, credentials: conn.secrets.credentials }),
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      scopes: tokens.scope ?? base.scopes,
      lastRefreshedAt: now,
      lastError: null,
    };
  }

  /** Best effort: a refresh token nobody will store is revoked, never one still in use. */
  async #revokeOrphan(
    conn: LoadedConnection,
    tokens: TokenSet,
    current: ConnectionRecord | null,
  ): Promise<void> {
    const orphan = tokens.refreshToken;
    if (!orphan || !conn.endpoints.revocationUrl || !conn.client) return;
    if (orphan === conn.secrets.tokens?.refreshToken) return;
    if (current) {
      try {
        if (openSecrets(this.#ctx.sealer, current).tokens?.refreshToken === orphan) return;
      } catch {
        // Unreadable now: it cannot be ours either.
      }
    }
    await revokeToken(this.#grantContext(conn), { token: orphan, tokenTypeHint: 'refresh_token' }).catch(
      () => undefined,
    );
  }

  #hold(id: string, from: LoadedConnection, tokens: TokenSet, lease: HeldLease | null): void {
    const existing = this.#held.get(id);
    if (existing?.timer) clearTimeout(existing.timer);
    try {
      this.#journal?.add(
        id,
        {
          id,
          provider: from.record.provider,
          params: from.record.params,
          clientId: from.record.clientId,
          authMode: from.record.authMode,
          apiBaseUrl: from.record.apiBaseUrl,
        },
        from.record.version,
        tokens,
        spentOf(from.secrets.tokens),
        this.#ctx.clock.now(),
      );
    } catch (err) {
      this.#ctx.events.emit(
        'error',
        new StoreError(
          `Could not write the rescue journal for "${id}"; the new token pair is only in memory.`,
          {
            connectionId: id,
            cause: err,
          },
        ),
        id,
      );
    }
    const pair: HeldPair = { id, tokens, from, lease, timer: null };
    this.#held.set(id, pair);
    this.#schedule(pair, 250);
  }

  #schedule(pair: HeldPair, delayMs: number): void {
    if (this.#ctx.closed()) return;
    pair.timer = setTimeout(() => {
      pair.timer = null;
      this.#flush(pair.id).catch(() => {
        if (this.#held.get(pair.id) === pair) this.#schedule(pair, Math.min(delayMs * 2, 2_000));
      });
    }, delayMs);
    pair.timer.unref();
  }

  async #flush(id: string): Promise<void> {
    const pair = this.#held.get(id);
    if (!pair) return;
    try {
      await this.#commit(pair.from, pair.tokens);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      // Refused (revoked, removed, superseded): the pair is done with either way.
    }
    if (pair.timer) clearTimeout(pair.timer);
    if (this.#held.get(id) === pair) this.#held.delete(id);
    this.#journal?.remove(id);
    await pair.lease?.release();
  }

  async #onGrantFailure(
    id: string,
    conn: LoadedConnection,
    err: unknown,
    req: RefreshRequest,
    lease: HeldLease,
  ): Promise<LoadedConnection> {
    const { record } = conn;
    const secrets = secretValues(conn.secrets, conn.client);
    if (err instanceof ReauthorizationRequired) {
      // Another process may have rotated the token after our read (its lease expired under it,
      // say); its pair is valid even though ours was refused.
      const latest = await readRecord(this.#ctx, id);
      if (latest && latest.version !== record.version && latest.status === 'active') {
        const other = openConnection(this.#ctx, latest);
        if (spentOf(other.secrets.tokens) !== spentOf(conn.secrets.tokens)) return other;
      }
      const lost = lease.takenOver;
      const said = redact(err.message, secrets);
      const message = lost
        ? `A refresh of "${id}" was in flight in process ${lost.owner.split(':')[0]} at ${new Date(lost.since).toISOString()} and its result was lost (the process stopped after the provider replaced the refresh token and before storing it); ${conn.spec.displayName} now refuses the old one: ${said}`
        : err.connectionId === id
          ? said
          : `${conn.spec.displayName} no longer accepts the refresh token of connection "${id}": ${said}`;
      let marked: ConnectionRecord | null = null;
      try {
        marked = await writeConnection(this.#ctx, id, 'needs_reauth', (current) => {
          if (!current) throw new WriteRefused('needs_reauth', 'removed', null);
          // Only the grant we spent is dead: a newer pair someone stored stays.
          if (current.version !== record.version) {
            const stored = openSecrets(this.#ctx.sealer, current).tokens;
            if (spentOf(stored) !== spentOf(conn.secrets.tokens)) {
              throw new WriteRefused('needs_reauth', 'superseded', current);
            }
          }
          return {
            ...current,
            lastError: { code: lost ? 'refresh_lost' : err.code, message, at: this.#ctx.clock.now() },
          };
        });
      } catch (refused) {
        if (refused instanceof WriteRefused && refused.reason === 'superseded') return this.#load(id);
        if (!(refused instanceof WriteRefused)) throw refused;
      }
      const error = new ReauthorizationRequired(message, {
        connectionId: id,
        provider: record.provider,
        cause: err,
        secrets,
      });
      this.#ctx.events.emit('needs_reauth', toConnectionInfo(marked ?? record), error);
      req.gate?.done(error);
      throw error;
    }
    const error = toBatonError(err, id, record.provider, secrets);
    req.gate?.done(error);
    await writeConnection(this.#ctx, id, 'record_error', (current) =>
      current
        ? {
            ...current,
            lastError: {
              code: error.code,
              message: redact(error.message, secrets),
              at: this.#ctx.clock.now(),
            },
          }
        : null,
    ).catch(() => undefined);
    const prev = this.#cooldowns.get(id);
    const failures = (prev?.failures ?? 0) + 1;
    const { retry } = this.#ctx.options;
    let wait = Math.min(retry.baseDelayMs * 2 ** failures, retry.maxCooldownMs);
    if (error instanceof RateLimited && error.retryAfter !== undefined)
      wait = Math.max(wait, error.retryAfter * 1000);
    this.#cooldowns.set(id, { failures, until: this.#ctx.clock.now() + wait, error });
    this.#ctx.events.emit('error', error, id);
    // The old access token may still be alive (we refreshed early); a dead one is never returned.
    if (isTransient(err) && this.#softResult(conn, req)) return conn;
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
