import type Database from 'better-sqlite3';
import { applySqliteMigrations, type SqliteTrack, sqliteTrackVersion } from '../store/sqlite/migrator.js';
import type { SqliteRunner } from '../store/sqlite/runner.js';
import { SQLITE_SESSION_MIGRATION, SqliteConnectSessionStore } from './connect/store.js';
import type { CallerKey } from './keys.js';
import {
  AUDIT_BATCH,
  AUDIT_COLUMNS,
  type AuditDbRow,
  auditFromRow,
  auditValues,
  behind,
  duplicate,
  KEY_COLUMNS,
  type KeyRow,
  keyFromRow,
  keyValues,
} from './server-rows.js';
import type { AuditQuery, AuditRow, ProviderSwitch, ServerStore } from './server-store.js';
import { SQLITE_WEBHOOK_MIGRATION, SqliteWebhookStore } from './webhooks/sqlite-store.js';

/** The server tables' track on SQLite: its name and versions are those every released build recorded. */
export const SQLITE_SERVER_TRACK: SqliteTrack = {
  table: 'server_schema_migrations',
  migrations: [
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
  ],
};

/** Caller keys, the audit log and the provider switches in the connection store's SQLite file, on its runner. */
export class SqliteServerStore implements ServerStore {
  readonly kind = 'sqlite' as const;
  readonly webhooks: SqliteWebhookStore;
  readonly connectSessions: SqliteConnectSessionStore;
  readonly #runner: SqliteRunner;
  readonly #close: () => Promise<void>;
  /** One multi-row INSERT per batch size of audit rows: a statement step per batch, not per row. */
  readonly #auditInserts = new Map<number, Database.Statement>();

  private constructor(runner: SqliteRunner, close: () => Promise<void>) {
    this.#runner = runner;
    this.#close = close;
    this.webhooks = new SqliteWebhookStore(runner);
    this.connectSessions = new SqliteConnectSessionStore(runner);
  }

  /** Applies the server track's pending migrations; `close` is what closing the server tables closes. */
  static async open(runner: SqliteRunner, close: () => Promise<void>): Promise<SqliteServerStore> {
    await applySqliteMigrations(runner, SQLITE_SERVER_TRACK);
    return new SqliteServerStore(runner, close);
  }

  createKey(k: CallerKey): Promise<void> {
    return this.#runner.run('create a caller key', (db) => {
      const { changes } = db
        .prepare(
          `INSERT INTO server_caller_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(keyValues(k));
      if (changes === 0) throw duplicate(k.name);
    });
  }
  listKeys(): Promise<CallerKey[]> {
    return this.#runner.run('list caller keys', (db) =>
      (db.prepare('SELECT * FROM server_caller_keys ORDER BY name').all() as KeyRow[]).map(keyFromRow),
    );
  }
  keyByHash(hash: string): Promise<CallerKey | null> {
    return this.#runner.run('read a caller key', (db) => {
      const r = db.prepare('SELECT * FROM server_caller_keys WHERE hash = ?').get(hash) as KeyRow | undefined;
      return r ? keyFromRow(r) : null;
    });
  }
  setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    return this.#runner.run(
      'update a caller key',
      (db) =>
        db.prepare('UPDATE server_caller_keys SET disabled = ? WHERE name = ?').run(disabled ? 1 : 0, name)
          .changes === 1,
    );
  }
  deleteKey(name: string): Promise<boolean> {
    return this.#runner.run(
      'delete a caller key',
      (db) => db.prepare('DELETE FROM server_caller_keys WHERE name = ?').run(name).changes === 1,
    );
  }
  async appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#runner.transaction('write audit rows', (db) => {
      for (let i = 0; i < rows.length; i += AUDIT_BATCH) {
        const chunk = rows.slice(i, i + AUDIT_BATCH);
        this.#auditInsert(db, chunk.length).run(chunk.flatMap(auditValues));
      }
    });
  }
  #auditInsert(db: Database.Database, n: number): Database.Statement {
    let st = this.#auditInserts.get(n);
    if (!st) {
      const tuple = `(${Array.from({ length: 9 }, () => '?').join(', ')})`;
      st = db.prepare(
        `INSERT INTO server_audit (${AUDIT_COLUMNS}) VALUES ${Array.from({ length: n }, () => tuple).join(', ')}`,
      );
      this.#auditInserts.set(n, st);
    }
    return st;
  }
  audit(q: AuditQuery): Promise<AuditRow[]> {
    return this.#runner.run('read the audit log', (db) => {
      const where: string[] = ['at >= ?'];
      const params: unknown[] = [q.since ?? 0];
      if (q.connectionId !== undefined) {
        where.push('connection_id = ?');
        params.push(q.connectionId);
      }
      params.push(q.limit ?? 1000);
      return (
        db
          .prepare(
            `SELECT ${AUDIT_COLUMNS} FROM server_audit WHERE ${where.join(' AND ')} ORDER BY at DESC, seq DESC LIMIT ?`,
          )
          .all(...params) as AuditDbRow[]
      ).map(auditFromRow);
    });
  }
  pruneAudit(before: number): Promise<number> {
    return this.#runner.run(
      'prune the audit log',
      (db) => db.prepare('DELETE FROM server_audit WHERE at < ?').run(before).changes,
    );
  }
  async disableProvider(provider: string, at: number): Promise<void> {
    await this.#runner.run('disable a provider', (db) =>
      db
        .prepare(
          'INSERT INTO server_provider_switches (provider, disabled_at) VALUES (?, ?) ON CONFLICT (provider) DO NOTHING',
        )
        .run(provider, at),
    );
  }
  enableProvider(provider: string): Promise<boolean> {
    return this.#runner.run(
      'enable a provider',
      (db) =>
        db.prepare('DELETE FROM server_provider_switches WHERE provider = ?').run(provider).changes === 1,
    );
  }
  disabledProviders(): Promise<ProviderSwitch[]> {
    return this.#runner.run('read the provider switches', (db) =>
      (
        db.prepare('SELECT provider, disabled_at FROM server_provider_switches').all() as {
          provider: string;
          disabled_at: number;
        }[]
      ).map((r) => ({ provider: r.provider, disabledAt: Number(r.disabled_at) })),
    );
  }
  async ping(): Promise<void> {
    const applied = await sqliteTrackVersion(this.#runner, SQLITE_SERVER_TRACK, 'answer');
    behind(applied, SQLITE_SERVER_TRACK.migrations.length, this.#runner.path);
  }
  close(): Promise<void> {
    return this.#close();
  }
}
