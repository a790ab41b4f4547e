import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import type { ConnectionRecord, PendingAuthorization, Store } from './store.js';

/** Numbered, append-only: a migration once released is never edited. */
const MIGRATIONS: string[] = [
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
];

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
const VALUES = COLUMNS.split(', ')
  .map((c) => `@${c}`)
  .join(', ');
const SETS = COLUMNS.split(', ')
  .filter((c) => c !== 'id')
  .map((c) => `${c} = @${c}`)
  .join(', ');

/**
 * The embedded default: one SQLite file in WAL mode, shared safely by every process on the
 * machine. Compare-and-swap is a single UPDATE … WHERE version = ?; the refresh lease is a row.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  #db: Database.Database;

  constructor(path: string) {
    this.path = path;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = new Database(path, { timeout: 5000 });
      this.#db.pragma('busy_timeout = 5000');
      this.#db.pragma('journal_mode = WAL');
      // A rotated refresh token must survive a power cut once committed.
      this.#db.pragma('synchronous = FULL');
      this.#migrate();
    } catch (err) {
      throw this.#fail('open', err);
    }
  }

  #migrate(): void {
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

  get schemaVersion(): number {
    return (this.#db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  #fail(op: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const code = (err as { code?: string }).code ?? 'error';
    const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
    return new StoreError(
      `The SQLite store at ${this.path} failed to ${op} (${code}${busy ? ': another process held the database too long' : ''}).`,
      {
        cause: err,
        remediation: busy
          ? 'Retry; if it persists, check for a process holding a long transaction on the file.'
          : `Check that ${this.path} exists, is writable and the disk is not full (\`baton doctor\`).`,
      },
    );
  }

  #run<T>(op: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(this.#fail(op, err));
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

  list(): Promise<ConnectionRecord[]> {
    return this.#run('list connections', () =>
      (this.#db.prepare(`SELECT ${COLUMNS} FROM connections ORDER BY id`).all() as Row[]).map(fromRow),
    );
  }

  put(record: ConnectionRecord, expectedVersion: number | null): Promise<ConnectionRecord | null> {
    return this.#run('write a connection', () => {
      const version = (expectedVersion ?? 0) + 1;
      const row = toRow(record, version);
      const changes =
        expectedVersion === null
          ? this.#db
              .prepare(`INSERT INTO connections (${COLUMNS}) VALUES (${VALUES}) ON CONFLICT(id) DO NOTHING`)
              .run(row).changes
          : this.#db
              .prepare(`UPDATE connections SET ${SETS} WHERE id = @id AND version = @expected`)
              .run({ ...row, expected: expectedVersion }).changes;
      return changes === 1 ? { ...record, version } : null;
    });
  }

  /** Many records in one transaction (for `baton migrate`); existing ids are skipped unless `overwrite`. */
  putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    return this.#run('write connections', () => {
      const insert = this.#db.prepare(
        `INSERT INTO connections (${COLUMNS}) VALUES (${VALUES}) ON CONFLICT(id) DO ${overwrite ? `UPDATE SET ${SETS.replace('version = @version', 'version = MAX(connections.version + 1, @version)')}` : 'NOTHING'}`,
      );
      return this.#db.transaction(() =>
        records.reduce((n, r) => n + insert.run(toRow(r, r.version)).changes, 0),
      )();
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#run('delete a connection', () =>
      this.#db.transaction(() => {
        this.#db.prepare('DELETE FROM leases WHERE id = ?').run(id);
        return this.#db.prepare('DELETE FROM connections WHERE id = ?').run(id).changes === 1;
      })(),
    );
  }

  acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run('take the refresh lease', () => {
      const now = Date.now();
      const res = this.#db
        .prepare(
          `INSERT INTO leases (id, owner, expires_at) VALUES (?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
           WHERE leases.expires_at <= ? OR leases.owner = excluded.owner`,
        )
        .run(id, owner, now + ttlMs, now);
      return res.changes === 1;
    });
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
        .prepare('INSERT OR REPLACE INTO pending_authorizations (state, body, expires_at) VALUES (?, ?, ?)')
        .run(pending.state, JSON.stringify(pending), pending.expiresAt);
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

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
