import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ConfigError, StoreError } from '../errors.js';
import { applyPgMigrations } from '../store/pg-migrations.js';
import { redactUrl } from '../store/redact-url.js';
import type { Store } from '../store/store.js';
import {
  type ConnectSessionStore,
  MemoryConnectSessionStore,
  PG_SESSION_MIGRATION,
  PostgresConnectSessionStore,
  SQLITE_SESSION_MIGRATION,
  SqliteConnectSessionStore,
} from './connect/store.js';
import type { CallerKey, Permission } from './keys.js';
import {
  MemoryWebhookStore,
  PG_WEBHOOK_MIGRATION,
  PostgresWebhookStore,
  SQLITE_WEBHOOK_MIGRATION,
  SqliteWebhookStore,
  type WebhookStore,
} from './webhooks/store.js';

/**
 * The server's own tables — caller keys, the audit log, the provider kill switch — kept in the
 * same SQLite file or PostgreSQL schema as the connections, under their own migration track
 * (`server_schema_migrations` / `baton_server_schema_migrations`) so they never interleave
 * with the connection store's migrations.
 */

export interface AuditRow {
  at: number;
  requestId: string;
  keyName: string | null;
  connectionId: string | null;
  provider: string | null;
  /** token, proxy, create, authorize, callback, refresh, revoke, delete, … */
  operation: string;
  /** ok, or the problem code (unauthorized, forbidden, provider_disabled, reauthorization_required, …). */
  outcome: string;
  status: number;
  /** The method and path of a proxied call (no query string), redacted. */
  detail: string | null;
}

export interface AuditQuery {
  connectionId?: string;
  since?: number;
  limit?: number;
}

export interface ProviderSwitch {
  provider: string;
  disabledAt: number;
}

export interface ServerStore {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  createKey(key: CallerKey): Promise<void>;
  listKeys(): Promise<CallerKey[]>;
  keyByHash(hash: string): Promise<CallerKey | null>;
  /** Returns whether a key of that name existed. */
  setKeyDisabled(name: string, disabled: boolean): Promise<boolean>;
  deleteKey(name: string): Promise<boolean>;
  appendAudit(rows: AuditRow[]): Promise<void>;
  /** Newest first. */
  audit(query: AuditQuery): Promise<AuditRow[]>;
  pruneAudit(before: number): Promise<number>;
  disableProvider(provider: string, at: number): Promise<void>;
  enableProvider(provider: string): Promise<boolean>;
  disabledProviders(): Promise<ProviderSwitch[]>;
  /**
   * Reads the server tables' migration track: throws StoreError when the database cannot be
   * reached or its server tables are older than this build (README, "Health routes").
   */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Webhook endpoints, deliveries and their attempts (webhooks/store.ts). */
  readonly webhooks: WebhookStore;
  /** Connect sessions (connect/store.ts). */
  readonly connectSessions: ConnectSessionStore;
}

/** Refuses readiness when the server tables' migrations are not all applied. */
function behind(applied: number, expected: number, where: string): void {
  if (applied < expected) {
    throw new StoreError(`The server tables in ${where} are at migration ${applied} of ${expected}.`, {
      remediation: 'Start one replica of this version so it applies them, or roll this replica back.',
    });
  }
}

function duplicate(name: string): ConfigError {
  return new ConfigError(
    `A caller key named "${name}" already exists.`,
    'Pick another --name, or revoke the old key first (`baton keys revoke <name>`).',
    { forOperator: true },
  );
}

// ---------------------------------------------------------------- memory

export class MemoryServerStore implements ServerStore {
  readonly kind = 'memory' as const;
  readonly webhooks: WebhookStore = new MemoryWebhookStore();
  readonly connectSessions: ConnectSessionStore = new MemoryConnectSessionStore();
  readonly #keys = new Map<string, CallerKey>();
  #audit: AuditRow[] = [];
  readonly #off = new Map<string, number>();

  async createKey(key: CallerKey): Promise<void> {
    if ([...this.#keys.values()].some((k) => k.name === key.name)) throw duplicate(key.name);
    this.#keys.set(key.id, { ...key });
  }
  async listKeys(): Promise<CallerKey[]> {
    return [...this.#keys.values()].map((k) => ({ ...k })).sort((a, b) => a.name.localeCompare(b.name));
  }
  async keyByHash(hash: string): Promise<CallerKey | null> {
    const k = [...this.#keys.values()].find((x) => x.hash === hash);
    return k ? { ...k } : null;
  }
  async setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    const k = [...this.#keys.values()].find((x) => x.name === name);
    if (k) k.disabled = disabled;
    return !!k;
  }
  async deleteKey(name: string): Promise<boolean> {
    const k = [...this.#keys.values()].find((x) => x.name === name);
    if (k) this.#keys.delete(k.id);
    return !!k;
  }
  async appendAudit(rows: AuditRow[]): Promise<void> {
    this.#audit.push(...rows.map((r) => ({ ...r })));
  }
  async audit(q: AuditQuery): Promise<AuditRow[]> {
    return this.#audit
      .filter(
        (r) => (q.connectionId === undefined || r.connectionId === q.connectionId) && r.at >= (q.since ?? 0),
      )
      .sort((a, b) => b.at - a.at)
      .slice(0, q.limit ?? 1000);
  }
  async pruneAudit(before: number): Promise<number> {
    const n = this.#audit.length;
    this.#audit = this.#audit.filter((r) => r.at >= before);
    return n - this.#audit.length;
  }
  async disableProvider(provider: string, at: number): Promise<void> {
    if (!this.#off.has(provider)) this.#off.set(provider, at);
  }
  async enableProvider(provider: string): Promise<boolean> {
    return this.#off.delete(provider);
  }
  async disabledProviders(): Promise<ProviderSwitch[]> {
    return [...this.#off].map(([provider, disabledAt]) => ({ provider, disabledAt }));
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------- rows

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  allow: string | string[];
  ops: string | string[];
  disabled: number | boolean;
  created_at: number | string;
}

function keyFromRow(r: KeyRow): CallerKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    hash: r.hash,
    allow: typeof r.allow === 'string' ? (JSON.parse(r.allow) as string[]) : r.allow,
    ops: (typeof r.ops === 'string' ? JSON.parse(r.ops) : r.ops) as Permission[],
    disabled: r.disabled === true || r.disabled === 1,
    createdAt: Number(r.created_at),
  };
}

interface AuditDbRow {
  at: number | string;
  request_id: string;
  key_name: string | null;
  connection_id: string | null;
  provider: string | null;
  operation: string;
  outcome: string;
  status: number;
  detail: string | null;
}

function auditFromRow(r: AuditDbRow): AuditRow {
  return {
    at: Number(r.at),
    requestId: r.request_id,
    keyName: r.key_name,
    connectionId: r.connection_id,
    provider: r.provider,
    operation: r.operation,
    outcome: r.outcome,
    status: Number(r.status),
    detail: r.detail,
  };
}

/** Rows per multi-row INSERT (9 parameters each, well under SQLite's limit). */
const AUDIT_BATCH = 100;
const AUDIT_COLUMNS = 'at, request_id, key_name, connection_id, provider, operation, outcome, status, detail';

function auditValues(r: AuditRow): unknown[] {
  return [
    r.at,
    r.requestId,
    r.keyName,
    r.connectionId,
    r.provider,
    r.operation,
    r.outcome,
    r.status,
    r.detail,
  ];
}

// ---------------------------------------------------------------- SQLite

const SQLITE_MIGRATIONS = [
  `CREATE TABLE server_caller_keys (
     id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
     allow TEXT NOT NULL, ops TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
   CREATE TABLE server_audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, request_id TEXT NOT NULL, key_name TEXT,
     connection_id TEXT, provider TEXT, operation TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL, detail TEXT);
   CREATE INDEX server_audit_at ON server_audit (at);
   CREATE INDEX server_audit_connection ON server_audit (connection_id, at);
   CREATE TABLE server_provider_switches (provider TEXT PRIMARY KEY, disabled_at INTEGER NOT NULL);`,
  `${SQLITE_WEBHOOK_MIGRATION}
   ${SQLITE_SESSION_MIGRATION}`,
];

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

export class SqliteServerStore implements ServerStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #path: string;
  readonly webhooks: WebhookStore;
  readonly connectSessions: ConnectSessionStore;

  private constructor(path: string, db: Database.Database) {
    this.#path = path;
    this.#db = db;
    const sql = <T>(op: string, fn: (db: Database.Database) => T) => this.#run(op, () => fn(this.#db));
    this.webhooks = new SqliteWebhookStore(sql);
    this.connectSessions = new SqliteConnectSessionStore(sql);
  }

  static async open(path: string): Promise<SqliteServerStore> {
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: 10 });
    } catch (err) {
      throw new StoreError(`The server tables in ${path} could not be opened.`, { cause: err });
    }
    const store = new SqliteServerStore(path, db);
    try {
      await store.#run('open', () => {
        db.pragma('journal_mode = WAL');
        db.pragma('busy_timeout = 10');
      });
      await store.#run('apply migrations', () => {
        db.exec(
          'CREATE TABLE IF NOT EXISTS server_schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
        );
        db.transaction(() => {
          const row = db.prepare('SELECT MAX(version) AS v FROM server_schema_migrations').get() as {
            v: number | null;
          };
          for (let i = row.v ?? 0; i < SQLITE_MIGRATIONS.length; i++) {
            db.exec(SQLITE_MIGRATIONS[i] as string);
            db.prepare('INSERT INTO server_schema_migrations (version, applied_at) VALUES (?, ?)').run(
              i + 1,
              Date.now(),
            );
          }
        }).immediate();
      });
    } catch (err) {
      db.close();
      throw err;
    }
    return store;
  }

  /** Like the connection store: SQLite waits a few ms per attempt, the retries are asynchronous. */
  async #run<T>(op: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + 5000;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline || !this.#db.open) {
          if (err instanceof ConfigError || err instanceof StoreError) throw err;
          throw new StoreError(`The server tables in ${this.#path} failed to ${op}.`, { cause: err });
        }
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  createKey(k: CallerKey): Promise<void> {
    return this.#run('create a caller key', () => {
      if (this.#db.prepare('SELECT 1 FROM server_caller_keys WHERE name = ?').get(k.name))
        throw duplicate(k.name);
      this.#db
        .prepare(
          'INSERT INTO server_caller_keys (id, name, prefix, hash, allow, ops, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          k.id,
          k.name,
          k.prefix,
          k.hash,
          JSON.stringify(k.allow),
          JSON.stringify(k.ops),
          k.disabled ? 1 : 0,
          k.createdAt,
        );
    });
  }
  listKeys(): Promise<CallerKey[]> {
    return this.#run('list caller keys', () =>
      (this.#db.prepare('SELECT * FROM server_caller_keys ORDER BY name').all() as KeyRow[]).map(keyFromRow),
    );
  }
  keyByHash(hash: string): Promise<CallerKey | null> {
    return this.#run('read a caller key', () => {
      const r = this.#db.prepare('SELECT * FROM server_caller_keys WHERE hash = ?').get(hash) as
        | KeyRow
        | undefined;
      return r ? keyFromRow(r) : null;
    });
  }
  setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    return this.#run(
      'update a caller key',
      () =>
        this.#db
          .prepare('UPDATE server_caller_keys SET disabled = ? WHERE name = ?')
          .run(disabled ? 1 : 0, name).changes === 1,
    );
  }
  deleteKey(name: string): Promise<boolean> {
    return this.#run(
      'delete a caller key',
      () => this.#db.prepare('DELETE FROM server_caller_keys WHERE name = ?').run(name).changes === 1,
    );
  }
  appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const all = this.#db.transaction((rs: AuditRow[]) => {
      for (let i = 0; i < rs.length; i += AUDIT_BATCH) {
        const chunk = rs.slice(i, i + AUDIT_BATCH);
        this.#auditInsert(chunk.length).run(chunk.flatMap(auditValues));
      }
    });
    return this.#run('write audit rows', () => all(rows));
  }

  /** One multi-row INSERT per batch of audit rows: a statement step per batch, not per row. */
  readonly #auditInserts = new Map<number, Database.Statement>();
  #auditInsert(n: number): Database.Statement {
    let st = this.#auditInserts.get(n);
    if (!st) {
      const tuple = `(${Array.from({ length: 9 }, () => '?').join(', ')})`;
      st = this.#db.prepare(
        `INSERT INTO server_audit (${AUDIT_COLUMNS}) VALUES ${Array.from({ length: n }, () => tuple).join(', ')}`,
      );
      this.#auditInserts.set(n, st);
    }
    return st;
  }
  audit(q: AuditQuery): Promise<AuditRow[]> {
    return this.#run('read the audit log', () => {
      const where: string[] = ['at >= ?'];
      const params: unknown[] = [q.since ?? 0];
      if (q.connectionId !== undefined) {
        where.push('connection_id = ?');
        params.push(q.connectionId);
      }
      params.push(q.limit ?? 1000);
      return (
        this.#db
          .prepare(
            `SELECT ${AUDIT_COLUMNS} FROM server_audit WHERE ${where.join(' AND ')} ORDER BY at DESC, seq DESC LIMIT ?`,
          )
          .all(...params) as AuditDbRow[]
      ).map(auditFromRow);
    });
  }
  pruneAudit(before: number): Promise<number> {
    return this.#run(
      'prune the audit log',
      () => this.#db.prepare('DELETE FROM server_audit WHERE at < ?').run(before).changes,
    );
  }
  disableProvider(provider: string, at: number): Promise<void> {
    return this.#run('disable a provider', () => {
      this.#db
        .prepare(
          'INSERT INTO server_provider_switches (provider, disabled_at) VALUES (?, ?) ON CONFLICT (provider) DO NOTHING',
        )
        .run(provider, at);
    });
  }
  enableProvider(provider: string): Promise<boolean> {
    return this.#run(
      'enable a provider',
      () =>
        this.#db.prepare('DELETE FROM server_provider_switches WHERE provider = ?').run(provider).changes ===
        1,
    );
  }
  disabledProviders(): Promise<ProviderSwitch[]> {
    return this.#run('read the provider switches', () =>
      (
        this.#db.prepare('SELECT provider, disabled_at FROM server_provider_switches').all() as {
          provider: string;
          disabled_at: number;
        }[]
      ).map((r) => ({ provider: r.provider, disabledAt: Number(r.disabled_at) })),
    );
  }
  ping(): Promise<void> {
    return this.#run('answer', () => {
      const row = this.#db.prepare('SELECT MAX(version) AS v FROM server_schema_migrations').get() as {
        v: number | null;
      };
      behind(row.v ?? 0, SQLITE_MIGRATIONS.length, this.#path);
    });
  }
  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

// ---------------------------------------------------------------- PostgreSQL

const PG_MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS baton_server_caller_keys (
     id text PRIMARY KEY, name text NOT NULL UNIQUE, prefix text NOT NULL, hash text NOT NULL UNIQUE,
     allow jsonb NOT NULL, ops jsonb NOT NULL, disabled boolean NOT NULL DEFAULT false, created_at bigint NOT NULL);
   CREATE TABLE IF NOT EXISTS baton_server_audit (
     seq bigserial PRIMARY KEY, at bigint NOT NULL, request_id text NOT NULL, key_name text,
     connection_id text, provider text, operation text NOT NULL, outcome text NOT NULL, status int NOT NULL, detail text);
   CREATE INDEX IF NOT EXISTS baton_server_audit_at ON baton_server_audit (at);
   CREATE INDEX IF NOT EXISTS baton_server_audit_connection ON baton_server_audit (connection_id, at);
   CREATE TABLE IF NOT EXISTS baton_server_provider_switches (provider text PRIMARY KEY, disabled_at bigint NOT NULL);`,
  `${PG_WEBHOOK_MIGRATION}
   ${PG_SESSION_MIGRATION}`,
];

const PG_MIGRATION_LOCK = 0x6261746f6e73; // "batons"

export class PostgresServerStore implements ServerStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #label: string;
  readonly webhooks: WebhookStore;
  readonly connectSessions: ConnectSessionStore;

  private constructor(pool: pg.Pool, label: string) {
    this.#pool = pool;
    this.#label = label;
    pool.on('error', () => undefined);
    const q = <T extends pg.QueryResultRow>(op: string, text: string, params: unknown[] = []) =>
      this.#q<T>(op, text, params);
    this.webhooks = new PostgresWebhookStore(q);
    this.connectSessions = new PostgresConnectSessionStore(q);
  }

  /** Opens on the same URL as the connection store; `schema`, `pool_max` and `statement_timeout` are read the same way. */
  static async open(urlText: string): Promise<PostgresServerStore> {
    const url = new URL(urlText);
    const schema = url.searchParams.get('schema') ?? 'public';
    const timeout = Number(url.searchParams.get('statement_timeout') ?? 10_000);
    for (const p of ['schema', 'pool_max', 'statement_timeout']) url.searchParams.delete(p);
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new StoreError(`"${schema}" is not a usable PostgreSQL schema name.`, {
        remediation: 'Use lower-case letters, digits and underscores.',
      });
    }
    const pool = new pg.Pool({
      connectionString: url.toString(),
      application_name: 'baton-server',
      options: `-c search_path=${schema} -c statement_timeout=${Number.isInteger(timeout) && timeout > 0 ? timeout : 10_000}`,
      connectionTimeoutMillis: 5000,
      max: 4,
    });
    const store = new PostgresServerStore(pool, `${redactUrl(urlText)}#${schema}`);
    try {
      await store.#migrate(schema);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return store;
  }

  #fail(op: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const code = (err as { code?: string }).code;
    return new StoreError(
      `The server tables in PostgreSQL at ${this.#label} failed to ${op} (${code ?? 'error'}).`,
      {
        cause: err,
      },
    );
  }

  async #q<T extends pg.QueryResultRow>(
    op: string,
    text: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<T>> {
    try {
      return await this.#pool.query<T>(text, params);
    } catch (err) {
      if ((err as { code?: string }).code === '23505' && op === 'create a caller key')
        throw duplicate(String(params[1]));
      throw this.#fail(op, err);
    }
  }

  async #migrate(schema: string): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#fail('connect', err);
    }
    try {
      await applyPgMigrations(client, {
        schema,
        table: 'baton_server_schema_migrations',
        lock: PG_MIGRATION_LOCK,
        migrations: PG_MIGRATIONS,
      });
    } catch (err) {
      throw this.#fail('apply migrations', err);
    } finally {
      client.release();
    }
  }

  async createKey(k: CallerKey): Promise<void> {
    await this.#q(
      'create a caller key',
      'INSERT INTO baton_server_caller_keys (id, name, prefix, hash, allow, ops, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [
        k.id,
        k.name,
        k.prefix,
        k.hash,
        JSON.stringify(k.allow),
        JSON.stringify(k.ops),
        k.disabled,
        k.createdAt,
      ],
    );
  }
  async listKeys(): Promise<CallerKey[]> {
    const { rows } = await this.#q<KeyRow & pg.QueryResultRow>(
      'list caller keys',
      'SELECT * FROM baton_server_caller_keys ORDER BY name COLLATE "C"',
    );
    return rows.map(keyFromRow);
  }
  async keyByHash(hash: string): Promise<CallerKey | null> {
    const { rows } = await this.#q<KeyRow & pg.QueryResultRow>(
      'read a caller key',
      'SELECT * FROM baton_server_caller_keys WHERE hash = $1',
      [hash],
    );
    return rows[0] ? keyFromRow(rows[0]) : null;
  }
  async setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    const r = await this.#q(
      'update a caller key',
      'UPDATE baton_server_caller_keys SET disabled = $1 WHERE name = $2',
      [disabled, name],
    );
    return r.rowCount === 1;
  }
  async deleteKey(name: string): Promise<boolean> {
    const r = await this.#q('delete a caller key', 'DELETE FROM baton_server_caller_keys WHERE name = $1', [
      name,
    ]);
    return r.rowCount === 1;
  }
  async appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const tuples = rows.map((r, k) => {
      params.push(...auditValues(r));
      return `(${Array.from({ length: 9 }, (_, i) => `$${k * 9 + i + 1}`).join(', ')})`;
    });
    await this.#q(
      'write audit rows',
      `INSERT INTO baton_server_audit (${AUDIT_COLUMNS}) VALUES ${tuples.join(', ')}`,
      params,
    );
  }
  async audit(q: AuditQuery): Promise<AuditRow[]> {
    const params: unknown[] = [q.since ?? 0];
    let where = 'at >= $1';
    if (q.connectionId !== undefined) {
      params.push(q.connectionId);
      where += ` AND connection_id = $${params.length}`;
    }
    params.push(q.limit ?? 1000);
    const { rows } = await this.#q<AuditDbRow & pg.QueryResultRow>(
      'read the audit log',
      `SELECT ${AUDIT_COLUMNS} FROM baton_server_audit WHERE ${where} ORDER BY at DESC, seq DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(auditFromRow);
  }
  async pruneAudit(before: number): Promise<number> {
    const r = await this.#q('prune the audit log', 'DELETE FROM baton_server_audit WHERE at < $1', [before]);
    return r.rowCount ?? 0;
  }
  async disableProvider(provider: string, at: number): Promise<void> {
    await this.#q(
      'disable a provider',
      'INSERT INTO baton_server_provider_switches (provider, disabled_at) VALUES ($1, $2) ON CONFLICT (provider) DO NOTHING',
      [provider, at],
    );
  }
  async enableProvider(provider: string): Promise<boolean> {
    const r = await this.#q(
      'enable a provider',
      'DELETE FROM baton_server_provider_switches WHERE provider = $1',
      [provider],
    );
    return r.rowCount === 1;
  }
  async disabledProviders(): Promise<ProviderSwitch[]> {
    const { rows } = await this.#q<{ provider: string; disabled_at: string }>(
      'read the provider switches',
      'SELECT provider, disabled_at FROM baton_server_provider_switches',
    );
    return rows.map((r) => ({ provider: r.provider, disabledAt: Number(r.disabled_at) }));
  }
  async ping(): Promise<void> {
    const { rows } = await this.#q<{ v: number | null }>(
      'answer',
      'SELECT max(version) AS v FROM baton_server_schema_migrations',
    );
    behind(Number(rows[0]?.v ?? 0), PG_MIGRATIONS.length, this.#label);
  }
  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- opening

/**
 * Opens the server tables beside a connection store: the same SQLite file, the same
 * PostgreSQL URL and schema, or memory. `spec` is the store spec the connection store was
 * opened from (needed for PostgreSQL, whose store object does not keep its URL).
 */
export async function openServerStore(store: Store, spec: string | undefined): Promise<ServerStore> {
  if (store.kind === 'memory') return new MemoryServerStore();
  if (store.kind === 'sqlite') {
    const path = (store as Store & { location: string }).location;
    return SqliteServerStore.open(path === ':memory:' ? path : resolve(path));
  }
  if (!spec || !/^postgres(ql)?:\/\//i.test(spec.trim())) {
    throw new ConfigError(
      'The server needs the PostgreSQL URL of the store to keep its caller keys and audit log there.',
      'Pass the store as a postgres:// URL (--store / BATON_STORE / startServer({ store })), not as a pool.',
      { forOperator: true },
    );
  }
  return PostgresServerStore.open(spec.trim());
}
