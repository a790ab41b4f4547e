import type pg from 'pg';
import type { AuthMode } from '../../providers/spec.js';
import type { PgRunner } from '../../store/postgres/runner.js';
import type { SqliteRunner } from '../../store/sqlite/runner.js';
import type { AccountInfo } from '../../store/store.js';

/**
 * Connect sessions (README, "Connect pages"): what an application allowed an end user to
 * connect, and how far the user got. The token that opens the page is kept only as its
 * SHA-256; the browser that first opens it is bound by a cookie (kept as a hash too). Every
 * change is a compare-and-swap on `version`, so two tabs or two replicas cannot both complete
 * one session.
 */

export type SessionStatus = 'open' | 'authorizing' | 'connected' | 'denied' | 'failed';

export interface ConnectSession {
  id: string;
  tokenHash: string;
  connectionId: string;
  /** Providers the end user may pick from (one for a reconnect). */
  providers: string[];
  /** Auth modes allowed; null: every mode the provider has that a person can use. */
  authModes: AuthMode[] | null;
  /** Param constraints: a string fixes the value, a list restricts the choice. */
  params: Record<string, string | string[]>;
  label: string | null;
  returnUrl: string | null;
  /** Authorizes an existing connection again with its stored provider and params. */
  reconnect: {
    provider: string;
    params: Record<string, string>;
    authMode: AuthMode;
    scopes: string[] | null;
  } | null;
  status: SessionStatus;
  /** Why a session ended `denied` or `failed` (a Baton error code). */
  outcomeCode: string | null;
  /** A plain sentence for the result page (never a secret). */
  outcomeMessage: string | null;
  /** The provider the user chose, once chosen. */
  provider: string | null;
  account: AccountInfo | null;
  browserHash: string | null;
  csrf: string | null;
  stateHash: string | null;
  /** Credentials refused so far (the form may be tried again, a few times). */
  failures: number;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number;
  updatedAt: number;
  version: number;
}

export interface ConnectSessionStore {
  create(s: ConnectSession): Promise<void>;
  byId(id: string): Promise<ConnectSession | null>;
  byTokenHash(hash: string): Promise<ConnectSession | null>;
  byStateHash(hash: string): Promise<ConnectSession | null>;
  /** Writes `s` (its version + 1) if the stored version is still `s.version`. */
  update(s: ConnectSession): Promise<ConnectSession | null>;
  /** Deletes sessions that expired before `before`. */
  prune(before: number): Promise<number>;
}

export class MemoryConnectSessionStore implements ConnectSessionStore {
  readonly #rows = new Map<string, ConnectSession>();
  async create(s: ConnectSession): Promise<void> {
    this.#rows.set(s.id, structuredClone(s));
  }
  async byId(id: string): Promise<ConnectSession | null> {
    const s = this.#rows.get(id);
    return s ? structuredClone(s) : null;
  }
  async byTokenHash(hash: string): Promise<ConnectSession | null> {
    const s = [...this.#rows.values()].find((x) => x.tokenHash === hash);
    return s ? structuredClone(s) : null;
  }
  async byStateHash(hash: string): Promise<ConnectSession | null> {
    const s = [...this.#rows.values()].find((x) => x.stateHash === hash);
    return s ? structuredClone(s) : null;
  }
  async update(s: ConnectSession): Promise<ConnectSession | null> {
    const cur = this.#rows.get(s.id);
    if (!cur || cur.version !== s.version) return null;
    const next = { ...structuredClone(s), version: s.version + 1 };
    this.#rows.set(s.id, next);
    return structuredClone(next);
  }
  async prune(before: number): Promise<number> {
    let n = 0;
    for (const [id, s] of this.#rows)
      if (s.expiresAt < before) {
        this.#rows.delete(id);
        n++;
      }
    return n;
  }
}

export const SQLITE_SESSION_MIGRATION = `CREATE TABLE server_connect_sessions (
     id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, state_hash TEXT UNIQUE, body TEXT NOT NULL,
     version INTEGER NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX server_connect_sessions_expires ON server_connect_sessions (expires_at);`;

export const PG_SESSION_MIGRATION = `CREATE TABLE IF NOT EXISTS baton_server_connect_sessions (
     id text PRIMARY KEY, token_hash text NOT NULL UNIQUE, state_hash text UNIQUE, body jsonb NOT NULL,
     version int NOT NULL, expires_at bigint NOT NULL);
   CREATE INDEX IF NOT EXISTS baton_server_connect_sessions_expires ON baton_server_connect_sessions (expires_at);`;

const parse = (body: string | ConnectSession, version: number | string): ConnectSession => ({
  ...((typeof body === 'string' ? JSON.parse(body) : body) as ConnectSession),
  version: Number(version),
});

export class SqliteConnectSessionStore implements ConnectSessionStore {
  readonly #runner: SqliteRunner;
  constructor(runner: SqliteRunner) {
    this.#runner = runner;
  }
  create(s: ConnectSession): Promise<void> {
    return this.#runner.run('create a connect session', (db) => {
      db.prepare(
        'INSERT INTO server_connect_sessions (id, token_hash, state_hash, body, version, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(s.id, s.tokenHash, s.stateHash, JSON.stringify(s), s.version, s.expiresAt);
    });
  }
  #one(op: string, column: string, value: string): Promise<ConnectSession | null> {
    return this.#runner.run(op, (db) => {
      const r = db
        .prepare(`SELECT body, version FROM server_connect_sessions WHERE ${column} = ?`)
        .get(value) as { body: string; version: number } | undefined;
      return r ? parse(r.body, r.version) : null;
    });
  }
  byId(id: string): Promise<ConnectSession | null> {
    return this.#one('read a connect session', 'id', id);
  }
  byTokenHash(hash: string): Promise<ConnectSession | null> {
    return this.#one('read a connect session', 'token_hash', hash);
  }
  byStateHash(hash: string): Promise<ConnectSession | null> {
    return this.#one('read a connect session', 'state_hash', hash);
  }
  update(s: ConnectSession): Promise<ConnectSession | null> {
    return this.#runner.run('update a connect session', (db) => {
      const next = { ...s, version: s.version + 1 };
      const changes = db
        .prepare(
          'UPDATE server_connect_sessions SET state_hash = ?, body = ?, version = ?, expires_at = ? WHERE id = ? AND version = ?',
        )
        .run(s.stateHash, JSON.stringify(next), next.version, s.expiresAt, s.id, s.version).changes;
      return changes === 1 ? next : null;
    });
  }
  prune(before: number): Promise<number> {
    return this.#runner.run(
      'prune connect sessions',
      (db) => db.prepare('DELETE FROM server_connect_sessions WHERE expires_at < ?').run(before).changes,
    );
  }
}

export class PostgresConnectSessionStore implements ConnectSessionStore {
  readonly #runner: PgRunner;
  constructor(runner: PgRunner) {
    this.#runner = runner;
  }
  async create(s: ConnectSession): Promise<void> {
    await this.#runner.query(
      'create a connect session',
      'INSERT INTO baton_server_connect_sessions (id, token_hash, state_hash, body, version, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [s.id, s.tokenHash, s.stateHash, JSON.stringify(s), s.version, s.expiresAt],
    );
  }
  async #one(column: string, value: string): Promise<ConnectSession | null> {
    const { rows } = await this.#runner.query<{ body: ConnectSession; version: number } & pg.QueryResultRow>(
      'read a connect session',
      `SELECT body, version FROM baton_server_connect_sessions WHERE ${column} = $1`,
      [value],
    );
    return rows[0] ? parse(rows[0].body, rows[0].version) : null;
  }
  byId(id: string): Promise<ConnectSession | null> {
    return this.#one('id', id);
  }
  byTokenHash(hash: string): Promise<ConnectSession | null> {
    return this.#one('token_hash', hash);
  }
  byStateHash(hash: string): Promise<ConnectSession | null> {
    return this.#one('state_hash', hash);
  }
  async update(s: ConnectSession): Promise<ConnectSession | null> {
    const next = { ...s, version: s.version + 1 };
    const r = await this.#runner.query(
      'update a connect session',
      'UPDATE baton_server_connect_sessions SET state_hash = $1, body = $2, version = $3, expires_at = $4 WHERE id = $5 AND version = $6',
      [s.stateHash, JSON.stringify(next), next.version, s.expiresAt, s.id, s.version],
    );
    return r.rowCount === 1 ? next : null;
  }
  async prune(before: number): Promise<number> {
    const r = await this.#runner.query(
      'prune connect sessions',
      'DELETE FROM baton_server_connect_sessions WHERE expires_at < $1',
      [before],
    );
    return r.rowCount ?? 0;
  }
}
