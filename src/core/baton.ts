import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Response } from 'undici';
import {
  AuthorizationError,
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  SecretKeyError,
  StoreError,
} from '../errors.js';
import { buildAuthorizationUrl, checkCallback, parseCallback } from '../protocol/authorization.js';
import {
  exchangeAuthorizationCode,
  type GrantContext,
  requestClientCredentials,
  revokeToken,
} from '../protocol/grants.js';
import type { HttpOptions } from '../protocol/http.js';
import { createPkce, randomState } from '../protocol/pkce.js';
import type { TokenSet } from '../protocol/token-set.js';
import { resolveParams } from '../providers/params.js';
import { ProviderRegistry } from '../providers/registry.js';
import type { AuthMode, ProviderOverride, ProviderSpec } from '../providers/spec.js';
import { openStore } from '../store/index.js';
import { Sealer } from '../store/sealer.js';
import { dataDir, loadSecretKey } from '../store/secret-key.js';
import type { AccountInfo, ConnectionRecord, PendingAuthorization, Store } from '../store/store.js';
import { ApiFetcher, type BatonRequestInit } from './api-fetch.js';
import { ClientDirectory, type ClientRegistration, type ClientsOption } from './clients.js';
import { type Clock, systemClock } from './clock.js';
import { type ConnectionInfo, toConnectionInfo } from './connection-info.js';
import {
  type CoreContext,
  connectionEndpoints,
  type LoadedConnection,
  openConnection,
  readRecord,
} from './context.js';
import { BatonEmitter, type BatonEvents } from './events.js';
import { grantContextFor } from './grant-context.js';
import { journalPath, RescueJournal } from './held-pairs.js';
import { Keeper, type KeeperOptions } from './keeper.js';
import { acquireLease } from './lease.js';
import { Refresher } from './refresher.js';
import { type Released, releaseCredentials } from './release.js';
import { type ConnectionSecrets, type StaticCredentials, sealSecrets } from './secrets.js';
import { TokenCache } from './token-cache.js';
import { toTokenSet } from './token-lifetime.js';
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
  /** Start the background keeper (refreshes tokens and keeps sliding refresh tokens alive). */
  keeper?: boolean | KeeperOptions;
}

export interface BeginAuthorizationInput {
  provider: string;
  connectionId: string;
  params?: Record<string, string>;
  scopes?: string[];
  /** Defaults to the client's configured redirectUri. */
  redirectUri?: string;
  extraParams?: Record<string, string>;
  /** Re-authorize an existing connection under different params or client. */
  replace?: boolean;
}

export interface BeginAuthorizationResult {
  url: string;
  state: string;
  connectionId: string;
  redirectUri: string;
  expiresAt: number;
}

export type CompleteAuthorizationInput =
  | { callbackUrl: string }
  | { state: string; code?: string; error?: string; errorDescription?: string };

export interface ConnectInput {
  provider: string;
  connectionId: string;
  params?: Record<string, string>;
  /** For token-pair and API-key modes. */
  credentials?: StaticCredentials;
  /** Defaults to the first of the provider's modes that fits the input. */
  authMode?: AuthMode;
  scopes?: string[];
  replace?: boolean;
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
    // Any change of the store, ours or another process's, reaches the cache (invariant 8).
    this.#unsubscribe = ctx.store.subscribe?.((id, version) => ctx.cache.changed(id, version));
  }

  static async open(options: BatonOptions = {}): Promise<Baton> {
    const env = options.env ?? process.env;
    const providers = ProviderRegistry.create(options.providers);
    const { key } = await loadSecretKey({ secretKey: options.secretKey, keyFile: options.keyFile, env });
    const previous = (env['BATON_SECRET_KEY_PREVIOUS'] ?? '').split(',').filter(Boolean);
    const previousKeys = [];
    for (const p of previous) previousKeys.push((await loadSecretKey({ secretKey: p, env: {} })).key);
    const sealer = new Sealer({ current: key, previous: previousKeys });
    const ownsStore = typeof options.store === 'string' || options.store === undefined;
    const store = await openStore(options.store, { env });
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
      },
      owner: `${process.pid}:${randomUUID()}`,
      cache: new TokenCache(),
      closed: () => closed,
    };
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

  // ---- authorization ----

  async beginAuthorization(input: BeginAuthorizationInput): Promise<BeginAuthorizationResult> {
    const spec = this.#spec(input.provider, 'oauth2');
    const params = resolveParams(spec, input.params);
    const client = this.#ctx.clients.require(spec.id, params, input.connectionId);
    const redirectUri = input.redirectUri ?? client.redirectUri;
    if (!redirectUri) {
      throw new ConfigError(
        `No redirect URI is configured for ${spec.displayName}.`,
        'Pass redirectUri to beginAuthorization(), or set it in the client configuration (redirectUri / BATON_<PROVIDER>_REDIRECT_URI).',
        { provider: spec.id, connectionId: input.connectionId },
      );
    }
    await this.#checkReplace(input.connectionId, spec, params, client, input.replace);
    const endpoints = connectionEndpoints(spec, { params, apiBaseUrl: null });
    const state = randomState();
    const pkce = spec.pkce ? createPkce() : null;
    const scopes = input.scopes ?? spec.scopes;
    const url = buildAuthorizationUrl({
      spec,
      endpoints,
      clientId: client.clientId,
      redirectUri,
      scopes,
      state,
      ...(pkce ? { codeChallenge: pkce.challenge } : {}),
      ...(input.extraParams ? { extraParams: input.extraParams } : {}),
    });
    const now = this.#ctx.clock.now();
    const pending: PendingAuthorization = {
      state,
      connectionId: input.connectionId,
      provider: spec.id,
      params,
      clientId: client.clientId,
      redirectUri,
      scopes,
      // The row's other fields are sealed too, so an edited row is refused (README, security notes).
      sealed: this.#ctx.sealer.seal(
        {
          codeVerifier: pkce?.verifier ?? null,
          connectionId: input.connectionId,
          redirectUri,
          scopes,
          expiresAt: now + this.#authorizationTtlMs,
        },
        { id: `pending:${state}`, provider: spec.id, params, clientId: client.clientId },
      ),
      createdAt: now,
      expiresAt: now + this.#authorizationTtlMs,
    };
    await this.#ctx.store.savePendingAuthorization(pending);
    return { url, state, connectionId: input.connectionId, redirectUri, expiresAt: pending.expiresAt };
  }

  async completeAuthorization(input: CompleteAuthorizationInput): Promise<ConnectionInfo> {
    const cb =
      'callbackUrl' in input
        ? parseCallback(input.callbackUrl)
        : parseCallback({
            state: input.state,
            ...(input.code !== undefined ? { code: input.code } : {}),
            ...(input.error !== undefined ? { error: input.error } : {}),
            ...(input.errorDescription !== undefined ? { error_description: input.errorDescription } : {}),
          });
    if (!cb.state) {
      throw new AuthorizationError('state_mismatch', 'The callback carries no state parameter.');
    }
    const pending = await this.#ctx.store.takePendingAuthorization(cb.state);
    if (!pending) {
      throw new AuthorizationError(
        'unknown_state',
        'No pending authorization matches the state of this callback.',
      );
    }
    const opts = { provider: pending.provider, connectionId: pending.connectionId };
    const secret = this.#openPending(pending);
    if (pending.expiresAt <= this.#ctx.clock.now()) {
      throw new AuthorizationError(
        'expired_state',
        `The authorization of "${pending.connectionId}" expired before it was completed.`,
        opts,
      );
    }
    const code = checkCallback(cb, pending.state, opts);
    const spec = this.#ctx.providers.get(pending.provider);
    const client = this.#ctx.clients.require(spec.id, pending.params, pending.connectionId);
    if (client.clientId !== pending.clientId) {
      throw new ConnectionMismatch(
        'The client configured now is not the one the authorization was started with',
        { provider: spec.id, clientId: pending.clientId, params: pending.params },
        { provider: spec.id, clientId: client.clientId, params: pending.params },
        opts,
      );
    }
    const codeVerifier = typeof secret['codeVerifier'] === 'string' ? secret['codeVerifier'] : undefined;
    const ctx = this.#grantContext(spec, pending.params, client, pending.connectionId);
    const response = await exchangeAuthorizationCode(ctx, {
      code,
      redirectUri: pending.redirectUri,
      ...(codeVerifier ? { codeVerifier } : {}),
    });
    const tokens = toTokenSet(response, spec, 'authorization_code');
    const record = await this.#saveConnection({
      id: pending.connectionId,
      provider: spec.id,
      authMode: 'oauth2',
      params: pending.params,
      clientId: client.clientId,
      secrets: { tokens, credentials: null },
      scopes: tokens.scope ?? pending.scopes,
      account: accountFromTokens(tokens),
    });
    return toConnectionInfo(record);
  }

  /** Stores a connection that needs no user consent: static credentials, or client credentials. */
  async connect(input: ConnectInput): Promise<ConnectionInfo> {
    const spec = this.#ctx.providers.get(input.provider);
    const params = resolveParams(spec, input.params);
    const mode = input.authMode ?? chooseMode(spec, input);
    this.#spec(spec.id, mode);
    if (mode === 'token_pair' || mode === 'api_key') {
      const creds = input.credentials;
      if (!creds?.apiKey || (mode === 'token_pair' && !creds.apiSecret)) {
        throw new ConfigError(
          `Connecting "${input.connectionId}" with ${mode} needs ${mode === 'token_pair' ? 'an API key and secret' : 'an API key'}.`,
          'Pass credentials: { apiKey, apiSecret } (the CLI reads the secret from a hidden prompt, --secret-stdin or the environment).',
          { provider: spec.id, connectionId: input.connectionId },
        );
      }
      await this.#checkReplace(input.connectionId, spec, params, null, input.replace);
      const record = await this.#saveConnection({
        id: input.connectionId,
        provider: spec.id,
        authMode: mode,
        params,
        clientId: null,
        secrets: { tokens: null, credentials: { ...creds } },
        scopes: null,
        account: null,
      });
      return toConnectionInfo(record);
    }
    if (mode === 'client_credentials') {
      const client = this.#ctx.clients.require(spec.id, params, input.connectionId);
      await this.#checkReplace(input.connectionId, spec, params, client, input.replace);
      // The caller's scopes, else the spec's defaults ("requested when the caller names none").
      const scopes = input.scopes ?? spec.scopes;
      const tokens = toTokenSet(
        await requestClientCredentials(
          this.#grantContext(spec, params, client, input.connectionId),
          scopes.length > 0 ? { scopes } : {},
        ),
        spec,
        'client_credentials',
      );
      const record = await this.#saveConnection({
        id: input.connectionId,
        provider: spec.id,
        authMode: mode,
        params,
        clientId: client.clientId,
        secrets: { tokens, credentials: null },
        scopes: tokens.scope ?? (scopes.length > 0 ? scopes : null),
        account: null,
      });
      return toConnectionInfo(record);
    }
    throw new ConfigError(
      `${spec.displayName} ${mode} connections are made through the authorization flow.`,
      'Use baton.beginAuthorization() / completeAuthorization(), or `baton connect` which runs it.',
      { provider: spec.id, connectionId: input.connectionId },
    );
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
  async identify(id: string): Promise<{ account: AccountInfo | null; body: unknown; status: number }> {
    const conn = await this.#tokens.connection(id);
    const path = conn.spec.identityPath;
    if (!path) return { account: conn.record.account, body: null, status: 0 };
    const res = await this.fetch(id, path, { headers: { accept: 'application/json' } });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    const account = res.ok ? { ...(conn.record.account ?? {}), ...accountFromBody(body) } : null;
    if (account && Object.keys(account).length > 0) {
      await writeConnection(this.#ctx, id, 'identify', (r) => (r ? { ...r, account } : null)).catch(
        (err: unknown) => {
          if (!(err instanceof WriteRefused)) throw err;
        },
      );
    }
    return { account, body, status: res.status };
  }

  // ---- inspect ----

  async get(id: string): Promise<ConnectionInfo> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    return toConnectionInfo(record);
  }

  async list(): Promise<ConnectionInfo[]> {
    return (await this.#ctx.store.list()).map(toConnectionInfo);
  }

  /**
   * The connection's secrets, for `--reveal` and for moving credentials elsewhere. Checks the
   * configuration first, like every other use.
   */
  async reveal(id: string): Promise<ConnectionSecrets> {
    const record = await readRecord(this.#ctx, id);
    if (!record) throw new ConnectionNotFound(id);
    return openConnection(this.#ctx, record).secrets;
  }

  // ---- end ----

  /**
   * Revokes the grant at the provider (RFC 7009, where it has an endpoint) and marks the
   * connection `revoked`. It wins every race (README, invariant 7): it takes the refresh lease,
   * waiting for a refresh in flight in any process, so the refresh token it revokes is the
   * current one, and no later commit brings the connection back.
   */
  async revoke(id: string): Promise<RevokeResult> {
    const first = await readRecord(this.#ctx, id);
    if (!first) throw new ConnectionNotFound(id);
    const taken = await acquireLease(this.#ctx, id, async () => undefined);
    const lease = 'lease' in taken ? taken.lease : null;
    try {
      const record = await readRecord(this.#ctx, id);
      if (!record) throw new ConnectionNotFound(id);
      const conn = openConnection(this.#ctx, record);
      const held = this.#refresher.held(id);
      let revokedAtProvider = false;
      const tokens = conn.secrets.tokens;
      if (conn.endpoints.revocationUrl && conn.client && (tokens || held)) {
        const ctx = this.#grantContext(conn.spec, record.params, conn.client, id, conn);
        // A pair held while the store was down is the live one: revoke it too.
        for (const t of [held?.tokens, tokens]) {
          if (!t) continue;
          if (t.refreshToken)
            await revokeToken(ctx, { token: t.refreshToken, tokenTypeHint: 'refresh_token' });
          else await revokeToken(ctx, { token: t.accessToken, tokenTypeHint: 'access_token' });
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

  /** Deletes the connection. A refresh still in flight elsewhere finds it gone and stores nothing. */
  async remove(id: string): Promise<boolean> {
    this.#refresher.forget(id);
    const existed = await this.#ctx.store.delete(id);
    this.#ctx.cache.changed(id, null);
    return existed;
  }

  // ---- lifecycle ----

  startKeeper(options: KeeperOptions = {}): Keeper {
    if (!this.#keeper) {
      this.#keeper = new Keeper(this.#ctx, (id, force) => this.#tokens.refreshSoft(id, force), options);
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

  #spec(provider: string, mode: AuthMode): ProviderSpec {
    const spec = this.#ctx.providers.get(provider);
    if (!spec.authModes.includes(mode)) {
      throw new ConfigError(
        `${spec.displayName} does not support ${mode}; it supports ${spec.authModes.join(', ')}.`,
        `Use one of: ${spec.authModes.join(', ')}.`,
        { provider },
      );
    }
    return spec;
  }

  /**
   * Opens a pending authorization's sealed part (bound to its state, provider, params and
   * client) and checks the row's other fields against their sealed copies.
   */
  #openPending(pending: PendingAuthorization): Record<string, unknown> {
    const opened = this.#ctx.sealer.open(pending.sealed, {
      id: `pending:${pending.state}`,
      provider: pending.provider,
      params: pending.params,
      clientId: pending.clientId,
    });
    const sealedCopy = {
      connectionId: opened['connectionId'],
      redirectUri: opened['redirectUri'],
      scopes: opened['scopes'],
      expiresAt: opened['expiresAt'],
    };
    for (const [field, value] of Object.entries(sealedCopy)) {
      // Pending authorizations begun before these fields were sealed carry none of them.
      if (value === undefined) continue;
      if (JSON.stringify(value) !== JSON.stringify(pending[field as keyof PendingAuthorization])) {
        throw new SecretKeyError(
          `The pending authorization of "${String(sealedCopy.connectionId)}" was altered in the store (${field}).`,
          { provider: pending.provider },
        );
      }
    }
    return opened;
  }

  #grantContext(
    spec: ProviderSpec,
    params: Record<string, string>,
    client: ClientRegistration,
    connectionId: string,
    conn?: LoadedConnection,
  ): GrantContext {
    return grantContextFor(
      spec,
      params,
      conn?.endpoints ?? connectionEndpoints(spec, { params, apiBaseUrl: null }),
      client,
      { now: () => this.#ctx.clock.now(), connectionId, http: this.#ctx.options.http },
    );
  }

  /**
   * The forum thread's trap: a connection id reused for another account. Re-authorizing the
   * same account is normal; another provider, params or client needs an explicit `replace`.
   */
  async #checkReplace(
    id: string,
    spec: ProviderSpec,
    params: Record<string, string>,
    client: ClientRegistration | null,
    replace: boolean | undefined,
  ): Promise<void> {
    if (replace) return;
    const existing = await readRecord(this.#ctx, id);
    if (!existing) return;
    const same =
      existing.provider === spec.id &&
      sameParams(existing.params, params) &&
      (existing.clientId === null || client === null || existing.clientId === client.clientId);
    if (!same) {
      throw new ConnectionMismatch(
        `Connection "${id}" already exists for another account or client`,
        { provider: existing.provider, clientId: existing.clientId, params: existing.params },
        { provider: spec.id, clientId: client?.clientId ?? null, params },
        { connectionId: id, provider: spec.id },
      );
    }
  }

  /** A new authorization (or static credentials) through the one write path: any status → active. */
  async #saveConnection(input: {
    id: string;
    provider: string;
    authMode: AuthMode;
    params: Record<string, string>;
    clientId: string | null;
    secrets: ConnectionSecrets;
    scopes: string[] | null;
    account: AccountInfo | null;
  }): Promise<ConnectionRecord> {
    const now = this.#ctx.clock.now();
    const tokens = input.secrets.tokens;
    this.#refresher.forget(input.id);
    const written = await writeConnection(this.#ctx, input.id, 'authorize', (existing) => {
      const next: ConnectionRecord = {
        id: input.id,
        provider: input.provider,
        authMode: input.authMode,
        params: input.params,
        clientId: input.clientId,
        status: 'active',
        version: existing?.version ?? 0,
        sealed: '',
        accessTokenExpiresAt: tokens?.expiresAt ?? null,
        refreshTokenExpiresAt: tokens?.refreshTokenExpiresAt ?? null,
        lastRefreshedAt: tokens ? now : null,
        lastError: null,
        // A base learned from a redirect belongs to that account; other params start afresh.
        apiBaseUrl: existing && sameParams(existing.params, input.params) ? existing.apiBaseUrl : null,
        account: input.account ?? existing?.account ?? null,
        scopes: input.scopes,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      return { ...next, sealed: sealSecrets(this.#ctx.sealer, next, input.secrets) };
    });
    const record = written as ConnectionRecord;
    this.#tokens.remember(openConnection(this.#ctx, record));
    return record;
  }

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
  importTokens(input: ImportTokensInput): Promise<ConnectionInfo> {
    return importTokens(this.#ctx, input);
  }

  /** The connection's credentials now (token, or the header for static modes), refreshed first when due. */
  release(id: string): Promise<Released> {
    return releaseCredentials(this.#ctx, this.#tokens, id);
  }
}

function chooseMode(spec: ProviderSpec, input: ConnectInput): AuthMode {
  if (input.credentials) {
    const mode = spec.authModes.find((m) => m === 'token_pair' || m === 'api_key');
    if (mode) return mode;
  }
  if (spec.authModes.includes('client_credentials')) return 'client_credentials';
  return spec.authModes[0] ?? 'oauth2';
}

function sameParams(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Account hints a token response carries (Cronofy's account_id and sub). */
function accountFromTokens(tokens: TokenSet): AccountInfo | null {
  const id = str(tokens.extra['account_id']) ?? str(tokens.extra['sub']) ?? str(tokens.extra['user_id']);
  return id ? { id } : null;
}

/** The few fields identity endpoints agree on, wherever they nest them. */
export function accountFromBody(body: unknown): AccountInfo {
  const out: AccountInfo = {};
  const visit = (v: unknown, depth: number): void => {
    if (!v || typeof v !== 'object' || depth > 2) return;
    const o = v as Record<string, unknown>;
    out.id ??= str(o['account_id']) ?? str(o['sub']) ?? str(o['user_id']) ?? str(o['id']);
    out.email ??= str(o['email']);
    out.name ??= str(o['name']) ?? str(o['company']) ?? str(o['host_id']);
    for (const child of Object.values(o)) visit(child, depth + 1);
  };
  visit(body, 0);
  for (const k of Object.keys(out) as (keyof AccountInfo)[]) if (out[k] === undefined) delete out[k];
  return out;
}
