import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Dispatcher, Response } from 'undici';
import {
  ConfigError,
  ConnectionNotFound,
  ProviderError,
  ReauthorizationRequired,
  StoreError,
} from '../errors.js';
import { DpopNonces } from '../protocol/dpop-nonces.js';
import type { Introspection } from '../protocol/grants.js';
import { revokeToken } from '../protocol/grants.js';
import type { HttpOptions } from '../protocol/http.js';
import { resolveParams } from '../providers/params.js';
import { ProviderRegistry } from '../providers/registry.js';
import type { ProviderOverride } from '../providers/spec.js';
import { openStore } from '../store/index.js';
import { Sealer } from '../store/sealer.js';
import { dataDir, loadSecretKey } from '../store/secret-key.js';
import type { AccountInfo, ConnectionRecord, ListQuery, Store } from '../store/store.js';
import { ApiFetcher, type BatonRequestInit, type BatonRequestOptions } from './api-fetch.js';
import {
  type BeginAuthorizationInput,
  type BeginAuthorizationResult,
  beginAuthorization,
  type CompleteAuthorizationInput,
  completeAuthorization,
} from './authorization.js';
import { ClientDirectory, type ClientRegistration, type ClientsOption } from './clients.js';
import { type Clock, systemClock } from './clock.js';
import { type ConnectInput, connect, type FacadeParts } from './connect.js';
import {
  type ConnectionInfo,
  type GrantLifetime,
  toConnectionInfo,
  toGrantLifetime,
} from './connection-info.js';
import { type CoreContext, openConnection, prepareProvider, readRecord } from './context.js';
import { Discovery } from './discovery.js';
import { BatonEmitter, type BatonEvents } from './events.js';
import { grantContextOf } from './grant-context.js';
import { journalPath, RescueJournal } from './held-pairs.js';
import { identify } from './identity.js';
import { checkConnectionId } from './ids.js';
import { introspect } from './introspection.js';
import { Keeper, type KeeperOptions } from './keeper.js';
import { acquireLease } from './lease.js';
import { type BeginMcpAuthorizationInput, McpConnections } from './mcp.js';
import { removedEvent } from './outbox.js';
import { Refresher } from './refresher.js';
import { type ClientIdentityOptions, ClientRegistrar } from './registrations.js';
import {
  assertKeysLoaded,
  type KeyState,
  keyState,
  type RekeyOptions,
  type RekeyResult,
  rekey,
} from './rekey.js';
import { type Released, releaseCredentials } from './release.js';
import { type ConnectionSecrets, openSecrets, sealSecrets } from './secrets.js';
import { TokenCache } from './token-cache.js';
import { timesOf } from './token-lifetime.js';
import { TokenSource } from './token-source.js';
import {
  type ClientCheck,
  type IdentityCheck,
  type ImportTokensInput,
  importTokens,
  type VerifyCredentialsInput,
  verifyClient,
  verifyCredentials,
} from './verify.js';
import { WriteRefused, writeConnection } from './write-path.js';

export interface BatonOptions {
  /** 'memory:', 'sqlite:<path>', 'postgres://…', a pg.Pool or a Store. Default: BATON_STORE, else SQLite in the user data dir. */
  store?: string | Store | Pool;
  /** base64 of 32 bytes. Default: BATON_SECRET_KEY, else a 0600 key file in the user data dir. */
  secretKey?: string;
  keyFile?: string;
  clients?: ClientsOption;
  providers?: Record<string, ProviderOverride>;
  /**
   * Refresh a token this long before it expires, or half its lifetime before if that is
   * shorter (README, "When tokens are refreshed"). Default 60 s.
   */
  refreshWindowMs?: number;
  /**
   * How long a refresh lease holds without renewal before another process may take over. The
   * holder renews it every third of this while its grant runs. Default 30 s.
   */
  leaseTtlMs?: number;
  retry?: Partial<CoreContext['options']['retry']>;
  http?: HttpOptions;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** How long a begun authorization may wait for its callback. Default 10 minutes. */
  authorizationTtlMs?: number;
  /**
   * How Baton presents itself to the MCP servers' authorization servers where it obtains its
   * own client (docs/architecture.md, "MCP"): the name they show, the redirect URI, and the URL of
   * its client metadata document.
   */
  mcp?: ClientIdentityOptions;
  /**
   * Emit `connection.expiring` (the library event and the webhook) once a grant's absolute end —
   * the spec's `refreshTokenLifetime.absoluteSeconds`, which no refresh extends — is this near.
   * Default 14 days.
   */
  expiringWithinMs?: number;
  /** Start the background keeper (refreshes tokens and keeps sliding refresh tokens alive). */
  keeper?: boolean | KeeperOptions;
  /**
   * Write webhook events (README, "Webhooks") to the store's outbox, in the transaction of the
   * change that causes them, for `baton serve` to deliver. Default: on when the store keeps an
   * outbox (every built-in engine); `true` with a store that keeps none is a ConfigError.
   */
  outbox?: boolean;
}

export type {
  BeginAuthorizationInput,
  BeginAuthorizationResult,
  BeginMcpAuthorizationInput,
  CompleteAuthorizationInput,
  ConnectInput,
};

/** A page of connections (`Baton.list`): keyset pagination by id, with filters. */
export type ConnectionQuery = Pick<ListQuery, 'after' | 'limit' | 'provider' | 'status' | 'idPrefix'>;

/** Only the public filters reach the store. */
function pick(q: ConnectionQuery): ListQuery {
  const out: ListQuery = {};
  if (q.after !== undefined) out.after = q.after;
  if (q.limit !== undefined) out.limit = q.limit;
  if (q.provider !== undefined) out.provider = q.provider;
  if (q.status !== undefined) out.status = q.status;
  if (q.idPrefix !== undefined) out.idPrefix = q.idPrefix;
  return out;
}

export interface RevokeResult {
  /** Whether the provider was told (RFC 7009); false when it has no revocation endpoint. */
  revokedAtProvider: boolean;
}

/**
 * The facade users hold. Composes the store, the sealer, the provider registry and the token
 * source; every method is a short sequence of those pieces.
 */
export class Baton {
  readonly #ctx: CoreContext;
  readonly #refresher: Refresher;
  readonly #tokens: TokenSource;
  readonly #api: ApiFetcher;
  readonly #authorizationTtlMs: number;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #ownsStore: boolean;
  readonly #mcp: McpConnections;
  #keeper: Keeper | null = null;
  #closed = false;

  private constructor(
    ctx: CoreContext,
    authorizationTtlMs: number,
    ownsStore: boolean,
    journal: RescueJournal | null,
  ) {
    this.#ctx = ctx;
    this.#refresher = new Refresher(ctx, journal);
    this.#tokens = new TokenSource(ctx, this.#refresher);
    this.#api = new ApiFetcher(ctx, this.#tokens);
    this.#authorizationTtlMs = authorizationTtlMs;
    this.#ownsStore = ownsStore;
    this.#mcp = new McpConnections(
      () => this.#parts,
      (input) => {
        checkConnectionId(input.connectionId);
        return beginAuthorization(this.#parts, input);
      },
    );
    // Any change of the store, ours or another process's, reaches the cache (invariant 8).
    this.#unsubscribe = ctx.store.subscribe?.((id, version) => ctx.cache.changed(id, version));
  }

  static async open(options: BatonOptions = {}): Promise<Baton> {
    const env = options.env ?? process.env;
    const providers = ProviderRegistry.create(options.providers);
    const expiringWithinMs = options.expiringWithinMs ?? 14 * 86_400_000;
    if (!(Number.isFinite(expiringWithinMs) && expiringWithinMs > 0)) {
      throw new ConfigError(
        `expiringWithinMs ${expiringWithinMs} is not a positive number of milliseconds.`,
        'Set expiringWithinMs above 0, e.g. 14 * 86_400_000 for two weeks.',
      );
    }
    const ownsStore = typeof options.store === 'string' || options.store === undefined;
    const store = await openStore(options.store, { env });
    let sealer: Sealer;
    try {
      // The store is asked which keys seal its data: a key file is never created beside data
      // it cannot open, and a store none of whose keys is loaded is refused at once.
      const inUse = await store.keyIds();
      const { key } = await loadSecretKey({
        secretKey: options.secretKey,
        keyFile: options.keyFile,
        env,
        storeInUse: async () =>
          inUse.length > 0 || (await store.list({ limit: 1 })).length > 0 ? inUse : null,
      });
      const previous = (env['BATON_SECRET_KEY_PREVIOUS'] ?? '').split(',').filter(Boolean);
      const previousKeys = [];
      for (const p of previous) previousKeys.push((await loadSecretKey({ secretKey: p, env: {} })).key);
      sealer = new Sealer({ current: key, previous: previousKeys });
      assertKeysLoaded(sealer, inUse);
    } catch (err) {
      if (ownsStore) await store.close().catch(() => undefined);
      throw err;
    }
    if (options.outbox === true && !store.outbox) {
      if (ownsStore) await store.close();
      throw new ConfigError(
        `The ${store.kind} store given to Baton.open keeps no webhook outbox.`,
        'Use a built-in store (memory, SQLite, PostgreSQL), or open Baton with outbox: false.',
      );
    }
    const retry = {
      attempts: 3,
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      maxCooldownMs: 5 * 60_000,
      ...options.retry,
    };
    let closed = false;
    const ctx: CoreContext = {
      store,
      sealer,
      providers,
      clients: new ClientDirectory(options.clients, env),
      clock: options.clock ?? systemClock,
      events: new BatonEmitter(),
      options: {
        refreshWindowMs: options.refreshWindowMs ?? 60_000,
        leaseTtlMs: options.leaseTtlMs ?? 30_000,
        retry,
        http: options.http ?? {},
        expiringWithinMs,
      },
      owner: `${process.pid}:${randomUUID()}`,
      cache: new TokenCache(),
      dpopNonces: new DpopNonces(),
      closed: () => closed,
      outbox: options.outbox !== false && store.outbox !== undefined,
    };
    ctx.registrar = new ClientRegistrar(ctx, options.mcp);
    ctx.discovery = new Discovery(providers, ctx.clock, ctx.options.http, {
      cache: store.serverMetadata,
      // The metadata cache saves network reads; its failure is reported, never an operation's.
      onStoreError: (err) => ctx.events.emit('error', err, undefined),
    });
    await ctx.discovery.warm();
    const path = journalPath(store, dataDir(env));
    const journal = path ? new RescueJournal(path, sealer) : null;
    const baton = new Baton(ctx, options.authorizationTtlMs ?? 10 * 60_000, ownsStore, journal);
    baton.#markClosed = () => {
      closed = true;
    };
    // Pairs a previous process rotated but could not store are committed before anything else.
    const rescued = journal?.open() ?? [];
    if (rescued.length > 0) await baton.#refresher.recover(rescued);
    if (options.keeper) baton.startKeeper(options.keeper === true ? {} : options.keeper);
    return baton;
  }

  #markClosed: () => void = () => undefined;

  get store(): Store {
    return this.#ctx.store;
  }

  get providers(): ProviderRegistry {
    return this.#ctx.providers;
  }

  /** How near a grant's absolute end is when `connection.expiring` is emitted (`expiringWithinMs`). */
  get expiringWithinMs(): number {
    return this.#ctx.options.expiringWithinMs;
  }

  /** Whether this Baton writes webhook events to the store's outbox. */
  get outbox(): boolean {
    return this.#ctx.outbox === true;
  }

  /** Seals values under the store's secret key (the server's webhook signing secrets). */
  get sealer(): Sealer {
    return this.#ctx.sealer;
  }

  on<K extends keyof BatonEvents>(event: K, listener: (...args: BatonEvents[K]) => void): this {
    this.#ctx.events.on(event, listener);
    return this;
  }

  off<K extends keyof BatonEvents>(event: K, listener: (...args: BatonEvents[K]) => void): this {
    this.#ctx.events.off(event, listener);
    return this;
  }

  /** The client Baton would use for a provider and params, if one is configured. */
  clientFor(provider: string, params: Record<string, string> = {}): ClientRegistration | undefined {
    const spec = this.#ctx.providers.get(provider);
    return this.#ctx.clients.find(provider, resolveParams(spec, params));
  }

  /** Parts the operations in authorization.ts, connect.ts and identity.ts share. */
  get #parts(): FacadeParts {
    return {
      ctx: this.#ctx,
      tokens: this.#tokens,
      refresher: this.#refresher,
      authorizationTtlMs: this.#authorizationTtlMs,
      fetch: (id, path, init) => this.fetch(id, path, init),
    };
  }

  // ---- authorization (authorization.ts, connect.ts) ----

  /**
   * RFC 6749 §4.1.1 (+ PKCE): the URL to send the user to; the pending authorization is stored
   * under its state. Given `mcp` (an MCP server's URL) instead of a provider, the MCP discovery
   * chain finds the provider, the client and the resource first (`baton.mcp.begin`).
   */
  async beginAuthorization(
    input: BeginAuthorizationInput | BeginMcpAuthorizationInput,
  ): Promise<BeginAuthorizationResult> {
    checkConnectionId(input.connectionId);
    if ('mcp' in input) return this.#mcp.begin(input);
    return beginAuthorization(this.#parts, input);
  }

  /** MCP servers' authorization: discovery, clients, step-up (docs/architecture.md, "MCP"). */
  get mcp(): McpConnections {
    return this.#mcp;
  }

  /** Checks the callback, exchanges the code, stores the connection (a new authorization: any status → active). */
  completeAuthorization(input: CompleteAuthorizationInput): Promise<ConnectionInfo> {
    return completeAuthorization(this.#parts, input);
  }

  /** Stores a connection that needs no user consent: static credentials, or client credentials. */
  async connect(input: ConnectInput): Promise<ConnectionInfo> {
    checkConnectionId(input.connectionId);
    return connect(this.#parts, input);
  }

  // ---- use ----

  /** A valid access token, refreshed first if it is within the refresh window. */
  getAccessToken(id: string): Promise<string> {
    return this.#tokens.getAccessToken(id);
  }

  /** fetch with the connection's credentials; relative paths resolve against its API base. */
  fetch(id: string, path: string, init?: BatonRequestInit): Promise<Response> {
    return this.#api.fetch(id, path, init);
  }

  /**
   * The same as `fetch`, through undici's `request()`: `{ statusCode, headers, body }` with the
   * body a Node stream, and none of fetch's WHATWG objects — several times cheaper per call.
   * Same credentials, redirect policy and 401 rule.
   */
  request(id: string, path: string, options?: BatonRequestOptions): Promise<Dispatcher.ResponseData> {
    return this.#api.request(id, path, options);
  }

  /**
   * Refreshes now if the token is due (or always with `force`). Unlike getAccessToken, a
   * refresh that fails throws its typed error even while the old token is still valid.
   */
  async refresh(id: string, options: { force?: boolean } = {}): Promise<ConnectionInfo> {
    const conn = await this.#tokens.refresh(id, options.force ?? false);
    return toConnectionInfo(conn.record);
  }

  /**
   * Calls the provider's identity endpoint, stores what it says about the account, and returns
   * the parsed body. Used by `baton connect` and `baton doctor` to show who a connection is.
   */
  /** Whether the provider's introspection endpoint (RFC 7662) says the access token is active; null without one. */
  introspect(id: string): Promise<Introspection | null> {
    return introspect(this.#parts, id);
  }

  identify(id: string): Promise<{ account: AccountInfo | null; body: unknown; status: number }> {
    return identify(this.#parts, id);
  }

  // ---- inspect ----

  async get(id: string): Promise<ConnectionInfo> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    return toConnectionInfo(record);
  }

  /**
   * When the connection's grant ends (README, "When tokens are refreshed"): its refresh token's
   * own end (moved by each use when it slides) and the absolute end no refresh extends. Null
   * when it holds no refresh token. Read from the sealed token set: no secret is returned.
   */
  async lifetime(id: string): Promise<GrantLifetime | null> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    const tokens = openSecrets(this.#ctx.sealer, record).tokens;
    if (!tokens?.refreshToken) return null;
    return toGrantLifetime(timesOf(tokens));
  }

  /**
   * Connections in id order, never their secrets. A page: `{ limit, after, provider, status,
   * idPrefix }`, answered from an index; the next page is `after` the last id, and a page
   * shorter than `limit` is the last. With no `limit`, every connection that matches, in one
   * read: at scale, page or use `connections()`.
   */
  async list(query: ConnectionQuery = {}): Promise<ConnectionInfo[]> {
    return (await this.#ctx.store.list(pick(query))).map(toConnectionInfo);
  }

  /** Every connection that matches, one page at a time (memory holds one page). */
  async *connections(
    query: Omit<ConnectionQuery, 'limit'> & { pageSize?: number } = {},
  ): AsyncGenerator<ConnectionInfo> {
    const limit = query.pageSize ?? 500;
    for (let after = query.after; ; ) {
      const page = await this.#ctx.store.list({
        ...pick(query),
        limit,
        ...(after !== undefined ? { after } : {}),
      });
      for (const r of page) yield toConnectionInfo(r);
      if (page.length < limit) return;
      after = page[page.length - 1]?.id;
    }
  }

  /** How many connections match (from an index when filtered). */
  count(query: Omit<ConnectionQuery, 'limit'> = {}): Promise<number> {
    return this.#ctx.store.count(pick(query));
  }

  /**
   * The connection's secrets, for `--reveal` and for moving credentials elsewhere. Checks the
   * configuration first, like every other use.
   */
  async reveal(id: string): Promise<ConnectionSecrets> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    await prepareProvider(this.#ctx, record.provider, record.clientId);
    return openConnection(this.#ctx, record).secrets;
  }

  // ---- end ----

  /**
   * Revokes the grant at the provider (RFC 7009, where it has an endpoint) and marks the
   * connection `revoked`. It wins every race (docs/architecture.md, invariant 7): it takes the refresh lease,
   * waiting for a refresh in flight in any process, so the refresh token it revokes is the
   * current one, and no later commit brings the connection back. An endpoint that takes only
   * the access token, as its own credential, refuses an expired one (Dropbox, Slack): that token
   * is refreshed first, so the revocation reaches the grant.
   */
  async revoke(id: string): Promise<RevokeResult> {
    const first = await readRecord(this.#ctx, id);
    if (!first) throw new ConnectionNotFound(id);
    await this.#liveForRevocation(first);
    const taken = await acquireLease(this.#ctx, id, async () => undefined);
    const lease = 'lease' in taken ? taken.lease : null;
    try {
      const record = await readRecord(this.#ctx, id);
      if (!record) throw new ConnectionNotFound(id);
      await prepareProvider(this.#ctx, record.provider, record.clientId);
      const conn = openConnection(this.#ctx, record);
      const held = this.#refresher.held(id);
      let revokedAtProvider = false;
      const tokens = conn.secrets.tokens;
      if (conn.endpoints.revocationUrl && conn.client && (tokens || held)) {
        const ctx = grantContextOf(this.#ctx, conn);
        // A pair held while the store was down is the live one: revoke it too. A live access
        // token is revoked as well: when a rotation was lost with a process, the stored refresh
        // token is already dead, and the access token is what still names the grant (RFC 7009
        // §2.1 lets a server revoke the whole grant from either).
        const now = this.#ctx.clock.now();
        // Some endpoints take only the access token, which ends the whole grant (Dropbox, Slack).
        const accessOnly = conn.spec.revocation?.takes === 'access_token';
        for (const t of [held?.tokens, tokens]) {
          if (!t) continue;
          let ended = false;
          if (t.refreshToken && !accessOnly) {
            await revokeToken(ctx, { token: t.refreshToken, tokenTypeHint: 'refresh_token' });
            ended = true;
          }
          const live = t.expiresAt === null || t.expiresAt > now;
          // An expired access token the refresh above could not replace: the endpoint would only
          // refuse it, and the grant it named is already refused at the token endpoint.
          if (accessOnly && !live) continue;
          if (accessOnly || !t.refreshToken || live) {
            // Most servers end the whole grant with its refresh token (RFC 7009 §2.1) and then
            // refuse its access token as unknown (Zoom, Notion): that refusal is no failure.
            await revokeToken(ctx, { token: t.accessToken, tokenTypeHint: 'access_token' }).catch(
              (err: unknown) => {
                const refused = err instanceof ProviderError && err.status !== undefined && err.status < 500;
                if (!ended || !refused) throw err;
              },
            );
          }
          revokedAtProvider = true;
        }
      }
      this.#refresher.forget(id);
      await writeConnection(this.#ctx, id, 'revoke', (r) => {
        if (!r) throw new WriteRefused('revoke', 'removed', null);
        return {
          ...r,
          sealed: sealSecrets(this.#ctx.sealer, r, { tokens: null, credentials: null }),
          accessTokenExpiresAt: null,
          refreshTokenExpiresAt: null,
        };
      }).catch((err: unknown) => {
        throw err instanceof WriteRefused ? err.toBatonError(id) : err;
      });
      return { revokedAtProvider };
    } finally {
      await lease?.release();
    }
  }

  /**
   * Refreshes an expired access token ahead of a revocation that takes only the access token. A
   * grant the provider refuses to refresh is left to the revocation, which marks it revoked.
   */
  async #liveForRevocation(record: ConnectionRecord): Promise<void> {
    const spec = this.#ctx.providers.get(record.provider);
    if (spec.revocation?.takes !== 'access_token') return;
    const expiresAt = record.accessTokenExpiresAt;
    if (expiresAt === null || expiresAt > this.#ctx.clock.now()) return;
    await this.#tokens.refresh(record.id, false).catch((err: unknown) => {
      if (!(err instanceof ReauthorizationRequired)) throw err;
    });
  }

  /** Deletes the connection. A refresh still in flight elsewhere finds it gone and stores nothing. */
  async remove(id: string): Promise<boolean> {
    this.#refresher.forget(id);
    // The removal's event carries the connection as last read (README, "Webhooks").
    const last = this.#ctx.outbox ? await readRecord(this.#ctx, id) : null;
    const existed = last
      ? await this.#ctx.store.delete(id, [removedEvent(last, this.#ctx.clock.now())])
      : await this.#ctx.store.delete(id);
    this.#ctx.cache.changed(id, null);
    return existed;
  }

  // ---- keys ----

  /** The current key, the loaded ones, and which key ids seal the store's rows (how many each). */
  keys(): Promise<KeyState> {
    return keyState(this.#ctx);
  }

  /**
   * Re-seals every connection and pending authorization under the current key, online and in
   * batches, then checks that nothing is left under another key (docs/operations.md, "Key rotation"). Load
   * the old key in `BATON_SECRET_KEY_PREVIOUS`; a run that stops is resumed by running it again.
   */
  rekey(options: RekeyOptions = {}): Promise<RekeyResult> {
    return rekey(this.#ctx, options);
  }

  // ---- lifecycle ----

  startKeeper(options: KeeperOptions = {}): Keeper {
    if (!this.#keeper) {
      this.#keeper = new Keeper(
        this.#ctx,
        (id, keepAliveUntil, gate) => this.#tokens.refreshSoft(id, keepAliveUntil, gate),
        options,
      );
      this.#keeper.start();
    }
    return this.#keeper;
  }

  /** Connections whose rotated token pair is held (journaled), waiting for the store to come back. */
  get pendingCommits(): string[] {
    return this.#refresher.pendingCommits;
  }

  /**
   * Stops the keeper, tries once more to commit held pairs (what it cannot commit stays in the
   * rescue journal for the next open), and closes the store if Baton opened it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keeper?.stop();
    this.#unsubscribe?.();
    await this.#refresher.flushAll();
    const left = this.#refresher.pendingCommits;
    this.#markClosed();
    this.#refresher.close();
    if (left.length > 0) {
      this.#ctx.events.emit(
        'error',
        new StoreError(
          `Closing with token pairs of ${left.join(', ')} not yet stored; they are kept in the rescue journal and committed by the next Baton.open on this store.`,
        ),
        undefined,
      );
    }
    await this.#api.close().catch(() => undefined);
    if (this.#ownsStore) await this.#ctx.store.close();
  }

  // ---- internals ----

  // ---- checks before storing (see verify.ts) ----

  /** Calls the identity endpoint with credentials that are not stored yet. */
  verifyCredentials(input: VerifyCredentialsInput): Promise<IdentityCheck> {
    return verifyCredentials(this.#ctx, input);
  }

  /** Checks a configured OAuth client's id and secret at the token endpoint, without a user grant. */
  verifyClient(provider: string, params: Record<string, string> = {}): Promise<ClientCheck> {
    return verifyClient(this.#ctx, provider, params);
  }

  /** Stores OAuth tokens obtained elsewhere, once the identity endpoint accepted them. */
  async importTokens(input: ImportTokensInput): Promise<ConnectionInfo> {
    checkConnectionId(input.connectionId);
    return importTokens(this.#ctx, input);
  }

  /** The connection's credentials now (token, or the header for static modes), refreshed first when due. */
  release(id: string): Promise<Released> {
    return releaseCredentials(this.#ctx, this.#tokens, id);
  }
}
