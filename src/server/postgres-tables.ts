import type pg from 'pg';
import { migratePostgres, type PgTrack, pgTrackVersion } from '../store/postgres/migrator.js';
import type { PgRunner } from '../store/postgres/runner.js';
import { PG_SESSION_MIGRATION, PostgresConnectSessionStore } from './connect/store.js';
import type { CallerKey } from './keys.js';
import {
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
import { PG_WEBHOOK_MIGRATION, PostgresWebhookStore } from './webhooks/postgres-store.js';

/** The server tables' track on PostgreSQL: its name, lock and versions are those every released build used. */
export const PG_SERVER_TRACK: PgTrack = {
  table: 'baton_server_schema_migrations',
  lock: 0x6261746f6e73, // "batons"
  migrations: [
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
  ],
};

/** Caller keys, the audit log and the provider switches in the connection store's schema, on its pool. */
export class PostgresServerStore implements ServerStore {
  readonly kind = 'postgres' as const;
  readonly webhooks: PostgresWebhookStore;
  readonly connectSessions: PostgresConnectSessionStore;
  readonly #runner: PgRunner;
  readonly #close: () => Promise<void>;

  private constructor(runner: PgRunner, close: () => Promise<void>) {
    this.#runner = runner;
    this.#close = close;
    this.webhooks = new PostgresWebhookStore(runner);
    this.connectSessions = new PostgresConnectSessionStore(runner);
  }

  /** Applies the server track's pending migrations; `close` is what closing the server tables closes. */
  static async open(runner: PgRunner, close: () => Promise<void>): Promise<PostgresServerStore> {
    await migratePostgres(runner, PG_SERVER_TRACK);
    return new PostgresServerStore(runner, close);
  }

  async createKey(k: CallerKey): Promise<void> {
    const { rowCount } = await this.#runner.query(
      'create a caller key',
      `INSERT INTO baton_server_caller_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
      keyValues(k),
    );
    if (rowCount === 0) throw duplicate(k.name);
  }
  async listKeys(): Promise<CallerKey[]> {
    const { rows } = await this.#runner.query<KeyRow & pg.QueryResultRow>(
      'list caller keys',
      'SELECT * FROM baton_server_caller_keys ORDER BY name COLLATE "C"',
    );
    return rows.map(keyFromRow);
  }
  async keyByHash(hash: string): Promise<CallerKey | null> {
    const { rows } = await this.#runner.query<KeyRow & pg.QueryResultRow>(
      'read a caller key',
      'SELECT * FROM baton_server_caller_keys WHERE hash = $1',
      [hash],
    );
    return rows[0] ? keyFromRow(rows[0]) : null;
  }
  async setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    const r = await this.#runner.query(
      'update a caller key',
      'UPDATE baton_server_caller_keys SET disabled = $1 WHERE name = $2',
      [disabled, name],
    );
    return r.rowCount === 1;
  }
  async deleteKey(name: string): Promise<boolean> {
    const r = await this.#runner.query(
      'delete a caller key',
      'DELETE FROM baton_server_caller_keys WHERE name = $1',
      [name],
    );
    return r.rowCount === 1;
  }
  async appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const tuples = rows.map((r, k) => {
      params.push(...auditValues(r));
      return `(${Array.from({ length: 9 }, (_, i) => `$${k * 9 + i + 1}`).join(', ')})`;
    });
    await this.#runner.query(
      'write audit rows',
      `INSERT INTO baton_server_audit (${AUDIT_COLUMNS}) VALUES ${tuples.join(', ')}`,
      params,
    );
  }
  async audit(q: AuditQuery): Promise<AuditRow[]> {
    const params: unknown[] = [q.since ?? 0];
    let where = 'at >= $1';
    if (q.connectionId !== undefined) where += ` AND connection_id = $${params.push(q.connectionId)}`;
    const limit = params.push(q.limit ?? 1000);
    const { rows } = await this.#runner.query<AuditDbRow & pg.QueryResultRow>(
      'read the audit log',
      `SELECT ${AUDIT_COLUMNS} FROM baton_server_audit WHERE ${where} ORDER BY at DESC, seq DESC LIMIT $${limit}`,
      params,
    );
    return rows.map(auditFromRow);
  }
  async pruneAudit(before: number): Promise<number> {
    const r = await this.#runner.query(
      'prune the audit log',
      'DELETE FROM baton_server_audit WHERE at < $1',
      [before],
    );
    return r.rowCount ?? 0;
  }
  async disableProvider(provider: string, at: number): Promise<void> {
    await this.#runner.query(
      'disable a provider',
      'INSERT INTO baton_server_provider_switches (provider, disabled_at) VALUES ($1, $2) ON CONFLICT (provider) DO NOTHING',
      [provider, at],
    );
  }
  async enableProvider(provider: string): Promise<boolean> {
    const r = await this.#runner.query(
      'enable a provider',
      'DELETE FROM baton_server_provider_switches WHERE provider = $1',
      [provider],
    );
    return r.rowCount === 1;
  }
  async disabledProviders(): Promise<ProviderSwitch[]> {
    const { rows } = await this.#runner.query<{ provider: string; disabled_at: string }>(
      'read the provider switches',
      'SELECT provider, disabled_at FROM baton_server_provider_switches',
    );
    return rows.map((r) => ({ provider: r.provider, disabledAt: Number(r.disabled_at) }));
  }
  async ping(): Promise<void> {
    const applied = await pgTrackVersion(this.#runner, PG_SERVER_TRACK, 'answer');
    behind(applied, PG_SERVER_TRACK.migrations.length, this.#runner.location);
  }
  close(): Promise<void> {
    return this.#close();
  }
}
