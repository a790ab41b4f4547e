import type Database from 'better-sqlite3';
import type pg from 'pg';

/**
 * The webhook tables (README, "Webhooks"): endpoints, one delivery row per event and endpoint,
 * and the log of every attempt. They live with the server's other tables (same SQLite file or
 * PostgreSQL schema, the server's migration track). A delivery is claimed with a lease, so one
 * replica at a time attempts it; a replica that dies mid-attempt loses the lease when it
 * expires and another picks the delivery up.
 */

export interface WebhookEndpoint {
  id: string;
  url: string;
  /** Event types, or `*` for all. */
  events: string[];
  /** Connection id globs and `provider:NAME`: only events of connections in this scope. */
  allow: string[];
  description: string | null;
  /** The signing secret, sealed under the store's secret key (bound to id and URL). */
  secretSealed: string;
  /** The first characters of the secret, to tell secrets apart; not enough to sign. */
  secretPrefix: string;
  createdAt: number;
  createdBy: string | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  connectionId: string;
  endpointId: string;
  /** The event as the outbox holds it (JSON). */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  /** Retries go on until this plus the retry window; a manual redelivery restarts it. */
  retryFrom: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  createdAt: number;
}

export interface NewDelivery {
  id: string;
  eventId: string;
  eventType: string;
  connectionId: string;
  endpointId: string;
  payload: string;
  createdAt: number;
}

export interface Attempt {
  deliveryId: string;
  attempt: number;
  at: number;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  error: string | null;
  durationMs: number;
  replica: string;
}

export interface Finish {
  attempt: Attempt;
  status: DeliveryStatus;
  nextAttemptAt: number;
}

export interface DeliveryQuery {
  endpointId?: string;
  eventId?: string;
  connectionId?: string;
  status?: DeliveryStatus;
  limit?: number;
}

export interface WebhookStore {
  createEndpoint(e: WebhookEndpoint): Promise<void>;
  listEndpoints(): Promise<WebhookEndpoint[]>;
  getEndpoint(id: string): Promise<WebhookEndpoint | null>;
  /** Deletes the endpoint and its deliveries. */
  deleteEndpoint(id: string): Promise<boolean>;
  /** Inserts deliveries, skipping an (event, endpoint) pair that exists: dispatching twice is harmless. */
  enqueue(deliveries: NewDelivery[], now: number): Promise<number>;
  /** Takes up to `limit` due deliveries whose lease is free, leasing them to `owner` until now + leaseMs. */
  claim(owner: string, now: number, leaseMs: number, limit: number): Promise<Delivery[]>;
  /** Logs the attempt and, while `owner` still holds the lease, sets the outcome. Returns whether it did. */
  finish(id: string, owner: string, result: Finish): Promise<boolean>;
  listDeliveries(q: DeliveryQuery): Promise<Delivery[]>;
  getDelivery(id: string): Promise<Delivery | null>;
  attempts(deliveryId: string): Promise<Attempt[]>;
  /** Schedules deliveries again now (by delivery id, or every delivery of an event id). */
  redeliver(idOrEventId: string, now: number): Promise<Delivery[]>;
  /** Deletes delivered and dead deliveries (and their attempts) created before `before`. */
  prune(before: number): Promise<number>;
}

// ---------------------------------------------------------------- memory

export class MemoryWebhookStore implements WebhookStore {
  readonly #endpoints = new Map<string, WebhookEndpoint>();
  readonly #deliveries = new Map<string, Delivery & { leaseOwner: string | null; leaseUntil: number }>();
  #attempts: Attempt[] = [];

  async createEndpoint(e: WebhookEndpoint): Promise<void> {
    this.#endpoints.set(e.id, structuredClone(e));
  }
  async listEndpoints(): Promise<WebhookEndpoint[]> {
    return [...this.#endpoints.values()]
      .map((e) => structuredClone(e))
      .sort((a, b) => a.createdAt - b.createdAt);
  }
  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const e = this.#endpoints.get(id);
    return e ? structuredClone(e) : null;
  }
  async deleteEndpoint(id: string): Promise<boolean> {
    for (const [k, d] of this.#deliveries) if (d.endpointId === id) this.#deliveries.delete(k);
    return this.#endpoints.delete(id);
  }
  async enqueue(deliveries: NewDelivery[], now: number): Promise<number> {
    let n = 0;
    for (const d of deliveries) {
      const exists = [...this.#deliveries.values()].some(
        (x) => x.eventId === d.eventId && x.endpointId === d.endpointId,
      );
      if (exists) continue;
      this.#deliveries.set(d.id, {
        ...d,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        retryFrom: d.createdAt,
        lastAttemptAt: null,
        lastStatus: null,
        lastError: null,
        deliveredAt: null,
        leaseOwner: null,
        leaseUntil: 0,
      });
      n++;
    }
    return n;
  }
  async claim(owner: string, now: number, leaseMs: number, limit: number): Promise<Delivery[]> {
    const due = [...this.#deliveries.values()]
      .filter((d) => d.status === 'pending' && d.nextAttemptAt <= now && d.leaseUntil <= now)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
      .slice(0, limit);
    for (const d of due) {
      d.leaseOwner = owner;
      d.leaseUntil = now + leaseMs;
    }
    return due.map(strip);
  }
  async finish(id: string, owner: string, r: Finish): Promise<boolean> {
    this.#attempts.push({ ...r.attempt });
    const d = this.#deliveries.get(id);
    if (!d || d.leaseOwner !== owner) return false;
    Object.assign(d, {
      status: r.status,
      attempts: d.attempts + 1,
      nextAttemptAt: r.nextAttemptAt,
      lastAttemptAt: r.attempt.at,
      lastStatus: r.attempt.status,
      lastError: r.attempt.error,
      deliveredAt: r.status === 'delivered' ? r.attempt.at : d.deliveredAt,
      leaseOwner: null,
      leaseUntil: 0,
    });
    return true;
  }
  async listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    return [...this.#deliveries.values()]
      .filter(
        (d) =>
          (q.endpointId === undefined || d.endpointId === q.endpointId) &&
          (q.eventId === undefined || d.eventId === q.eventId) &&
          (q.connectionId === undefined || d.connectionId === q.connectionId) &&
          (q.status === undefined || d.status === q.status),
      )
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
      .slice(0, q.limit ?? 100)
      .map(strip);
  }
  async getDelivery(id: string): Promise<Delivery | null> {
    const d = this.#deliveries.get(id);
    return d ? strip(d) : null;
  }
  async attempts(deliveryId: string): Promise<Attempt[]> {
    return this.#attempts.filter((a) => a.deliveryId === deliveryId).map((a) => ({ ...a }));
  }
  async redeliver(idOrEventId: string, now: number): Promise<Delivery[]> {
    const hit = [...this.#deliveries.values()].filter(
      (d) => d.id === idOrEventId || d.eventId === idOrEventId,
    );
    for (const d of hit) Object.assign(d, { status: 'pending', nextAttemptAt: now, retryFrom: now });
    return hit.map(strip);
  }
  async prune(before: number): Promise<number> {
    let n = 0;
    for (const [k, d] of this.#deliveries) {
      if (d.status !== 'pending' && d.createdAt < before) {
        this.#deliveries.delete(k);
        n++;
      }
    }
    const live = new Set(this.#deliveries.keys());
    this.#attempts = this.#attempts.filter((a) => live.has(a.deliveryId));
    return n;
  }
}

function strip(d: Delivery & { leaseOwner?: unknown; leaseUntil?: unknown }): Delivery {
  const { leaseOwner: _o, leaseUntil: _u, ...rest } = d;
  return { ...rest };
}

// ---------------------------------------------------------------- rows

interface EndpointRow {
  id: string;
  url: string;
  events: string | string[];
  allow: string | string[];
  description: string | null;
  secret_sealed: string;
  secret_prefix: string;
  created_at: number | string;
  created_by: string | null;
}

const json = (v: string | string[]): string[] => (typeof v === 'string' ? (JSON.parse(v) as string[]) : v);

/** An endpoint's columns in the order of the INSERT both engines use. */
function endpointValues(e: WebhookEndpoint): unknown[] {
  return [
    e.id,
    e.url,
    JSON.stringify(e.events),
    JSON.stringify(e.allow),
    e.description,
    e.secretSealed,
    e.secretPrefix,
    e.createdAt,
    e.createdBy,
  ];
}

function endpointFromRow(r: EndpointRow): WebhookEndpoint {
  return {
    id: r.id,
    url: r.url,
    events: json(r.events),
    allow: json(r.allow),
    description: r.description,
    secretSealed: r.secret_sealed,
    secretPrefix: r.secret_prefix,
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
  };
}

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  connection_id: string;
  endpoint_id: string;
  payload: string;
  status: string;
  attempts: number | string;
  next_attempt_at: number | string;
  retry_from: number | string;
  last_attempt_at: number | string | null;
  last_status: number | string | null;
  last_error: string | null;
  delivered_at: number | string | null;
  created_at: number | string;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function deliveryFromRow(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    connectionId: r.connection_id,
    endpointId: r.endpoint_id,
    payload: r.payload,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    retryFrom: Number(r.retry_from),
    lastAttemptAt: num(r.last_attempt_at),
    lastStatus: num(r.last_status),
    lastError: r.last_error,
    deliveredAt: num(r.delivered_at),
    createdAt: Number(r.created_at),
  };
}

interface AttemptRow {
  delivery_id: string;
  attempt: number | string;
  at: number | string;
  status: number | string | null;
  error: string | null;
  duration_ms: number | string;
  replica: string;
}

function attemptFromRow(r: AttemptRow): Attempt {
  return {
    deliveryId: r.delivery_id,
    attempt: Number(r.attempt),
    at: Number(r.at),
    status: num(r.status),
    error: r.error,
    durationMs: Number(r.duration_ms),
    replica: r.replica,
  };
}

const DELIVERY_COLUMNS =
  'id, event_id, event_type, connection_id, endpoint_id, payload, status, attempts, next_attempt_at, retry_from, last_attempt_at, last_status, last_error, delivered_at, created_at';

/** The table names on each engine; everything else in the SQL is shared. */
interface Names {
  endpoints: string;
  deliveries: string;
  attempts: string;
}

function where(q: DeliveryQuery, p: (v: unknown) => string): string {
  const w: string[] = [];
  if (q.endpointId !== undefined) w.push(`endpoint_id = ${p(q.endpointId)}`);
  if (q.eventId !== undefined) w.push(`event_id = ${p(q.eventId)}`);
  if (q.connectionId !== undefined) w.push(`connection_id = ${p(q.connectionId)}`);
  if (q.status !== undefined) w.push(`status = ${p(q.status)}`);
  return w.length > 0 ? `WHERE ${w.join(' AND ')}` : '';
}

// ---------------------------------------------------------------- SQLite

export const SQLITE_WEBHOOK_MIGRATION = `CREATE TABLE server_webhook_endpoints (
     id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, allow TEXT NOT NULL, description TEXT,
     secret_sealed TEXT NOT NULL, secret_prefix TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT);
   CREATE TABLE server_webhook_deliveries (
     id TEXT PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL, connection_id TEXT NOT NULL,
     endpoint_id TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL, retry_from INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
     last_attempt_at INTEGER, last_status INTEGER, last_error TEXT, delivered_at INTEGER, created_at INTEGER NOT NULL,
     UNIQUE (event_id, endpoint_id));
   CREATE INDEX server_webhook_deliveries_due ON server_webhook_deliveries (status, next_attempt_at);
   CREATE INDEX server_webhook_deliveries_created ON server_webhook_deliveries (created_at);
   CREATE TABLE server_webhook_attempts (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
     status INTEGER, error TEXT, duration_ms INTEGER NOT NULL, replica TEXT NOT NULL);
   CREATE INDEX server_webhook_attempts_delivery ON server_webhook_attempts (delivery_id, seq);`;

export type SqliteRunner = <T>(op: string, fn: (db: Database.Database) => T) => Promise<T>;

export class SqliteWebhookStore implements WebhookStore {
  readonly #sql: SqliteRunner;
  readonly #t: Names = {
    endpoints: 'server_webhook_endpoints',
    deliveries: 'server_webhook_deliveries',
    attempts: 'server_webhook_attempts',
  };

  constructor(sql: SqliteRunner) {
    this.#sql = sql;
  }

  createEndpoint(e: WebhookEndpoint): Promise<void> {
    return this.#sql('create a webhook endpoint', (db) => {
      db.prepare(
        `INSERT INTO ${this.#t.endpoints} (id, url, events, allow, description, secret_sealed, secret_prefix, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(...endpointValues(e));
    });
  }
  listEndpoints(): Promise<WebhookEndpoint[]> {
    return this.#sql('list webhook endpoints', (db) =>
      (db.prepare(`SELECT * FROM ${this.#t.endpoints} ORDER BY created_at, id`).all() as EndpointRow[]).map(
        endpointFromRow,
      ),
    );
  }
  getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    return this.#sql('read a webhook endpoint', (db) => {
      const r = db.prepare(`SELECT * FROM ${this.#t.endpoints} WHERE id = ?`).get(id) as
        | EndpointRow
        | undefined;
      return r ? endpointFromRow(r) : null;
    });
  }
  deleteEndpoint(id: string): Promise<boolean> {
    return this.#sql('delete a webhook endpoint', (db) =>
      db.transaction(() => {
        db.prepare(
          `DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM ${this.#t.deliveries} WHERE endpoint_id = ?)`,
        ).run(id);
        db.prepare(`DELETE FROM ${this.#t.deliveries} WHERE endpoint_id = ?`).run(id);
        return db.prepare(`DELETE FROM ${this.#t.endpoints} WHERE id = ?`).run(id).changes === 1;
      })(),
    );
  }
  enqueue(deliveries: NewDelivery[], now: number): Promise<number> {
    if (deliveries.length === 0) return Promise.resolve(0);
    return this.#sql('queue webhook deliveries', (db) => {
      const insert = db.prepare(
        `INSERT INTO ${this.#t.deliveries} (id, event_id, event_type, connection_id, endpoint_id, payload, status, attempts, next_attempt_at, retry_from, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
      );
      return db.transaction(() =>
        deliveries.reduce(
          (n, d) =>
            n +
            insert.run(
              d.id,
              d.eventId,
              d.eventType,
              d.connectionId,
              d.endpointId,
              d.payload,
              now,
              d.createdAt,
              d.createdAt,
            ).changes,
          0,
        ),
      )();
    });
  }
  claim(owner: string, now: number, leaseMs: number, limit: number): Promise<Delivery[]> {
    return this.#sql('claim webhook deliveries', (db) =>
      (
        db
          .prepare(
            `UPDATE ${this.#t.deliveries} SET lease_owner = ?, lease_until = ?
             WHERE id IN (SELECT id FROM ${this.#t.deliveries} WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ?
                          ORDER BY next_attempt_at LIMIT ?)
             RETURNING ${DELIVERY_COLUMNS}`,
          )
          .all(owner, now + leaseMs, now, now, limit) as DeliveryRow[]
      ).map(deliveryFromRow),
    );
  }
  finish(id: string, owner: string, r: Finish): Promise<boolean> {
    return this.#sql('record a webhook attempt', (db) =>
      db.transaction(() => {
        const a = r.attempt;
        db.prepare(
          `INSERT INTO ${this.#t.attempts} (delivery_id, attempt, at, status, error, duration_ms, replica) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(a.deliveryId, a.attempt, a.at, a.status, a.error, a.durationMs, a.replica);
        return (
          db
            .prepare(
              `UPDATE ${this.#t.deliveries} SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_attempt_at = ?,
                 last_status = ?, last_error = ?, delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,
                 lease_owner = NULL, lease_until = 0
               WHERE id = ? AND lease_owner = ?`,
            )
            .run(r.status, r.nextAttemptAt, a.at, a.status, a.error, r.status, a.at, id, owner).changes === 1
        );
      })(),
    );
  }
  listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    return this.#sql('list webhook deliveries', (db) => {
      const params: unknown[] = [];
      const w = where(q, (v) => {
        params.push(v);
        return '?';
      });
      params.push(q.limit ?? 100);
      return (
        db
          .prepare(
            `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} ${w} ORDER BY created_at DESC, id DESC LIMIT ?`,
          )
          .all(...params) as DeliveryRow[]
      ).map(deliveryFromRow);
    });
  }
  getDelivery(id: string): Promise<Delivery | null> {
    return this.#sql('read a webhook delivery', (db) => {
      const r = db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE id = ?`).get(id) as
        | DeliveryRow
        | undefined;
      return r ? deliveryFromRow(r) : null;
    });
  }
  attempts(deliveryId: string): Promise<Attempt[]> {
    return this.#sql('read webhook attempts', (db) =>
      (
        db
          .prepare(`SELECT * FROM ${this.#t.attempts} WHERE delivery_id = ? ORDER BY seq`)
          .all(deliveryId) as AttemptRow[]
      ).map(attemptFromRow),
    );
  }
  redeliver(idOrEventId: string, now: number): Promise<Delivery[]> {
    return this.#sql('schedule a redelivery', (db) =>
      (
        db
          .prepare(
            `UPDATE ${this.#t.deliveries} SET status = 'pending', next_attempt_at = ?, retry_from = ?
             WHERE id = ? OR event_id = ? RETURNING ${DELIVERY_COLUMNS}`,
          )
          .all(now, now, idOrEventId, idOrEventId) as DeliveryRow[]
      ).map(deliveryFromRow),
    );
  }
  prune(before: number): Promise<number> {
    return this.#sql('prune webhook deliveries', (db) =>
      db.transaction(() => {
        db.prepare(
          `DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < ?)`,
        ).run(before);
        return db
          .prepare(`DELETE FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < ?`)
          .run(before).changes;
      })(),
    );
  }
}

// ---------------------------------------------------------------- PostgreSQL

export const PG_WEBHOOK_MIGRATION = `CREATE TABLE IF NOT EXISTS baton_server_webhook_endpoints (
     id text PRIMARY KEY, url text NOT NULL, events jsonb NOT NULL, allow jsonb NOT NULL, description text,
     secret_sealed text NOT NULL, secret_prefix text NOT NULL, created_at bigint NOT NULL, created_by text);
   CREATE TABLE IF NOT EXISTS baton_server_webhook_deliveries (
     id text PRIMARY KEY, event_id text NOT NULL, event_type text NOT NULL, connection_id text NOT NULL,
     endpoint_id text NOT NULL, payload text NOT NULL, status text NOT NULL, attempts int NOT NULL DEFAULT 0,
     next_attempt_at bigint NOT NULL, retry_from bigint NOT NULL, lease_owner text, lease_until bigint NOT NULL DEFAULT 0,
     last_attempt_at bigint, last_status int, last_error text, delivered_at bigint, created_at bigint NOT NULL,
     UNIQUE (event_id, endpoint_id));
   CREATE INDEX IF NOT EXISTS baton_server_webhook_deliveries_due ON baton_server_webhook_deliveries (status, next_attempt_at);
   CREATE INDEX IF NOT EXISTS baton_server_webhook_deliveries_created ON baton_server_webhook_deliveries (created_at);
   CREATE TABLE IF NOT EXISTS baton_server_webhook_attempts (
     seq bigserial PRIMARY KEY, delivery_id text NOT NULL, attempt int NOT NULL, at bigint NOT NULL,
     status int, error text, duration_ms int NOT NULL, replica text NOT NULL);
   CREATE INDEX IF NOT EXISTS baton_server_webhook_attempts_delivery ON baton_server_webhook_attempts (delivery_id, seq);`;

export type PgRunner = <T extends pg.QueryResultRow>(
  op: string,
  text: string,
  params?: unknown[],
) => Promise<pg.QueryResult<T>>;

export class PostgresWebhookStore implements WebhookStore {
  readonly #q: PgRunner;
  readonly #t: Names = {
    endpoints: 'baton_server_webhook_endpoints',
    deliveries: 'baton_server_webhook_deliveries',
    attempts: 'baton_server_webhook_attempts',
  };

  constructor(q: PgRunner) {
    this.#q = q;
  }

  async createEndpoint(e: WebhookEndpoint): Promise<void> {
    await this.#q(
      'create a webhook endpoint',
      `INSERT INTO ${this.#t.endpoints} (id, url, events, allow, description, secret_sealed, secret_prefix, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      endpointValues(e),
    );
  }
  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const { rows } = await this.#q<EndpointRow & pg.QueryResultRow>(
      'list webhook endpoints',
      `SELECT * FROM ${this.#t.endpoints} ORDER BY created_at, id`,
    );
    return rows.map(endpointFromRow);
  }
  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const { rows } = await this.#q<EndpointRow & pg.QueryResultRow>(
      'read a webhook endpoint',
      `SELECT * FROM ${this.#t.endpoints} WHERE id = $1`,
      [id],
    );
    return rows[0] ? endpointFromRow(rows[0]) : null;
  }
  async deleteEndpoint(id: string): Promise<boolean> {
    const { rows } = await this.#q<{ n: string }>(
      'delete a webhook endpoint',
      `WITH d AS (DELETE FROM ${this.#t.deliveries} WHERE endpoint_id = $1 RETURNING id),
            a AS (DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM d)),
            e AS (DELETE FROM ${this.#t.endpoints} WHERE id = $1 RETURNING id)
       SELECT count(*) AS n FROM e`,
      [id],
    );
    return Number(rows[0]?.n) === 1;
  }
  async enqueue(deliveries: NewDelivery[], now: number): Promise<number> {
    if (deliveries.length === 0) return 0;
    const rows = JSON.stringify(
      deliveries.map((d) => ({
        id: d.id,
        event_id: d.eventId,
        event_type: d.eventType,
        connection_id: d.connectionId,
        endpoint_id: d.endpointId,
        payload: d.payload,
        created_at: d.createdAt,
      })),
    );
    const r = await this.#q(
      'queue webhook deliveries',
      `INSERT INTO ${this.#t.deliveries} (id, event_id, event_type, connection_id, endpoint_id, payload, status, attempts, next_attempt_at, retry_from, created_at)
       SELECT x.id, x.event_id, x.event_type, x.connection_id, x.endpoint_id, x.payload, 'pending', 0, $2, x.created_at, x.created_at
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, event_id text, event_type text, connection_id text, endpoint_id text, payload text, created_at bigint)
       ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
      [rows, now],
    );
    return r.rowCount ?? 0;
  }
  async claim(owner: string, now: number, leaseMs: number, limit: number): Promise<Delivery[]> {
    const { rows } = await this.#q<DeliveryRow & pg.QueryResultRow>(
      'claim webhook deliveries',
      `UPDATE ${this.#t.deliveries} SET lease_owner = $1, lease_until = $2
       WHERE id IN (SELECT id FROM ${this.#t.deliveries} WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3
                    ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING ${DELIVERY_COLUMNS}`,
      [owner, now + leaseMs, now, limit],
    );
    return rows.map(deliveryFromRow);
  }
  async finish(id: string, owner: string, r: Finish): Promise<boolean> {
    const a = r.attempt;
    const { rows } = await this.#q<{ n: string }>(
      'record a webhook attempt',
      `WITH a AS (INSERT INTO ${this.#t.attempts} (delivery_id, attempt, at, status, error, duration_ms, replica) VALUES ($1, $2, $3, $4, $5, $6, $7)),
            u AS (UPDATE ${this.#t.deliveries} SET status = $8, attempts = attempts + 1, next_attempt_at = $9, last_attempt_at = $3,
                    last_status = $4, last_error = $5, delivered_at = CASE WHEN $8 = 'delivered' THEN $3 ELSE delivered_at END,
                    lease_owner = NULL, lease_until = 0
                  WHERE id = $10 AND lease_owner = $11 RETURNING id)
       SELECT count(*) AS n FROM u`,
      [
        a.deliveryId,
        a.attempt,
        a.at,
        a.status,
        a.error,
        a.durationMs,
        a.replica,
        r.status,
        r.nextAttemptAt,
        id,
        owner,
      ],
    );
    return Number(rows[0]?.n) === 1;
  }
  async listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    const params: unknown[] = [];
    const w = where(q, (v) => {
      params.push(v);
      return `$${params.length}`;
    });
    params.push(q.limit ?? 100);
    const { rows } = await this.#q<DeliveryRow & pg.QueryResultRow>(
      'list webhook deliveries',
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} ${w} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(deliveryFromRow);
  }
  async getDelivery(id: string): Promise<Delivery | null> {
    const { rows } = await this.#q<DeliveryRow & pg.QueryResultRow>(
      'read a webhook delivery',
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE id = $1`,
      [id],
    );
    return rows[0] ? deliveryFromRow(rows[0]) : null;
  }
  async attempts(deliveryId: string): Promise<Attempt[]> {
    const { rows } = await this.#q<AttemptRow & pg.QueryResultRow>(
      'read webhook attempts',
      `SELECT * FROM ${this.#t.attempts} WHERE delivery_id = $1 ORDER BY seq`,
      [deliveryId],
    );
    return rows.map(attemptFromRow);
  }
  async redeliver(idOrEventId: string, now: number): Promise<Delivery[]> {
    const { rows } = await this.#q<DeliveryRow & pg.QueryResultRow>(
      'schedule a redelivery',
      `UPDATE ${this.#t.deliveries} SET status = 'pending', next_attempt_at = $1, retry_from = $1
       WHERE id = $2 OR event_id = $2 RETURNING ${DELIVERY_COLUMNS}`,
      [now, idOrEventId],
    );
    return rows.map(deliveryFromRow);
  }
  async prune(before: number): Promise<number> {
    const { rows } = await this.#q<{ n: string }>(
      'prune webhook deliveries',
      `WITH d AS (DELETE FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < $1 RETURNING id),
            a AS (DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM d))
       SELECT count(*) AS n FROM d`,
      [before],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
