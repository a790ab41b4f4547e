import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { redact, StoreError } from '../errors.js';
import { sqliteFailure } from './db-errors.js';
import {
  checkDueQuery,
  checkListQuery,
  checkPendingQuery,
  dueBatch,
  METADATA_COLUMNS,
  type MetadataRow,
  metadataFromRow,
  prefixEnd,
  REGISTRATION_COLUMNS,
  type RegistrationRow,
  registrationFromRow,
} from './keyset.js';
import { sealedKeyId } from './sealer.js';
import type {
  BatchWrite,
  ClientRegistrationRow,
  ClientRegistrations,
  ConnectionRecord,
  DueBatch,
  DueCursor,
  DueQuery,
  KeyUsage,
  LeaseGrant,
  ListQuery,
  MetadataCache,
  MetadataDocument,
  OutboxEvent,
  OutboxReader,
  PendingAuthorization,
  PendingQuery,
  Store,
  StoreChangeListener,
} from './store.js';

/** Epoch milliseconds in SQL. */
const NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/** The key id a sealed blob names, in SQL: the same as `sealedKeyId`. */
const KEY_ID_OF = (blob: string) =>
  `CASE WHEN substr(${blob}, 1, 3) IN ('v1.', 'v2.') AND instr(substr(${blob}, 4), '.') > 1 THEN substr(${blob}, 4, instr(substr(${blob}, 4), '.') - 1) END`;

/** Numbered, append-only: a migration once released is never edited. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE connections (
     id TEXT PRIMARY KEY,
     provider TEXT NOT NULL,
     auth_mode TEXT NOT NULL,
     params TEXT NOT NULL,
     client_id TEXT,
     status TEXT NOT NULL,
     version INTEGER NOT NULL,
     sealed TEXT NOT NULL,
     access_token_expires_at INTEGER,
     refresh_token_expires_at INTEGER,
     last_refreshed_at INTEGER,
     last_error TEXT,
     api_base_url TEXT,
     account TEXT,
     scopes TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE leases (id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE TABLE pending_authorizations (
     state TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // The change feed: every write leaves a row that other processes read when `data_version`
  // says the file changed. Rows older than a minute are pruned; a reader that fell further
  // behind drops its whole cache.
  `ALTER TABLE leases ADD COLUMN since INTEGER;
   CREATE TABLE change_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL,
     version INTEGER,
     at INTEGER NOT NULL
   );
   CREATE TRIGGER connections_inserted AFTER INSERT ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE TRIGGER connections_updated AFTER UPDATE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE TRIGGER connections_deleted AFTER DELETE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (OLD.id, NULL, ${NOW_MS});
   END;`,
  // The webhook outbox: events written in the transaction of the write that caused them.
  `CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     connection_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     payload TEXT NOT NULL
   );
   CREATE INDEX outbox_created_at ON outbox (created_at);`,
  // Scale: the key id each row is sealed under (rekey, the check at open), and the indexes that
  // make the keeper's due query, keyset pages, key usage and the change log's pruning (after a
  // batch of thousands of writes) cost what they touch. The backfill is not a change other
  // processes need to hear of: the update trigger steps aside for it.
  `ALTER TABLE connections ADD COLUMN key_id TEXT;
   ALTER TABLE pending_authorizations ADD COLUMN key_id TEXT;
   DROP TRIGGER connections_updated;
   UPDATE connections SET key_id = ${KEY_ID_OF('sealed')};
   UPDATE pending_authorizations SET key_id = ${KEY_ID_OF("json_extract(body, '$.sealed')")};
   CREATE TRIGGER connections_updated AFTER UPDATE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE INDEX connections_provider ON connections (provider, id);
   CREATE INDEX connections_status ON connections (status, id);
   CREATE INDEX connections_key ON connections (key_id, id);
   CREATE INDEX connections_access_due ON connections (auth_mode, access_token_expires_at, id)
     WHERE status = 'active' AND access_token_expires_at IS NOT NULL;
   CREATE INDEX connections_refresh_due ON connections (refresh_token_expires_at, id)
     WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;
   CREATE INDEX pending_authorizations_key ON pending_authorizations (key_id, state);
   CREATE INDEX change_log_at ON change_log (at);`,
  // Issuers' metadata documents (public, not sealed), so a process reads what another fetched.
  `CREATE TABLE server_metadata (
     issuer TEXT PRIMARY KEY,
     document TEXT NOT NULL,
     source TEXT NOT NULL,
     fetched_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // Clients Baton registered itself (MCP authorization servers), sealed, one per issuer.
  `CREATE TABLE client_registrations (
     issuer TEXT PRIMARY KEY,
     client_id TEXT NOT NULL,
     sealed TEXT NOT NULL,
     key_id TEXT,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX client_registrations_key ON client_registrations (key_id, issuer);`,
];

/** Outbox events nobody dispatched within this long are dropped when new ones are written. */
const OUTBOX_KEEP_MS = 7 * 86_400_000;

interface Row {
  id: string;
  provider: string;
  auth_mode: string;
  params: string;
  client_id: string | null;
  status: string;
  version: number;
  sealed: string;
  access_token_expires_at: number | null;
  refresh_token_expires_at: number | null;
  last_refreshed_at: number | null;
  last_error: string | null;
  api_base_url: string | null;
  account: string | null;
  scopes: string | null;
  created_at: number;
  updated_at: number;
  key_id: string | null;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const parse = <T>(v: string | null): T | null => (v === null ? null : (JSON.parse(v) as T));

export function toRow(r: ConnectionRecord, version: number): Row {
  return {
    id: r.id,
    provider: r.provider,
    auth_mode: r.authMode,
    params: JSON.stringify(r.params),
    client_id: r.clientId,
    status: r.status,
    version,
    sealed: r.sealed,
    access_token_expires_at: r.accessTokenExpiresAt,
    refresh_token_expires_at: r.refreshTokenExpiresAt,
    last_refreshed_at: r.lastRefreshedAt,
    last_error: json(r.lastError),
    api_base_url: r.apiBaseUrl,
    account: json(r.account),
    scopes: json(r.scopes),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    key_id: sealedKeyId(r.sealed),
  };
}

export function fromRow(row: Row): ConnectionRecord {
  return {
    id: row.id,
    provider: row.provider,
    authMode: row.auth_mode as ConnectionRecord['authMode'],
    params: JSON.parse(row.params) as Record<string, string>,
    clientId: row.client_id,
    status: row.status as ConnectionRecord['status'],
    version: Number(row.version),
    sealed: row.sealed,
    accessTokenExpiresAt: row.access_token_expires_at === null ? null : Number(row.access_token_expires_at),
    refreshTokenExpiresAt:
      row.refresh_token_expires_at === null ? null : Number(row.refresh_token_expires_at),
    lastRefreshedAt: row.last_refreshed_at === null ? null : Number(row.last_refreshed_at),
    lastError: parse(row.last_error),
    apiBaseUrl: row.api_base_url,
    account: parse(row.account),
    scopes: parse(row.scopes),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

const COLUMNS =
  'id, provider, auth_mode, params, client_id, status, version, sealed, access_token_expires_at, refresh_token_expires_at, last_refreshed_at, last_error, api_base_url, account, scopes, created_at, updated_at';
/** What is written: the record's columns and the key id of its blob. */
const WRITTEN = `${COLUMNS}, key_id`;
const VALUES = WRITTEN.split(', ')
  .map((c) => `@${c}`)
  .join(', ');
const SETS = WRITTEN.split(', ')
  .filter((c) => c !== 'id')
  .map((c) => `${c} = @${c}`)
  .join(', ');

/** How often a subscribed store asks SQLite whether another connection wrote the file. */
const POLL_MS = 250;
/** A statement waits this long inside SQLite for another process's lock, blocking the event loop. */
const BUSY_SLICE_MS = 10;
const CHANGE_LOG_KEEP_MS = 60_000;

export interface SqliteStoreOptions {
  /**
   * How long an operation keeps retrying while another process holds the write lock. The wait
   * is asynchronous (short slices of `BUSY_SLICE_MS`), so the event loop never stalls. Default 5 s.
   */
  busyTimeoutMs?: number;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * The embedded default: one SQLite file in WAL mode, shared safely by every process on the
 * machine. Compare-and-swap is a single UPDATE … WHERE version = ?; the refresh lease is a row.
 *
 * better-sqlite3 is synchronous, so a lock held by another process would freeze the event loop
 * for the whole busy timeout. Instead SQLite waits at most a few milliseconds per attempt and
 * the store retries asynchronously (docs/architecture.md, "The shape, and why").
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  #db: Database.Database;
  readonly #busyTimeoutMs: number;
  readonly #listeners = new Set<StoreChangeListener>();
  #poll: NodeJS.Timeout | null = null;
  #dataVersion = 0;
  #seenSeq = 0;
  #writes = 0;

  private constructor(path: string, db: Database.Database, options: SqliteStoreOptions) {
    this.path = path;
    this.#db = db;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  }

  /** Opens (creating if needed) the file and applies pending migrations. */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: BUSY_SLICE_MS });
    } catch (err) {
      throw failure(path, 'open', err);
    }
    const store = new SqliteStore(path, db, options);
    try {
      await store.#run('open', () => {
        db.pragma(`busy_timeout = ${BUSY_SLICE_MS}`);
        db.pragma('journal_mode = WAL');
        // A rotated refresh token must survive a power cut once committed.
        db.pragma('synchronous = FULL');
      });
      await store.#run('apply migrations', () => store.#migrate());
    } catch (err) {
      db.close();
      throw err;
    }
    return store;
  }

  #migrate(): void {
    // Already current (the common case): a read, no write lock, no wait on other processes.
    try {
      const row = this.#db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as {
        v: number | null;
      };
      if (row.v === MIGRATIONS.length) return;
    } catch {
      // No table yet: a new file.
    }
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
    );
    const apply = this.#db.transaction(() => {
      const row = this.#db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as {
        v: number | null;
      };
      const current = row.v ?? 0;
      for (let i = current; i < MIGRATIONS.length; i++) {
        this.#db.exec(MIGRATIONS[i] as string);
        this.#db
          .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
          .run(i + 1, Date.now());
      }
    });
    apply.immediate();
  }

  /** Names the database for the rescue journal. */
  get location(): string {
    return this.path;
  }

  get schemaVersion(): number {
    return (this.#db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  /**
   * Runs one synchronous operation; while another process holds the lock it is retried after
   * asynchronous pauses, up to the busy timeout.
   */
  async #run<T>(op: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline || !this.#db.open) throw failure(this.path, op, err);
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  get(id: string): Promise<ConnectionRecord | null> {
    return this.#run('read a connection', () => {
      const row = this.#db.prepare(`SELECT ${COLUMNS} FROM connections WHERE id = ?`).get(id) as
        | Row
        | undefined;
      return row ? fromRow(row) : null;
    });
  }

  async list(query: ListQuery = {}): Promise<ConnectionRecord[]> {
    checkListQuery(query);
    const { where, params } = listWhere(query);
    const sql = `SELECT ${COLUMNS} FROM connections ${where} ORDER BY id LIMIT @limit`;
    return this.#run('list connections', () =>
      (this.#db.prepare(sql).all({ ...params, limit: query.limit ?? -1 }) as Row[]).map(fromRow),
    );
  }

  async put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    const version = (expectedVersion ?? 0) + 1;
    const write = () => {
      const row = toRow(record, version);
      return expectedVersion === null
        ? this.#db
            .prepare(`INSERT INTO connections (${WRITTEN}) VALUES (${VALUES}) ON CONFLICT(id) DO NOTHING`)
            .run(row).changes
        : this.#db
            .prepare(`UPDATE connections SET ${SETS} WHERE id = @id AND version = @expected`)
            .run({ ...row, expected: expectedVersion }).changes;
    };
    const changes = await this.#run(
      'write a connection',
      events && events.length > 0
        ? () =>
            this.#db
              .transaction(() => {
                const n = write();
                if (n === 1) this.#appendEvents(events);
                return n;
              })
              .immediate()
        : write,
    );
    if (changes !== 1) return null;
    this.#wrote(record.id, version);
    return { ...record, version };
  }

  /** Many records in one transaction (for `baton migrate`); existing ids are skipped unless `overwrite`. */
  async putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    const n = await this.#run('write connections', () => {
      const insert = this.#db.prepare(
        `INSERT INTO connections (${WRITTEN}) VALUES (${VALUES}) ON CONFLICT(id) DO ${overwrite ? `UPDATE SET ${SETS.replace('version = @version', 'version = MAX(connections.version + 1, @version)')}` : 'NOTHING'}`,
      );
      return this.#db.transaction(() =>
        records.reduce((n, r) => n + insert.run(toRow(r, r.version)).changes, 0),
      )();
    });
    // Versions may have moved past the copied ones: listeners re-read.
    for (const r of records) this.#wrote(r.id, Number.MAX_SAFE_INTEGER);
    return n;
  }

  async delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    const existed = await this.#run('delete a connection', () =>
      this.#db.transaction(() => {
        this.#db.prepare('DELETE FROM leases WHERE id = ?').run(id);
        const gone = this.#db.prepare('DELETE FROM connections WHERE id = ?').run(id).changes === 1;
        if (gone && events && events.length > 0) this.#appendEvents(events);
        return gone;
      })(),
    );
    if (existed) this.#wrote(id, null);
    return existed;
  }

  /** Inside the write's transaction. */
  #appendEvents(events: readonly OutboxEvent[]): void {
    const insert = this.#db.prepare(
      'INSERT INTO outbox (id, type, connection_id, created_at, payload) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
    );
    for (const e of events) insert.run(e.id, e.type, e.connectionId, e.createdAt, e.payload);
    this.#db.prepare('DELETE FROM outbox WHERE created_at < ?').run(Date.now() - OUTBOX_KEEP_MS);
  }

  readonly outbox: OutboxReader = {
    pending: (limit) =>
      this.#run('read the outbox', () =>
        (
          this.#db
            .prepare('SELECT id, type, connection_id, created_at, payload FROM outbox ORDER BY seq LIMIT ?')
            .all(limit) as {
            id: string;
            type: string;
            connection_id: string;
            created_at: number;
            payload: string;
          }[]
        ).map((r) => ({
          id: r.id,
          type: r.type,
          connectionId: r.connection_id,
          createdAt: Number(r.created_at),
          payload: r.payload,
        })),
      ),
    remove: async (ids) => {
      if (ids.length === 0) return;
      await this.#run('remove outbox events', () => {
        const del = this.#db.prepare('DELETE FROM outbox WHERE id = ?');
        this.#db.transaction(() => {
          for (const id of ids) del.run(id);
        })();
      });
    },
  };

  readonly serverMetadata: MetadataCache = {
    get: (issuer) =>
      this.#run('read a metadata document', () =>
        metadataFromRow(
          this.#db.prepare(`SELECT ${METADATA_COLUMNS} FROM server_metadata WHERE issuer = ?`).get(issuer) as
            | MetadataRow
            | undefined,
        ),
      ),
    put: (doc: MetadataDocument) =>
      this.#run(
        'write a metadata document',
        () =>
          this.#db
            .prepare(
              `INSERT INTO server_metadata (issuer, document, source, fetched_at, expires_at)
               VALUES (@issuer, @document, @source, @fetchedAt, @expiresAt)
               ON CONFLICT(issuer) DO UPDATE SET document = excluded.document, source = excluded.source,
                 fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
               WHERE excluded.fetched_at >= server_metadata.fetched_at`,
            )
            .run({
              issuer: doc.issuer,
              document: doc.document,
              source: doc.source,
              fetchedAt: doc.fetchedAt,
              expiresAt: doc.expiresAt,
            }).changes === 1,
      ),
  };

  readonly clientRegistrations: ClientRegistrations = {
    get: (issuer) =>
      this.#run('read a client registration', () =>
        registrationFromRow(
          this.#db
            .prepare(`SELECT ${REGISTRATION_COLUMNS} FROM client_registrations WHERE issuer = ?`)
            .get(issuer) as RegistrationRow | undefined,
        ),
      ),
    put: (row, expectedVersion) =>
      this.#run('write a client registration', () => {
        const version = (expectedVersion ?? 0) + 1;
        const values = {
          issuer: row.issuer,
          clientId: row.clientId,
          sealed: row.sealed,
          keyId: sealedKeyId(row.sealed),
          version,
          expected: expectedVersion,
          createdAt: row.createdAt,
          updatedAt: row.updatedAt,
        };
        const changes =
          expectedVersion === null
            ? this.#db
                .prepare(
                  `INSERT INTO client_registrations (issuer, client_id, sealed, key_id, version, created_at, updated_at)
                   VALUES (@issuer, @clientId, @sealed, @keyId, @version, @createdAt, @updatedAt)
                   ON CONFLICT (issuer) DO NOTHING`,
                )
                .run(values).changes
            : this.#db
                .prepare(
                  `UPDATE client_registrations SET client_id = @clientId, sealed = @sealed, key_id = @keyId,
                     version = @version, updated_at = @updatedAt
                   WHERE issuer = @issuer AND version = @expected`,
                )
                .run(values).changes;
        return changes === 1 ? { ...row, version } : null;
      }),
    delete: (issuer, expectedVersion) =>
      this.#run(
        'remove a client registration',
        () =>
          this.#db
            .prepare('DELETE FROM client_registrations WHERE issuer = ? AND version = ?')
            .run(issuer, expectedVersion).changes === 1,
      ),
    list: () =>
      this.#run('list client registrations', () =>
        (
          this.#db
            .prepare(`SELECT ${REGISTRATION_COLUMNS} FROM client_registrations ORDER BY issuer`)
            .all() as RegistrationRow[]
        ).map((r) => registrationFromRow(r) as ClientRegistrationRow),
      ),
  };

  acquireLease(id: string, owner: string, ttlMs: number): Promise<LeaseGrant | null> {
    return this.#run('take the refresh lease', () =>
      this.#db
        .transaction((): LeaseGrant | null => {
          const now = Date.now();
          const held = this.#db.prepare('SELECT owner, expires_at, since FROM leases WHERE id = ?').get(id) as
            | { owner: string; expires_at: number; since: number | null }
            | undefined;
          if (held && held.owner !== owner && held.expires_at > now) return null;
          const renewing = held?.owner === owner;
          this.#db
            .prepare(
              `INSERT INTO leases (id, owner, expires_at, since) VALUES (?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, since = excluded.since`,
            )
            .run(id, owner, now + ttlMs, renewing ? (held.since ?? now) : now);
          return {
            takenOver:
              held && !renewing ? { owner: held.owner, since: held.since ?? held.expires_at - ttlMs } : null,
          };
        })
        .immediate(),
    );
  }

  releaseLease(id: string, owner: string): Promise<void> {
    return this.#run('release the refresh lease', () => {
      this.#db.prepare('DELETE FROM leases WHERE id = ? AND owner = ?').run(id, owner);
    });
  }

  savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    return this.#run('save a pending authorization', () => {
      this.#db
        .prepare('DELETE FROM pending_authorizations WHERE expires_at < ?')
        .run(Date.now() - 86_400_000);
      this.#db
        .prepare(
          'INSERT OR REPLACE INTO pending_authorizations (state, body, expires_at, key_id) VALUES (?, ?, ?, ?)',
        )
        .run(pending.state, JSON.stringify(pending), pending.expiresAt, sealedKeyId(pending.sealed));
    });
  }

  takePendingAuthorization(state: string): Promise<PendingAuthorization | null> {
    return this.#run('read a pending authorization', () => {
      const row = this.#db
        .prepare('DELETE FROM pending_authorizations WHERE state = ? RETURNING body')
        .get(state) as { body: string } | undefined;
      return row ? (JSON.parse(row.body) as PendingAuthorization) : null;
    });
  }

  subscribe(listener: StoreChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#poll && this.#db.open) {
      this.#dataVersion = this.#readDataVersion();
      this.#seenSeq = this.#maxSeq();
      this.#poll = setInterval(() => this.pollChanges(), POLL_MS);
      this.#poll.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#poll) {
        clearInterval(this.#poll);
        this.#poll = null;
      }
    };
  }

  /**
   * Tells listeners what other connections to the file wrote since the last look. Cheap when
   * nothing changed: `PRAGMA data_version` reads a counter in shared memory.
   */
  pollChanges(): void {
    if (!this.#db.open || this.#listeners.size === 0) return;
    try {
      const dataVersion = this.#readDataVersion();
      if (dataVersion === this.#dataVersion) return;
      const rows = this.#db
        .prepare('SELECT seq, id, version FROM change_log WHERE seq > ? ORDER BY seq')
        .all(this.#seenSeq) as { seq: number; id: string; version: number | null }[];
      const first = rows[0];
      const gap =
        first !== undefined &&
        first.seq > this.#seenSeq + 1 &&
        (this.#db.prepare('SELECT MIN(seq) AS s FROM change_log').get() as { s: number }).s >
          this.#seenSeq + 1;
      this.#dataVersion = dataVersion;
      if (first !== undefined) this.#seenSeq = (rows[rows.length - 1] as { seq: number }).seq;
      if (gap) this.#emit(null, null);
      else for (const r of rows) this.#emit(r.id, r.version);
    } catch {
      // Busy or gone: the next tick looks again.
    }
  }

  #readDataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  #maxSeq(): number {
    return (this.#db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM change_log').get() as { s: number }).s;
  }

  #emit(id: string | null, version: number | null): void {
    for (const l of this.#listeners) {
      try {
        l(id, version);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** This object's own writes reach its listeners at once; the change log carries them to others. */
  #wrote(id: string, version: number | null): void {
    this.#emit(id, version);
    if (++this.#writes % 64 === 0) {
      try {
        this.#db.prepare('DELETE FROM change_log WHERE at < ?').run(Date.now() - CHANGE_LOG_KEEP_MS);
      } catch {
        // Pruning is housekeeping; the next write tries again.
      }
    }
  }

  // ---- scale: indexed queries, batches and key usage ----

  count(query: ListQuery = {}): Promise<number> {
    const { where, params } = listWhere(query);
    return this.#run(
      'count connections',
      () =>
        (this.#db.prepare(`SELECT count(*) AS n FROM connections ${where}`).get(params) as { n: number }).n,
    );
  }

  async due(query: DueQuery): Promise<DueBatch> {
    checkDueQuery(query);
    return this.#run('find due connections', () => {
      const found: { id: string; provider: string; cursor: DueCursor }[] = [];
      const phases: DueCursor['phase'][] = ['access', 'refresh'];
      for (const phase of phases.slice(phases.indexOf(query.after?.phase ?? 'access'))) {
        const from = query.after?.phase === phase ? query.after : null;
        const column = phase === 'access' ? 'access_token_expires_at' : 'refresh_token_expires_at';
        // Literal status and IS NOT NULL: the partial index's own terms. Without statistics the
        // planner would rather take the status index and sort; INDEXED BY holds it to the range.
        const sql = `SELECT id, provider, ${column} AS at
          FROM connections INDEXED BY connections_${phase}_due
          WHERE status = 'active' AND ${column} IS NOT NULL AND ${column} <= @by
            ${phase === 'access' ? 'AND auth_mode = @mode' : ''}
            ${from ? `AND (${column}, id) > (@at, @id)` : ''}
          ORDER BY ${column}, id LIMIT @limit`;
        const rows = this.#db.prepare(sql).all({
          by: phase === 'access' ? query.accessExpiresBy : query.refreshExpiresBy,
          limit: query.limit + 1 - found.length,
          ...(phase === 'access' ? { mode: query.accessAuthMode } : {}),
          ...(from ? { at: from.at, id: from.id } : {}),
        }) as { id: string; provider: string; at: number }[];
        for (const r of rows)
          found.push({ id: r.id, provider: r.provider, cursor: { phase, at: Number(r.at), id: r.id } });
        if (found.length > query.limit) break;
      }
      return dueBatch(found, query.limit);
    });
  }

  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    if (writes.length === 0) return [];
    const results = await this.#run('write connections', () => {
      const update = this.#db.prepare(
        `UPDATE connections SET ${SETS} WHERE id = @id AND version = @expected`,
      );
      return this.#db.transaction(() =>
        writes.map((w) => {
          const version = w.expectedVersion + 1;
          const changed = update.run({ ...toRow(w.record, version), expected: w.expectedVersion }).changes;
          return changed === 1 ? { ...w.record, version } : null;
        }),
      )();
    });
    for (const r of results) if (r) this.#wrote(r.id, r.version);
    return results;
  }

  keyIds(): Promise<string[]> {
    return this.#run('read the key ids in use', () => {
      const ids = new Set<string>();
      // A loose index scan: one index seek per key id, however many rows each seals.
      for (const table of ['connections', 'pending_authorizations', 'client_registrations']) {
        const next = this.#db.prepare(`SELECT MIN(key_id) AS k FROM ${table} WHERE key_id > ?`);
        for (let k = (next.get('') as { k: string | null }).k; k !== null; ) {
          ids.add(k);
          k = (next.get(k) as { k: string | null }).k;
        }
      }
      return [...ids].sort();
    });
  }

  async keyUsage(): Promise<KeyUsage[]> {
    const ids = await this.keyIds();
    return this.#run('count rows per key id', () => {
      const connections = this.#db.prepare('SELECT count(*) AS n FROM connections WHERE key_id = ?');
      const pending = this.#db.prepare('SELECT count(*) AS n FROM pending_authorizations WHERE key_id = ?');
      const registrations = this.#db.prepare(
        'SELECT count(*) AS n FROM client_registrations WHERE key_id = ?',
      );
      return ids.map((keyId) => ({
        keyId,
        connections: (connections.get(keyId) as { n: number }).n,
        pendingAuthorizations: (pending.get(keyId) as { n: number }).n,
        clientRegistrations: (registrations.get(keyId) as { n: number }).n,
      }));
    });
  }

  async listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]> {
    checkPendingQuery(query);
    const where = [
      ...(query.after !== undefined ? ['state > @after'] : []),
      ...(query.keyId !== undefined ? ['key_id = @keyId'] : []),
    ];
    const sql = `SELECT body FROM pending_authorizations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY state LIMIT @limit`;
    return this.#run('list pending authorizations', () =>
      (
        this.#db.prepare(sql).all({ after: query.after, keyId: query.keyId, limit: query.limit }) as {
          body: string;
        }[]
      ).map((r) => JSON.parse(r.body) as PendingAuthorization),
    );
  }

  resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    return this.#run(
      'write a pending authorization',
      () =>
        this.#db
          .prepare(
            `UPDATE pending_authorizations SET body = json_set(body, '$.sealed', @sealed), key_id = @keyId
             WHERE state = @state AND json_extract(body, '$.sealed') = @expected`,
          )
          .run({ state, expected: expectedSealed, sealed, keyId: sealedKeyId(sealed) }).changes === 1,
    );
  }

  async close(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    this.#listeners.clear();
    if (this.#db.open) this.#db.close();
  }
}

/** The WHERE clause of a list or count: each filter an index range, `after` the keyset bound. */
function listWhere(q: ListQuery): { where: string; params: Record<string, unknown> } {
  const terms: string[] = [];
  const params: Record<string, unknown> = {};
  const term = (sql: string, name: string, value: unknown) => {
    terms.push(sql);
    params[name] = value;
  };
  if (q.provider !== undefined) term('provider = @provider', 'provider', q.provider);
  if (q.status !== undefined) term('status = @status', 'status', q.status);
  if (q.keyId !== undefined) term('key_id = @keyId', 'keyId', q.keyId);
  if (q.after !== undefined) term('id > @after', 'after', q.after);
  if (q.idPrefix !== undefined && q.idPrefix !== '') {
    term('id >= @prefix', 'prefix', q.idPrefix);
    const end = prefixEnd(q.idPrefix);
    if (end !== null) term('id < @prefixEnd', 'prefixEnd', end);
    else term('substr(id, 1, length(@prefix)) = @prefix', 'prefix', q.idPrefix);
  }
  return { where: terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '', params };
}

function failure(path: string, op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  // Without a code (a native module that failed to load), the first line of the message says what.
  const code =
    (err as { code?: string }).code ??
    `error: ${redact(String((err as Error)?.message ?? err).split('\n')[0] ?? '').slice(0, 200)}`;
  const known = sqliteFailure(code, path);
  if (known) {
    return new StoreError(`The SQLite store at ${path} could not ${op}: ${known.what} (${code}).`, {
      cause: err,
      remediation: known.remediation,
      cliRemediation: known.cliRemediation,
    });
  }
  const busy = isBusy(err);
  return new StoreError(
    `The SQLite store at ${path} failed to ${op} (${code}${busy ? ': another process held the database too long' : ''}).`,
    {
      cause: err,
      remediation: busy
        ? 'Retry; if it persists, check for a process holding a long transaction on the file.'
        : `Check that ${path} exists, is writable and the disk is not full (\`baton doctor\`).`,
    },
  );
}
