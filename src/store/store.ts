import type { AuthMode } from '../providers/spec.js';
import type { StoreEngine } from './engine.js';

export type ConnectionStatus = 'active' | 'needs_reauth' | 'revoked';

export interface StoredError {
  code: string;
  /** Already redacted. */
  message: string;
  at: number;
}

export interface AccountInfo {
  id?: string;
  name?: string;
  email?: string;
}

/**
 * A connection as the store keeps it. Everything secret (tokens, static credentials) is inside
 * `sealed`, an opaque AES-256-GCM blob bound to `id`, `provider`, `params` and `clientId`.
 * Times are epoch milliseconds.
 */
export interface ConnectionRecord {
  id: string;
  provider: string;
  authMode: AuthMode;
  params: Record<string, string>;
  clientId: string | null;
  status: ConnectionStatus;
  /** Set by the store: 1 on create, +1 on every successful put. */
  version: number;
  sealed: string;
  accessTokenExpiresAt: number | null;
  refreshTokenExpiresAt: number | null;
  lastRefreshedAt: number | null;
  lastError: StoredError | null;
  /** An API base learned from a permanent redirect; overrides the spec's template. */
  apiBaseUrl: string | null;
  account: AccountInfo | null;
  scopes: string[] | null;
  createdAt: number;
  updatedAt: number;
}

/** An authorization that was begun and not yet completed, keyed by its `state`. */
export interface PendingAuthorization {
  state: string;
  connectionId: string;
  provider: string;
  params: Record<string, string>;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  /** The PKCE code verifier (and anything else secret), sealed. */
  sealed: string;
  createdAt: number;
  expiresAt: number;
}

/** A lease taken. `takenOver` names the holder whose lease had expired unreleased, if any. */
export interface LeaseGrant {
  /**
   * A lease that expired without being released: its holder stopped (or stalled) while it held
   * it, possibly with a refresh in flight. `since` is when that holder took it (epoch ms).
   */
  takenOver: { owner: string; since: number } | null;
}

/**
 * A change another writer made: `version` is the connection's new version, `null` when it was
 * removed. `id` is `null` when the engine lost track (a gap in its feed): anything may have
 * changed, so every cached connection must be dropped.
 */
export type StoreChangeListener = (id: string | null, version: number | null) => void;

/**
 * An event for the webhook outbox (README, "Webhooks"): written in the same transaction as the
 * connection write that caused it, so a crash between the two cannot happen. `payload` is the
 * event's JSON, which never holds a secret.
 */
export interface OutboxEvent {
  id: string;
  type: string;
  connectionId: string;
  createdAt: number;
  payload: string;
}

/** Reads the outbox: what a dispatcher hands on to webhook deliveries, then removes. */
export interface OutboxReader {
  /** Events not yet removed, oldest first. */
  pending(limit: number): Promise<OutboxEvent[]>;
  /** Removes events once they are handed on (idempotent). */
  remove(ids: readonly string[]): Promise<void>;
}

/**
 * An authorization server's metadata document (RFC 8414, OpenID Connect Discovery 1.0) as last
 * read from its issuer (README, "From the issuer alone"). Public data: nothing in it is sealed.
 * Times are epoch milliseconds.
 */
export interface MetadataDocument {
  /** The configured issuer it was read for: the key. */
  issuer: string;
  /** The document's JSON as the server sent it. Whoever reads it validates it again. */
  document: string;
  /** The URL it was read from. */
  source: string;
  fetchedAt: number;
  /** Until when it is used without asking the server again. */
  expiresAt: number;
}

/** Issuers' metadata documents, one per issuer, shared by every process on the store. */
export interface MetadataCache {
  /** The document stored for `issuer` (exactly that string), expired or not; null when none. */
  get(issuer: string): Promise<MetadataDocument | null>;
  /**
   * Stores `doc` for its issuer, unless the one stored was fetched later: a slow writer never
   * replaces a newer read (an equal `fetchedAt` replaces, to move the expiry). Returns whether
   * it was written.
   */
  put(doc: MetadataDocument): Promise<boolean>;
}

/**
 * A client Baton registered at (or was given by) an authorization server itself — RFC 7591
 * Dynamic Client Registration, or a Client ID Metadata Document — one per issuer (an MCP
 * server's authorization server, docs/architecture.md, "MCP"). The client id is in clear; the
 * registration (its secret, its authentication method, its redirect URIs) is sealed, bound to
 * the issuer and the client id.
 */
export interface ClientRegistrationRow {
  /** The authorization server's issuer: the key. */
  issuer: string;
  clientId: string;
  sealed: string;
  /** Set by the store: 1 on create, +1 on every successful put. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** The clients Baton registered, one per issuer, shared by every process on the store. */
export interface ClientRegistrations {
  get(issuer: string): Promise<ClientRegistrationRow | null>;
  /**
   * Compare-and-swap: writes `row` if the stored version equals `expectedVersion` (`null`: the
   * issuer must have none yet), setting version to `expectedVersion + 1` (or 1). Returns the row
   * as stored, or null when the version did not match (nothing written).
   */
  put(row: ClientRegistrationRow, expectedVersion: number | null): Promise<ClientRegistrationRow | null>;
  /** Removes the issuer's registration if its version is still `expectedVersion`; returns whether it did. */
  delete(issuer: string, expectedVersion: number): Promise<boolean>;
  /** Every registration, in issuer order. */
  list(): Promise<ClientRegistrationRow[]>;
}

/**
 * A page of connections, in id order (code-point order on every engine). Keyset pagination:
 * the next page is `after` the last id of this one; a page shorter than `limit` is the last.
 */
export interface ListQuery {
  /** Only ids after this one. */
  after?: string | undefined;
  /** At most this many. Default: no limit. */
  limit?: number | undefined;
  provider?: string | undefined;
  status?: ConnectionStatus | undefined;
  /** Only ids that start with this. */
  idPrefix?: string | undefined;
  /** Only connections whose secrets are sealed under this key id (`rekey`). */
  keyId?: string | undefined;
}

/**
 * Work for the keeper: active connections whose access token expires by `accessExpiresBy`
 * (only those of `accessAuthMode`: the others get a token on demand), then active connections
 * whose refresh token expires by `refreshExpiresBy`. Each phase is in the order of that expiry
 * (the most urgent first), then id; a connection due in both phases appears in both.
 */
export interface DueQuery {
  accessExpiresBy: number;
  accessAuthMode: AuthMode;
  refreshExpiresBy: number;
  /** Resume after this position: the `next` of the previous batch. */
  after?: DueCursor | null | undefined;
  limit: number;
}

export interface DueCursor {
  phase: 'access' | 'refresh';
  /** The expiry of the last item returned (epoch ms). */
  at: number;
  id: string;
}

export interface DueBatch {
  /** `phase` says why: the access token expires (`access`) or the refresh token lapses (`refresh`). */
  items: { id: string; provider: string; phase: DueCursor['phase'] }[];
  /** Where the next batch starts; null when this was the last. */
  next: DueCursor | null;
}

/** A compare-and-swap of one connection in a batch (`Store.putBatch`). */
export interface BatchWrite {
  record: ConnectionRecord;
  expectedVersion: number;
}

/** How many sealed rows a key id seals. */
export interface KeyUsage {
  keyId: string;
  connections: number;
  pendingAuthorizations: number;
  clientRegistrations: number;
}

/** A page of pending authorizations, in state order. */
export interface PendingQuery {
  after?: string | undefined;
  limit: number;
  keyId?: string | undefined;
}

/**
 * Where connections live. Every engine passes the same contract suite
 * (test/store/contract.ts). Methods reject with StoreError when the engine is unreachable.
 */
export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  get(id: string): Promise<ConnectionRecord | null>;
  /** Connections in id order; with no query, every one of them (prefer pages: `limit`, `after`). */
  list(query?: ListQuery): Promise<ConnectionRecord[]>;
  /**
   * Compare-and-swap. Writes `record` if the stored version equals `expectedVersion`
   * (`null`: the id must not exist yet), setting version to `expectedVersion + 1` (or 1).
   * Returns the record as stored, or `null` if the version did not match (nothing written).
   * `events` are appended to the outbox in the same transaction, only when the write happens.
   */
  put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null>;
  /** Removes the connection and its lease (and appends `events`, only if it existed). Returns whether it existed. */
  delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean>;
  /** The outbox, on engines that keep one (all built-in engines); put/delete take `events` only then. */
  readonly outbox?: OutboxReader;
  /**
   * Issuers' metadata documents with their expiry, on engines that keep them (all built-in
   * engines): a process reads a document another one fetched instead of asking the server.
   */
  readonly serverMetadata?: MetadataCache;
  /** Clients Baton registered itself, sealed, one per issuer (every built-in engine keeps them). */
  readonly clientRegistrations?: ClientRegistrations;
  /**
   * The SQL engine's runner, on the built-in SQLite and PostgreSQL engines (and on a wrapper
   * that passes its inner store's on): `baton serve` keeps its own tables over it, on the same
   * connection or pool.
   */
  readonly engine?: StoreEngine;
  /**
   * Takes the refresh lease for `id` if it is free, expired, or already `owner`'s (which renews
   * it). Returns null when another owner holds it. The lease expires `ttlMs` after it is taken
   * or renewed, so a crashed holder blocks no one for longer than that. `since`: when a new
   * holder takes it, on the caller's clock (Baton's, which may not be the store's), reported
   * back as `takenOver.since` to whoever takes it over; without it, the store's own clock.
   */
  acquireLease(id: string, owner: string, ttlMs: number, since?: number): Promise<LeaseGrant | null>;
  /** Releases the lease only if `owner` still holds it. */
  releaseLease(id: string, owner: string): Promise<void>;
  savePendingAuthorization(pending: PendingAuthorization): Promise<void>;
  /** Returns and deletes the pending authorization atomically (a state is single-use). */
  takePendingAuthorization(state: string): Promise<PendingAuthorization | null>;
  /**
   * The change feed: `listener` hears every put and delete of this store object and, within
   * about a second, of every other process sharing the store (PostgreSQL NOTIFY, SQLite's
   * `data_version`). Core keeps its token cache a view of the store through it.
   */
  subscribe(listener: StoreChangeListener): () => void;

  // ---- scale: indexed queries, batches and key usage ----

  /** How many connections match (every filter and `after`; `limit` is ignored). */
  count(query?: ListQuery): Promise<number>;
  /** One batch of due work, from an index: its cost follows the batch, not the table. */
  due(query: DueQuery): Promise<DueBatch>;
  /**
   * Several compare-and-swaps in one round trip, each on its own (a conflict on one does not
   * stop the others). Returns each record as stored, or null where the version did not match.
   * No outbox events: the write path sends a write that causes events on its own (`put`).
   */
  putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]>;
  /** The key ids that seal at least one connection, pending authorization or client registration (cheap: an index). */
  keyIds(): Promise<string[]>;
  /** How many rows each key id in use seals. */
  keyUsage(): Promise<KeyUsage[]>;
  listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]>;
  /** Replaces a pending authorization's sealed blob if it is still `expectedSealed`; returns whether it did. */
  resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean>;

  close(): Promise<void>;
}
