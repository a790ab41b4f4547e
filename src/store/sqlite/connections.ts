import type Database from 'better-sqlite3';
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
import type { SqliteChangeFeed } from './feed.js';
import { appendEvents } from './outbox.js';
import type { SqliteRunner } from './runner.js';

const COLUMNS = CONNECTION_COLUMNS.join(', ');
const WRITTEN = WRITTEN_COLUMNS.join(', ');
const VALUES = WRITTEN_COLUMNS.map((c) => `@${c}`).join(', ');
const SETS = WRITTEN_COLUMNS.filter((c) => c !== 'id')
  .map((c) => `${c} = @${c}`)
  .join(', ');
const INSERT = `INSERT INTO connections (${WRITTEN}) VALUES (${VALUES})`;
const UPDATE = `UPDATE connections SET ${SETS} WHERE id = @id AND version = @expected`;

type Row = Record<string, unknown>;

/**
 * The connections table: compare-and-swap is a single UPDATE … WHERE version = ?; a write's
 * outbox events go in its transaction; every write this process makes reaches the change feed.
 */
export class SqliteConnections {
  readonly #runner: SqliteRunner;
  readonly #feed: SqliteChangeFeed;

  constructor(runner: SqliteRunner, feed: SqliteChangeFeed) {
    this.#runner = runner;
    this.#feed = feed;
  }

  get(id: string): Promise<ConnectionRecord | null> {
    return this.#runner.run('read a connection', (db) => {
      const row = db.prepare(`SELECT ${COLUMNS} FROM connections WHERE id = ?`).get(id) as Row | undefined;
      return row ? recordFromRow(row) : null;
    });
  }

  async list(query: ListQuery = {}): Promise<ConnectionRecord[]> {
    checkListQuery(query);
    const { where, params } = listWhere(query);
    const sql = `SELECT ${COLUMNS} FROM connections ${where} ORDER BY id LIMIT @limit`;
    return this.#runner.run('list connections', (db) =>
      (db.prepare(sql).all({ ...params, limit: query.limit ?? -1 }) as Row[]).map(recordFromRow),
    );
  }

  count(query: ListQuery = {}): Promise<number> {
    const { where, params } = listWhere(query);
    return this.#runner.run(
      'count connections',
      (db) => (db.prepare(`SELECT count(*) AS n FROM connections ${where}`).get(params) as { n: number }).n,
    );
  }

  async put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    const version = (expectedVersion ?? 0) + 1;
    const row = connectionRow(record, version);
    const write =
      expectedVersion === null
        ? (db: Database.Database) => db.prepare(`${INSERT} ON CONFLICT(id) DO NOTHING`).run(row).changes
        : (db: Database.Database) => db.prepare(UPDATE).run({ ...row, expected: expectedVersion }).changes;
    const changes =
      events && events.length > 0
        ? await this.#runner.transaction('write a connection', (db) => {
            const n = write(db);
            if (n === 1) appendEvents(db, events);
            return n;
          })
        : await this.#runner.run('write a connection', write);
    if (changes !== 1) return null;
    this.#feed.wrote(record.id, version);
    return { ...record, version };
  }

  /** Many records in one transaction (for `baton migrate`); existing ids are skipped unless `overwrite`. */
  async putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    const conflict = overwrite
      ? `UPDATE SET ${SETS.replace('version = @version', 'version = MAX(connections.version + 1, @version)')}`
      : 'NOTHING';
    const n = await this.#runner.transaction('write connections', (db) => {
      const insert = db.prepare(`${INSERT} ON CONFLICT(id) DO ${conflict}`);
      return records.reduce((n, r) => n + insert.run(connectionRow(r, r.version)).changes, 0);
    });
    // Versions may have moved past the copied ones: listeners re-read.
    for (const r of records) this.#feed.wrote(r.id, Number.MAX_SAFE_INTEGER);
    return n;
  }

  /** Several compare-and-swaps in one transaction, each on its own. */
  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    if (writes.length === 0) return [];
    const results = await this.#runner.transaction('write connections', (db) => {
      const update = db.prepare(UPDATE);
      return writes.map((w) => {
        const version = w.expectedVersion + 1;
        const changed = update.run({
          ...connectionRow(w.record, version),
          expected: w.expectedVersion,
        }).changes;
        return changed === 1 ? { ...w.record, version } : null;
      });
    });
    for (const r of results) if (r) this.#feed.wrote(r.id, r.version);
    return results;
  }

  /** Removes the connection and its lease; `events` go in the same transaction, only if it existed. */
  async delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    const existed = await this.#runner.transaction('delete a connection', (db) => {
      db.prepare('DELETE FROM leases WHERE id = ?').run(id);
      const gone = db.prepare('DELETE FROM connections WHERE id = ?').run(id).changes === 1;
      if (gone && events && events.length > 0) appendEvents(db, events);
      return gone;
    });
    if (existed) this.#feed.wrote(id, null);
    return existed;
  }

  due(query: DueQuery): Promise<DueBatch> {
    return collectDue(query, ({ phase, column, by, mode, from, limit }) =>
      this.#runner.run('find due connections', (db) => {
        // Literal status and IS NOT NULL: the partial index's own terms. Without statistics the
        // planner would rather take the status index and sort; INDEXED BY holds it to the range.
        const sql = `SELECT id, provider, ${column} AS at
          FROM connections INDEXED BY connections_${phase}_due
          WHERE status = 'active' AND ${column} IS NOT NULL AND ${column} <= @by
            ${mode !== null ? 'AND auth_mode = @mode' : ''}
            ${from ? `AND (${column}, id) > (@at, @id)` : ''}
          ORDER BY ${column}, id LIMIT @limit`;
        return db.prepare(sql).all({
          by,
          limit,
          ...(mode !== null ? { mode } : {}),
          ...(from ? { at: from.at, id: from.id } : {}),
        }) as { id: string; provider: string; at: number }[];
      }),
    );
  }

  /** The key ids that seal a connection, a pending authorization or a registered client: a loose index scan, one seek per key id. */
  keyIds(): Promise<string[]> {
    return this.#runner.run('read the key ids in use', (db) => {
      const ids = new Set<string>();
      for (const table of ['connections', 'pending_authorizations', 'client_registrations']) {
        const next = db.prepare(`SELECT MIN(key_id) AS k FROM ${table} WHERE key_id > ?`);
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
    return this.#runner.run('count rows per key id', (db) => {
      const connections = db.prepare('SELECT count(*) AS n FROM connections WHERE key_id = ?');
      const pending = db.prepare('SELECT count(*) AS n FROM pending_authorizations WHERE key_id = ?');
      const registrations = db.prepare('SELECT count(*) AS n FROM client_registrations WHERE key_id = ?');
      return ids.map((keyId) => ({
        keyId,
        connections: (connections.get(keyId) as { n: number }).n,
        pendingAuthorizations: (pending.get(keyId) as { n: number }).n,
        clientRegistrations: (registrations.get(keyId) as { n: number }).n,
      }));
    });
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
