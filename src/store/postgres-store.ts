import pg from 'pg';
import { StoreError } from '../errors.js';
import { postgresFailure } from './db-errors.js';
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
import { applyPgMigrations } from './pg-migrations.js';
import { redactUrl } from './redact-url.js';
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
  OutboxEvent,
  OutboxReader,
  PendingAuthorization,
  PendingQuery,
  Store,
  StoreChangeListener,
} from './store.js';

/** The key id a sealed blob names, in SQL: the same as `sealedKeyId`. */
const KEY_ID_OF = (blob: string) =>
  `CASE WHEN ${blob} ~ '^v[12]\\.[^.]+\\.' THEN split_part(${blob}, '.', 2) END`;

/** Numbered, append-only. Each runs under an advisory lock, so processes starting together agree. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS baton_connections (
     id text PRIMARY KEY,
     provider text NOT NULL,
     auth_mode text NOT NULL,
     params jsonb NOT NULL,
     client_id text,
     status text NOT NULL,
     version bigint NOT NULL,
     sealed text NOT NULL,
     access_token_expires_at bigint,
     refresh_token_expires_at bigint,
     last_refreshed_at bigint,
     last_error jsonb,
     api_base_url text,
     account jsonb,
     scopes jsonb,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE TABLE IF NOT EXISTS baton_leases (id text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL);
   CREATE TABLE IF NOT EXISTS baton_pending_authorizations (
     state text PRIMARY KEY,
     body jsonb NOT NULL,
     expires_at bigint NOT NULL
   );`,
  // When the lease holder took it (database clock, epoch ms): names a refresh lost with its holder.
  `ALTER TABLE baton_leases ADD COLUMN IF NOT EXISTS since bigint;`,
  // The webhook outbox: events written in the statement of the write that caused them.
  `CREATE TABLE IF NOT EXISTS baton_outbox (
     seq bigserial PRIMARY KEY,
     id text NOT NULL UNIQUE,
     type text NOT NULL,
     connection_id text NOT NULL,
     created_at bigint NOT NULL,
     payload text NOT NULL
   );
   CREATE INDEX IF NOT EXISTS baton_outbox_created_at ON baton_outbox (created_at);`,
  // Scale: the key id each row is sealed under (rekey, the check at open), and the indexes that
  // make the keeper's due query, keyset pages (ids in "C" order, as on every engine) and key
  // usage cost what they return.
  `ALTER TABLE baton_connections ADD COLUMN IF NOT EXISTS key_id text;
   ALTER TABLE baton_pending_authorizations ADD COLUMN IF NOT EXISTS key_id text;
   UPDATE baton_connections SET key_id = ${KEY_ID_OF('sealed')};
   UPDATE baton_pending_authorizations SET key_id = ${KEY_ID_OF("body->>'sealed'")};
   CREATE INDEX IF NOT EXISTS baton_connections_id_c ON baton_connections (id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_provider ON baton_connections (provider, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_status ON baton_connections (status, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_key ON baton_connections (key_id, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_access_due
     ON baton_connections (auth_mode, access_token_expires_at, id COLLATE "C")
     WHERE status = 'active' AND access_token_expires_at IS NOT NULL;
   CREATE INDEX IF NOT EXISTS baton_connections_refresh_due
     ON baton_connections (refresh_token_expires_at, id COLLATE "C")
     WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;
   CREATE INDEX IF NOT EXISTS baton_pending_authorizations_key
     ON baton_pending_authorizations (key_id, state COLLATE "C");`,
  // Issuers' metadata documents (public, not sealed), so a process reads what another fetched.
  `CREATE TABLE IF NOT EXISTS baton_server_metadata (
     issuer text PRIMARY KEY,
     document text NOT NULL,
     source text NOT NULL,
     fetched_at bigint NOT NULL,
     expires_at bigint NOT NULL
   );`,
  // Clients Baton registered itself (MCP authorization servers), sealed, one per issuer.
  `CREATE TABLE IF NOT EXISTS baton_client_registrations (
     issuer text PRIMARY KEY,
     client_id text NOT NULL,
     sealed text NOT NULL,
     key_id text,
     version integer NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE INDEX IF NOT EXISTS baton_client_registrations_key
     ON baton_client_registrations (key_id, issuer COLLATE "C");`,
];

/** Outbox events nobody dispatched within this long are dropped when new ones are written. */
const OUTBOX_KEEP_MS = 7 * 86_400_000;

/**
 * The CTE that appends `events` (parameter `$n`, a JSON array) to the outbox only when the
 * write CTE named `after` produced a row: one statement, so both land or neither does.
 */
function outboxCte(n: number, after: string): string {
  return `e AS (INSERT INTO baton_outbox (id, type, connection_id, created_at, payload)
              SELECT x.id, x.type, x.connection_id, x.created_at, x.payload
              FROM jsonb_to_recordset($${n}::jsonb) AS x(id text, type text, connection_id text, created_at bigint, payload text)
              WHERE EXISTS (SELECT 1 FROM ${after})
              ON CONFLICT (id) DO NOTHING),
       p AS (DELETE FROM baton_outbox WHERE created_at < $${n + 1} AND EXISTS (SELECT 1 FROM ${after}))`;
}

function eventRows(events: readonly OutboxEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({
      id: e.id,
      type: e.type,
      connection_id: e.connectionId,
      created_at: e.createdAt,
      payload: e.payload,
    })),
  );
}

const MIGRATION_LOCK = 0x6261746f6e; // "baton"

const COLUMNS = [
  'id',
  'provider',
  'auth_mode',
  'params',
  'client_id',
  'status',
  'version',
  'sealed',
  'access_token_expires_at',
  'refresh_token_expires_at',
  'last_refreshed_at',
  'last_error',
  'api_base_url',
  'account',
  'scopes',
  'created_at',
  'updated_at',
];

/** What is written: the record's columns and the key id of its blob. */
const WRITTEN = [...COLUMNS, 'key_id'];
/** Each written column's type, for batches passed as one array per column (`unnest`). */
const TYPES: Record<string, string> = {
  params: 'jsonb',
  last_error: 'jsonb',
  account: 'jsonb',
  scopes: 'jsonb',
  version: 'bigint',
  access_token_expires_at: 'bigint',
  refresh_token_expires_at: 'bigint',
  last_refreshed_at: 'bigint',
  created_at: 'bigint',
  updated_at: 'bigint',
};

/**
 * Rows as one array per column: a batch of any size is one statement with one parameter per
 * column, and the JSON columns travel as text until the cast.
 */
function columnArrays(rows: unknown[][], extra: { name: string; type: string; values: unknown[] }[] = []) {
  const names = [...WRITTEN, ...extra.map((e) => e.name)];
  const params = [...WRITTEN.map((_, i) => rows.map((r) => r[i])), ...extra.map((e) => e.values)];
  const arrays = names
    .map((n, i) => {
      const type = extra.find((e) => e.name === n)?.type ?? TYPES[n] ?? 'text';
      return `$${i + 1}::${type === 'jsonb' ? 'text' : type}[]`;
    })
    .join(', ');
  const cast = (n: string) => (TYPES[n] === 'jsonb' ? `v.${n}::jsonb` : `v.${n}`);
  return { sql: `unnest(${arrays}) AS v(${names.join(', ')})`, params, cast };
}

function values(r: ConnectionRecord, version: number): unknown[] {
  const j = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  return [
    r.id,
    r.provider,
    r.authMode,
    JSON.stringify(r.params),
    r.clientId,
    r.status,
    version,
    r.sealed,
    r.accessTokenExpiresAt,
    r.refreshTokenExpiresAt,
    r.lastRefreshedAt,
    j(r.lastError),
    r.apiBaseUrl,
    j(r.account),
    j(r.scopes),
    r.createdAt,
    r.updatedAt,
    sealedKeyId(r.sealed),
  ];
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function fromRow(row: Record<string, unknown>): ConnectionRecord {
  return {
    id: row['id'] as string,
    provider: row['provider'] as string,
    authMode: row['auth_mode'] as ConnectionRecord['authMode'],
    params: row['params'] as Record<string, string>,
    clientId: (row['client_id'] as string | null) ?? null,
    status: row['status'] as ConnectionRecord['status'],
    version: Number(row['version']),
    sealed: row['sealed'] as string,
    accessTokenExpiresAt: num(row['access_token_expires_at']),
    refreshTokenExpiresAt: num(row['refresh_token_expires_at']),
    lastRefreshedAt: num(row['last_refreshed_at']),
    lastError: (row['last_error'] as ConnectionRecord['lastError']) ?? null,
    apiBaseUrl: (row['api_base_url'] as string | null) ?? null,
    account: (row['account'] as ConnectionRecord['account']) ?? null,
    scopes: (row['scopes'] as string[] | null) ?? null,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

export interface PostgresStoreOptions {
  /**
   * Schema for Baton's tables (created if missing). Default: public. Applies to stores opened
   * from a URL; a pool passed in uses its own search_path.
   */
  schema?: string;
  /** application_name of the store's sessions, for pg_stat_activity. */
  applicationName?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Server-side statement timeout. Default 10 s: a stuck query fails as a StoreError instead of hanging a refresh. */
  statementTimeoutMs?: number;
}

/**
 * PostgreSQL carries Baton across processes and machines: CAS on the version column, the
 * refresh lease as a row whose expiry is computed by the database clock (so machines with
 * skewed clocks agree), and LISTEN/NOTIFY so every process drops a stale cached token as soon
 * as another commits.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #label: string;
  readonly #schema: string;
  /** One NOTIFY channel per schema, so stores in different schemas of a database do not hear each other. */
  readonly #channel: string;
  readonly #listeners = new Set<StoreChangeListener>();
  #listener: pg.Client | null = null;
  #listenerConfig: pg.ClientConfig;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(
    pool: pg.Pool,
    ownsPool: boolean,
    label: string,
    config: pg.ClientConfig,
    schema: string,
  ) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#label = label;
    this.#listenerConfig = config;
    this.#schema = schema;
    this.#channel = `baton_${schema}`.slice(0, 63);
    // An idle client losing its server (a restart) must not crash the process; the pool
    // replaces it on the next query.
    pool.on('error', () => undefined);
  }

  static async open(target: string | pg.Pool, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new StoreError(`"${schema}" is not a usable PostgreSQL schema name.`, {
        remediation: 'Use lower-case letters, digits and underscores.',
      });
    }
    const searchPath = `-c search_path=${schema} -c statement_timeout=${options.statementTimeoutMs ?? 10_000}`;
    let store: PostgresStore;
    if (typeof target === 'string') {
      const config: pg.ClientConfig = {
        connectionString: target,
        application_name: options.applicationName ?? 'baton',
        options: searchPath,
        connectionTimeoutMillis: 5000,
      };
      store = new PostgresStore(
        new pg.Pool({ ...config, max: options.max ?? 10 }),
        true,
        redactUrl(target),
        config,
        schema,
      );
    } else {
      const o = target.options as pg.PoolConfig;
      store = new PostgresStore(
        target,
        false,
        `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`,
        o,
        schema,
      );
    }
    await store.migrate();
    return store;
  }

  /** Names the database and schema (no password) for the rescue journal. */
  get location(): string {
    return `${this.#label}#${this.#schema}`;
  }

  #fail(op: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const code = (err as { code?: string }).code;
    const hostPort = URL.canParse(this.#label) ? new URL(this.#label).host : this.#label;
    const known = postgresFailure(code, hostPort);
    if (known) {
      return new StoreError(
        `The PostgreSQL store at ${this.#label} could not ${op}: ${known.what} (${code}).`,
        { cause: err, remediation: known.remediation, cliRemediation: known.cliRemediation },
      );
    }
    const unreachable =
      code === 'ECONNREFUSED' ||
      code === 'ECONNRESET' ||
      code === 'ETIMEDOUT' ||
      code === 'ENOTFOUND' ||
      code === '57P01' ||
      code === '57P03' ||
      /terminat|Connection terminated|timeout/i.test(String((err as Error)?.message));
    return new StoreError(
      unreachable
        ? `The PostgreSQL store at ${this.#label} is unreachable (${code ?? 'connection lost'}) while trying to ${op}.`
        : `The PostgreSQL store at ${this.#label} failed to ${op} (${code ?? 'error'}).`,
      {
        cause: err,
        remediation: unreachable
          ? 'Check that PostgreSQL is running and reachable; Baton retries, and keeps new tokens in memory until it is back.'
          : 'Check the database permissions and that `baton migrate`/startup migrations ran (`baton doctor`).',
      },
    );
  }

  async #query<T extends pg.QueryResultRow>(
    op: string,
    text: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<T>> {
    try {
      return await this.#pool.query<T>(text, params);
    } catch (err) {
      throw this.#fail(op, err);
    }
  }

  async migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#fail('connect', err);
    }
    try {
      await applyPgMigrations(client, {
        schema: this.#schema,
        table: 'baton_schema_migrations',
        lock: MIGRATION_LOCK,
        migrations: MIGRATIONS,
      });
    } catch (err) {
      throw this.#fail('apply migrations', err);
    } finally {
      client.release();
    }
  }

  async get(id: string): Promise<ConnectionRecord | null> {
    const { rows } = await this.#query(
      'read a connection',
      `SELECT ${COLUMNS.join(', ')} FROM baton_connections WHERE id = $1`,
      [id],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async list(query: ListQuery = {}): Promise<ConnectionRecord[]> {
    checkListQuery(query);
    const { where, params } = listWhere(query);
    const limit = query.limit !== undefined ? `LIMIT $${params.push(query.limit)}` : '';
    const { rows } = await this.#query(
      'list connections',
      `SELECT ${COLUMNS.join(', ')} FROM baton_connections ${where} ORDER BY id COLLATE "C" ${limit}`,
      params,
    );
    return rows.map(fromRow);
  }

  async put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    const version = (expectedVersion ?? 0) + 1;
    const v = values(record, version);
    const placeholders = WRITTEN.map((_, i) => `$${i + 1}`).join(', ');
    let write: string;
    let params: unknown[];
    if (expectedVersion === null) {
      write = `INSERT INTO baton_connections (${WRITTEN.join(', ')}) VALUES (${placeholders}) ON CONFLICT (id) DO NOTHING RETURNING id, version`;
      params = v;
    } else {
      const sets = WRITTEN.slice(1)
        .map((c, i) => `${c} = $${i + 2}`)
        .join(', ');
      write = `UPDATE baton_connections SET ${sets} WHERE id = $1 AND version = $${WRITTEN.length + 1} RETURNING id, version`;
      params = [...v, expectedVersion];
    }
    const withEvents = events && events.length > 0;
    if (withEvents) params.push(eventRows(events), Date.now() - OUTBOX_KEEP_MS);
    const sql = `WITH w AS (${write})${withEvents ? `, ${outboxCte(params.length - 1, 'w')}` : ''}
             SELECT w.id, pg_notify('${this.#channel}', json_build_object('id', w.id, 'version', w.version)::text) FROM w`;
    const { rowCount } = await this.#query('write a connection', sql, params);
    return rowCount === 1 ? { ...record, version } : null;
  }

  /** Many records in one statement (for `baton migrate` and bulk loads). Returns how many were written. */
  async putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    if (records.length === 0) return 0;
    const { sql, params, cast } = columnArrays(records.map((r) => values(r, r.version)));
    const conflict = overwrite
      ? `DO UPDATE SET ${WRITTEN.slice(1)
          .map((c) =>
            // A replaced row's version only moves forward, so a process holding it sees a conflict.
            c === 'version'
              ? 'version = GREATEST(baton_connections.version + 1, EXCLUDED.version)'
              : `${c} = EXCLUDED.${c}`,
          )
          .join(', ')}`
      : 'DO NOTHING';
    const { rowCount } = await this.#query(
      'write connections',
      `INSERT INTO baton_connections (${WRITTEN.join(', ')}) SELECT ${WRITTEN.map(cast).join(', ')} FROM ${sql} ON CONFLICT (id) ${conflict}`,
      params,
    );
    return rowCount ?? 0;
  }

  async delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    const withEvents = events && events.length > 0;
    const { rowCount } = await this.#query(
      'delete a connection',
      `WITH l AS (DELETE FROM baton_leases WHERE id = $1),
            d AS (DELETE FROM baton_connections WHERE id = $1 RETURNING id)${withEvents ? `, ${outboxCte(2, 'd')}` : ''}
       SELECT pg_notify('${this.#channel}', json_build_object('id', d.id, 'version', NULL)::text) FROM d`,
      withEvents ? [id, eventRows(events), Date.now() - OUTBOX_KEEP_MS] : [id],
    );
    return rowCount === 1;
  }

  readonly outbox: OutboxReader = {
    pending: async (limit) => {
      const { rows } = await this.#query<{
        id: string;
        type: string;
        connection_id: string;
        created_at: string;
        payload: string;
      }>(
        'read the outbox',
        'SELECT id, type, connection_id, created_at, payload FROM baton_outbox ORDER BY seq LIMIT $1',
        [limit],
      );
      return rows.map((r) => ({
        id: r.id,
        type: r.type,
        connectionId: r.connection_id,
        createdAt: Number(r.created_at),
        payload: r.payload,
      }));
    },
    remove: async (ids) => {
      if (ids.length === 0) return;
      await this.#query('remove outbox events', 'DELETE FROM baton_outbox WHERE id = ANY($1::text[])', [
        [...ids],
      ]);
    },
  };

  readonly serverMetadata: MetadataCache = {
    get: async (issuer) => {
      const { rows } = await this.#query<MetadataRow>(
        'read a metadata document',
        `SELECT ${METADATA_COLUMNS} FROM baton_server_metadata WHERE issuer = $1`,
        [issuer],
      );
      return metadataFromRow(rows[0]);
    },
    put: async (doc) => {
      const { rowCount } = await this.#query(
        'write a metadata document',
        `INSERT INTO baton_server_metadata (issuer, document, source, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (issuer) DO UPDATE SET document = EXCLUDED.document, source = EXCLUDED.source,
           fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at
         WHERE EXCLUDED.fetched_at >= baton_server_metadata.fetched_at`,
        [doc.issuer, doc.document, doc.source, doc.fetchedAt, doc.expiresAt],
      );
      return rowCount === 1;
    },
  };

  readonly clientRegistrations: ClientRegistrations = {
    get: async (issuer) => {
      const { rows } = await this.#query<RegistrationRow>(
        'read a client registration',
        `SELECT ${REGISTRATION_COLUMNS} FROM baton_client_registrations WHERE issuer = $1`,
        [issuer],
      );
      return registrationFromRow(rows[0]);
    },
    put: async (row, expectedVersion) => {
      const version = (expectedVersion ?? 0) + 1;
      const values = [row.issuer, row.clientId, row.sealed, sealedKeyId(row.sealed), version, row.updatedAt];
      const { rowCount } =
        expectedVersion === null
          ? await this.#query(
              'write a client registration',
              `INSERT INTO baton_client_registrations (issuer, client_id, sealed, key_id, version, updated_at, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer) DO NOTHING`,
              [...values, row.createdAt],
            )
          : await this.#query(
              'write a client registration',
              `UPDATE baton_client_registrations SET client_id = $2, sealed = $3, key_id = $4, version = $5, updated_at = $6
               WHERE issuer = $1 AND version = $7`,
              [...values, expectedVersion],
            );
      return rowCount === 1 ? { ...row, version } : null;
    },
    delete: async (issuer, expectedVersion) => {
      const { rowCount } = await this.#query(
        'remove a client registration',
        'DELETE FROM baton_client_registrations WHERE issuer = $1 AND version = $2',
        [issuer, expectedVersion],
      );
      return rowCount === 1;
    },
    list: async () => {
      const { rows } = await this.#query<RegistrationRow>(
        'list client registrations',
        `SELECT ${REGISTRATION_COLUMNS} FROM baton_client_registrations ORDER BY issuer COLLATE "C"`,
      );
      return rows.map((r) => registrationFromRow(r) as ClientRegistrationRow);
    },
  };

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<LeaseGrant | null> {
    const { rows } = await this.#query<{
      taken: boolean;
      prev_owner: string | null;
      prev_since: string | null;
    }>(
      'take the refresh lease',
      `WITH prev AS (SELECT owner, since FROM baton_leases WHERE id = $1),
            up AS (
              INSERT INTO baton_leases (id, owner, expires_at, since)
              VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000), (extract(epoch FROM now()) * 1000)::bigint)
              ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
                since = CASE WHEN baton_leases.owner = EXCLUDED.owner THEN baton_leases.since ELSE EXCLUDED.since END
              WHERE baton_leases.expires_at <= now() OR baton_leases.owner = EXCLUDED.owner
              RETURNING owner)
       SELECT EXISTS (SELECT 1 FROM up) AS taken, (SELECT owner FROM prev) AS prev_owner, (SELECT since FROM prev) AS prev_since`,
      [id, owner, ttlMs],
    );
    const row = rows[0];
    if (!row?.taken) return null;
    const prev = row.prev_owner;
    return {
      takenOver:
        prev !== null && prev !== owner ? { owner: prev, since: Number(row.prev_since ?? Date.now()) } : null,
    };
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.#query('release the refresh lease', 'DELETE FROM baton_leases WHERE id = $1 AND owner = $2', [
      id,
      owner,
    ]);
  }

  async savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    await this.#query(
      'save a pending authorization',
      `WITH gc AS (DELETE FROM baton_pending_authorizations WHERE expires_at < $4)
       INSERT INTO baton_pending_authorizations (state, body, expires_at, key_id) VALUES ($1, $2, $3, $5)
       ON CONFLICT (state) DO UPDATE SET body = EXCLUDED.body, expires_at = EXCLUDED.expires_at, key_id = EXCLUDED.key_id`,
      [
        pending.state,
        JSON.stringify(pending),
        pending.expiresAt,
        Date.now() - 86_400_000,
        sealedKeyId(pending.sealed),
      ],
    );
  }

  async takePendingAuthorization(state: string): Promise<PendingAuthorization | null> {
    const { rows } = await this.#query<{ body: PendingAuthorization }>(
      'read a pending authorization',
      'DELETE FROM baton_pending_authorizations WHERE state = $1 RETURNING body',
      [state],
    );
    return rows[0]?.body ?? null;
  }

  // ---- scale: indexed queries, batches and key usage ----

  async count(query: ListQuery = {}): Promise<number> {
    const { where, params } = listWhere(query);
    const { rows } = await this.#query<{ n: string }>(
      'count connections',
      `SELECT count(*) AS n FROM baton_connections ${where}`,
      params,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async due(query: DueQuery): Promise<DueBatch> {
    checkDueQuery(query);
    const found: { id: string; provider: string; cursor: DueCursor }[] = [];
    const phases: DueCursor['phase'][] = ['access', 'refresh'];
    for (const phase of phases.slice(phases.indexOf(query.after?.phase ?? 'access'))) {
      const from = query.after?.phase === phase ? query.after : null;
      const column = phase === 'access' ? 'access_token_expires_at' : 'refresh_token_expires_at';
      const params: unknown[] = [
        phase === 'access' ? query.accessExpiresBy : query.refreshExpiresBy,
        query.limit + 1 - found.length,
      ];
      const mode = phase === 'access' ? `AND auth_mode = $${params.push(query.accessAuthMode)}` : '';
      const after = from
        ? `AND (${column}, id COLLATE "C") > ($${params.push(from.at)}, $${params.push(from.id)})`
        : '';
      // Literal status and IS NOT NULL: the partial index's own terms, so the planner uses it.
      const { rows } = await this.#query<{ id: string; provider: string; at: string }>(
        'find due connections',
        `SELECT id, provider, ${column} AS at FROM baton_connections
         WHERE status = 'active' AND ${column} IS NOT NULL AND ${column} <= $1 ${mode} ${after}
         ORDER BY ${column}, id COLLATE "C" LIMIT $2`,
        params,
      );
      for (const r of rows)
        found.push({ id: r.id, provider: r.provider, cursor: { phase, at: Number(r.at), id: r.id } });
      if (found.length > query.limit) break;
    }
    return dueBatch(found, query.limit);
  }

  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    if (writes.length === 0) return [];
    const { sql, params, cast } = columnArrays(
      writes.map((w) => values(w.record, w.expectedVersion + 1)),
      [{ name: 'expected', type: 'bigint', values: writes.map((w) => w.expectedVersion) }],
    );
    const { rows } = await this.#query<{ id: string }>(
      'write connections',
      `WITH w AS (
         UPDATE baton_connections c SET ${WRITTEN.slice(1)
           .map((n) => `${n} = ${cast(n)}`)
           .join(', ')}
         FROM ${sql} WHERE c.id = v.id AND c.version = v.expected RETURNING c.id, c.version)
       SELECT w.id, pg_notify('${this.#channel}', json_build_object('id', w.id, 'version', w.version)::text) FROM w`,
      params,
    );
    const written = new Set(rows.map((r) => r.id));
    return writes.map((w) =>
      written.has(w.record.id) ? { ...w.record, version: w.expectedVersion + 1 } : null,
    );
  }

  async keyIds(): Promise<string[]> {
    // A loose index scan: one index probe per key id, however many rows each seals.
    const loose = (table: string) => `(WITH RECURSIVE k AS (
        SELECT min(key_id) AS v FROM ${table}
        UNION ALL
        SELECT (SELECT min(key_id) FROM ${table} WHERE key_id > k.v) FROM k WHERE k.v IS NOT NULL)
      SELECT v FROM k WHERE v IS NOT NULL)`;
    const { rows } = await this.#query<{ v: string }>(
      'read the key ids in use',
      `${loose('baton_connections')} UNION ALL ${loose('baton_pending_authorizations')} UNION ALL ${loose('baton_client_registrations')}`,
    );
    return [...new Set(rows.map((r) => r.v))].sort();
  }

  async keyUsage(): Promise<KeyUsage[]> {
    const ids = await this.keyIds();
    if (ids.length === 0) return [];
    const { rows } = await this.#query<{
      key_id: string;
      connections: string;
      pending: string;
      registrations: string;
    }>(
      'count rows per key id',
      `SELECT k AS key_id,
         (SELECT count(*) FROM baton_connections WHERE key_id = k) AS connections,
         (SELECT count(*) FROM baton_pending_authorizations WHERE key_id = k) AS pending,
         (SELECT count(*) FROM baton_client_registrations WHERE key_id = k) AS registrations
       FROM unnest($1::text[]) AS k ORDER BY k`,
      [ids],
    );
    return rows.map((r) => ({
      keyId: r.key_id,
      connections: Number(r.connections),
      pendingAuthorizations: Number(r.pending),
      clientRegistrations: Number(r.registrations),
    }));
  }

  async listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]> {
    checkPendingQuery(query);
    const params: unknown[] = [query.limit];
    const where = [
      ...(query.after !== undefined ? [`state COLLATE "C" > $${params.push(query.after)}`] : []),
      ...(query.keyId !== undefined ? [`key_id = $${params.push(query.keyId)}`] : []),
    ];
    const { rows } = await this.#query<{ body: PendingAuthorization }>(
      'list pending authorizations',
      `SELECT body FROM baton_pending_authorizations ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY state COLLATE "C" LIMIT $1`,
      params,
    );
    return rows.map((r) => r.body);
  }

  async resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const { rowCount } = await this.#query(
      'write a pending authorization',
      `UPDATE baton_pending_authorizations SET body = jsonb_set(body, '{sealed}', to_jsonb($3::text)), key_id = $4
       WHERE state = $1 AND body->>'sealed' = $2`,
      [state, expectedSealed, sealed, sealedKeyId(sealed)],
    );
    return rowCount === 1;
  }

  subscribe(listener: StoreChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#listener && !this.#reconnectTimer) void this.#listen(0);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** One dedicated session LISTENs; if it drops, it comes back with backoff. */
  async #listen(attempt: number): Promise<void> {
    this.#reconnectTimer = null;
    if (this.#closed || this.#listeners.size === 0) return;
    const client = new pg.Client({
      ...this.#listenerConfig,
      application_name: `${this.#listenerConfig.application_name ?? 'baton'}-listen`,
    });
    let gone = false;
    const retry = () => {
      // 'error' and 'end' both fire for one lost session: reconnect once per client.
      if (gone) return;
      gone = true;
      if (this.#listener === client) this.#listener = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.#closed || this.#reconnectTimer) return;
      const delay = Math.min(5000, 100 * 2 ** attempt);
      this.#reconnectTimer = setTimeout(() => void this.#listen(attempt + 1), delay);
      this.#reconnectTimer.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (msg) => {
      if (msg.channel !== this.#channel || !msg.payload) return;
      let id: unknown;
      let version: unknown;
      try {
        ({ id, version } = JSON.parse(msg.payload) as { id: unknown; version: unknown });
      } catch {
        return;
      }
      if (typeof id !== 'string' || (typeof version !== 'number' && version !== null)) return;
      for (const l of this.#listeners) l(id, version);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#channel}`);
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#listener = client;
      attempt = 0;
      // Notifications sent while no session listened are gone — after a lost session, and
      // before the first one was up (a listener may have cached a connection as it subscribed):
      // every cached connection is suspect.
      for (const l of this.#listeners) l(null, null);
    } catch {
      retry();
    }
  }

  /** Resolves once the LISTEN session is up (tests and benchmarks wait on it). */
  async listening(timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.#listener && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.#listener !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#listeners.clear();
    const l = this.#listener;
    this.#listener = null;
    if (l) {
      l.removeAllListeners('end');
      l.removeAllListeners('error');
      l.on('error', () => undefined);
      await l.end().catch(() => undefined);
    }
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }
}

/** The WHERE clause of a list or count: each filter an index range, `after` the keyset bound. */
function listWhere(q: ListQuery): { where: string; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  const $ = (v: unknown) => `$${params.push(v)}`;
  if (q.provider !== undefined) terms.push(`provider = ${$(q.provider)}`);
  if (q.status !== undefined) terms.push(`status = ${$(q.status)}`);
  if (q.keyId !== undefined) terms.push(`key_id = ${$(q.keyId)}`);
  if (q.after !== undefined) terms.push(`id COLLATE "C" > ${$(q.after)}`);
  if (q.idPrefix !== undefined && q.idPrefix !== '') {
    terms.push(`id COLLATE "C" >= ${$(q.idPrefix)}`);
    const end = prefixEnd(q.idPrefix);
    terms.push(end !== null ? `id COLLATE "C" < ${$(end)}` : `starts_with(id, ${$(q.idPrefix)})`);
  }
  return { where: terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '', params };
}
