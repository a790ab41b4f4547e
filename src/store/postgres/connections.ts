import { checkListQuery, collectDue, prefixEnd } from '../keyset.js';
import { CONNECTION_COLUMNS, connectionRow, recordFromRow, WRITTEN_COLUMNS } from '../rows.js';
import type {
  BatchWrite,
  ConnectionRecord,
  DueBatch,
  DueQuery,
  KeyUsage,
  ListQuery,
  OutboxEvent,
} from '../store.js';
import type { PgChangeFeed } from './feed.js';
import { outboxCte } from './outbox.js';
import type { PgRunner } from './runner.js';

const COLUMNS = CONNECTION_COLUMNS.join(', ');
const WRITTEN: readonly string[] = WRITTEN_COLUMNS;

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

const values = (r: ConnectionRecord, version: number): unknown[] => Object.values(connectionRow(r, version));

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

/**
 * The connections table: compare-and-swap on the version column; a write, its outbox events and
 * its NOTIFY are one statement.
 */
export class PgConnections {
  readonly #runner: PgRunner;
  readonly #feed: PgChangeFeed;

  constructor(runner: PgRunner, feed: PgChangeFeed) {
    this.#runner = runner;
    this.#feed = feed;
  }

  async get(id: string): Promise<ConnectionRecord | null> {
    const { rows } = await this.#runner.query(
      'read a connection',
      `SELECT ${COLUMNS} FROM baton_connections WHERE id = $1`,
      [id],
    );
    return rows[0] ? recordFromRow(rows[0]) : null;
  }

  async list(query: ListQuery = {}): Promise<ConnectionRecord[]> {
    checkListQuery(query);
    const { where, params } = listWhere(query);
    const limit = query.limit !== undefined ? `LIMIT $${params.push(query.limit)}` : '';
    const { rows } = await this.#runner.query(
      'list connections',
      `SELECT ${COLUMNS} FROM baton_connections ${where} ORDER BY id COLLATE "C" ${limit}`,
      params,
    );
    return rows.map(recordFromRow);
  }

  async count(query: ListQuery = {}): Promise<number> {
    const { where, params } = listWhere(query);
    const { rows } = await this.#runner.query<{ n: string }>(
      'count connections',
      `SELECT count(*) AS n FROM baton_connections ${where}`,
      params,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    const version = (expectedVersion ?? 0) + 1;
    const params = values(record, version);
    let write: string;
    if (expectedVersion === null) {
      const placeholders = WRITTEN.map((_, i) => `$${i + 1}`).join(', ');
      write = `INSERT INTO baton_connections (${WRITTEN.join(', ')}) VALUES (${placeholders}) ON CONFLICT (id) DO NOTHING RETURNING id, version`;
    } else {
      const sets = WRITTEN.slice(1)
        .map((c, i) => `${c} = $${i + 2}`)
        .join(', ');
      write = `UPDATE baton_connections SET ${sets} WHERE id = $1 AND version = $${params.push(expectedVersion)} RETURNING id, version`;
    }
    const outbox = events && events.length > 0 ? `, ${outboxCte(params, 'w', events)}` : '';
    const { rowCount } = await this.#runner.query(
      'write a connection',
      `WITH w AS (${write})${outbox} SELECT w.id, ${this.#feed.notify('w.id', 'w.version')} FROM w`,
      params,
    );
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
    const { rowCount } = await this.#runner.query(
      'write connections',
      `INSERT INTO baton_connections (${WRITTEN.join(', ')}) SELECT ${WRITTEN.map(cast).join(', ')} FROM ${sql} ON CONFLICT (id) ${conflict}`,
      params,
    );
    return rowCount ?? 0;
  }

  /** Several compare-and-swaps in one statement, each on its own. */
  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    if (writes.length === 0) return [];
    const { sql, params, cast } = columnArrays(
      writes.map((w) => values(w.record, w.expectedVersion + 1)),
      [{ name: 'expected', type: 'bigint', values: writes.map((w) => w.expectedVersion) }],
    );
    const { rows } = await this.#runner.query<{ id: string }>(
      'write connections',
      `WITH w AS (
         UPDATE baton_connections c SET ${WRITTEN.slice(1)
           .map((n) => `${n} = ${cast(n)}`)
           .join(', ')}
         FROM ${sql} WHERE c.id = v.id AND c.version = v.expected RETURNING c.id, c.version)
       SELECT w.id, ${this.#feed.notify('w.id', 'w.version')} FROM w`,
      params,
    );
    const written = new Set(rows.map((r) => r.id));
    return writes.map((w) =>
      written.has(w.record.id) ? { ...w.record, version: w.expectedVersion + 1 } : null,
    );
  }

  /** Removes the connection and its lease; `events` go in the same statement, only if it existed. */
  async delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    const params: unknown[] = [id];
    const outbox = events && events.length > 0 ? `, ${outboxCte(params, 'd', events)}` : '';
    const { rowCount } = await this.#runner.query(
      'delete a connection',
      `WITH l AS (DELETE FROM baton_leases WHERE id = $1),
            d AS (DELETE FROM baton_connections WHERE id = $1 RETURNING id)${outbox}
       SELECT ${this.#feed.notify('d.id', 'NULL')} FROM d`,
      params,
    );
    return rowCount === 1;
  }

  due(query: DueQuery): Promise<DueBatch> {
    return collectDue(query, async ({ column, by, mode, from, limit }) => {
      const params: unknown[] = [by, limit];
      const byMode = mode !== null ? `AND auth_mode = $${params.push(mode)}` : '';
      const after = from
        ? `AND (${column}, id COLLATE "C") > ($${params.push(from.at)}, $${params.push(from.id)})`
        : '';
      // Literal status and IS NOT NULL: the partial index's own terms, so the planner uses it.
      const { rows } = await this.#runner.query<{ id: string; provider: string; at: string }>(
        'find due connections',
        `SELECT id, provider, ${column} AS at FROM baton_connections
         WHERE status = 'active' AND ${column} IS NOT NULL AND ${column} <= $1 ${byMode} ${after}
         ORDER BY ${column}, id COLLATE "C" LIMIT $2`,
        params,
      );
      return rows;
    });
  }

  /** The key ids that seal a connection, a pending authorization or a registered client: a loose index scan, one probe per key id. */
  async keyIds(): Promise<string[]> {
    const loose = (table: string) => `(WITH RECURSIVE k AS (
        SELECT min(key_id) AS v FROM ${table}
        UNION ALL
        SELECT (SELECT min(key_id) FROM ${table} WHERE key_id > k.v) FROM k WHERE k.v IS NOT NULL)
      SELECT v FROM k WHERE v IS NOT NULL)`;
    const { rows } = await this.#runner.query<{ v: string }>(
      'read the key ids in use',
      `${loose('baton_connections')} UNION ALL ${loose('baton_pending_authorizations')} UNION ALL ${loose('baton_client_registrations')}`,
    );
    return [...new Set(rows.map((r) => r.v))].sort();
  }

  async keyUsage(): Promise<KeyUsage[]> {
    const ids = await this.keyIds();
    if (ids.length === 0) return [];
    const { rows } = await this.#runner.query<{
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
