import type { SqliteRunner } from '../../store/sqlite/runner.js';
import {
  type Attempt,
  type AttemptRow,
  attemptFromRow,
  DELIVERY_COLUMNS,
  type Delivery,
  type DeliveryQuery,
  type DeliveryRow,
  deliveryFromRow,
  deliveryWhere,
  type EndpointRow,
  endpointFromRow,
  endpointValues,
  type Finish,
  type Names,
  type NewDelivery,
  type WebhookEndpoint,
  type WebhookStore,
} from './store.js';

/** The webhook tables on SQLite, on the connection store's runner. */
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

export class SqliteWebhookStore implements WebhookStore {
  readonly #runner: SqliteRunner;
  readonly #t: Names = {
    endpoints: 'server_webhook_endpoints',
    deliveries: 'server_webhook_deliveries',
    attempts: 'server_webhook_attempts',
  };

  constructor(runner: SqliteRunner) {
    this.#runner = runner;
  }

  createEndpoint(e: WebhookEndpoint): Promise<void> {
    return this.#runner.run('create a webhook endpoint', (db) => {
      db.prepare(
        `INSERT INTO ${this.#t.endpoints} (id, url, events, allow, description, secret_sealed, secret_prefix, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(...endpointValues(e));
    });
  }
  listEndpoints(): Promise<WebhookEndpoint[]> {
    return this.#runner.run('list webhook endpoints', (db) =>
      (db.prepare(`SELECT * FROM ${this.#t.endpoints} ORDER BY created_at, id`).all() as EndpointRow[]).map(
        endpointFromRow,
      ),
    );
  }
  getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    return this.#runner.run('read a webhook endpoint', (db) => {
      const r = db.prepare(`SELECT * FROM ${this.#t.endpoints} WHERE id = ?`).get(id) as
        | EndpointRow
        | undefined;
      return r ? endpointFromRow(r) : null;
    });
  }
  deleteEndpoint(id: string): Promise<boolean> {
    return this.#runner.transaction('delete a webhook endpoint', (db) => {
      db.prepare(
        `DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM ${this.#t.deliveries} WHERE endpoint_id = ?)`,
      ).run(id);
      db.prepare(`DELETE FROM ${this.#t.deliveries} WHERE endpoint_id = ?`).run(id);
      return db.prepare(`DELETE FROM ${this.#t.endpoints} WHERE id = ?`).run(id).changes === 1;
    });
  }
  enqueue(deliveries: NewDelivery[], now: number): Promise<number> {
    if (deliveries.length === 0) return Promise.resolve(0);
    return this.#runner.transaction('queue webhook deliveries', (db) => {
      const insert = db.prepare(
        `INSERT INTO ${this.#t.deliveries} (id, event_id, event_type, connection_id, endpoint_id, payload, status, attempts, next_attempt_at, retry_from, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
      );
      return deliveries.reduce(
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
      );
    });
  }
  claim(owner: string, now: number, leaseMs: number, limit: number): Promise<Delivery[]> {
    return this.#runner.run('claim webhook deliveries', (db) =>
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
    return this.#runner.transaction('record a webhook attempt', (db) => {
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
    });
  }
  listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    return this.#runner.run('list webhook deliveries', (db) => {
      const params: unknown[] = [];
      const w = deliveryWhere(q, (v) => {
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
    return this.#runner.run('read a webhook delivery', (db) => {
      const r = db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE id = ?`).get(id) as
        | DeliveryRow
        | undefined;
      return r ? deliveryFromRow(r) : null;
    });
  }
  attempts(deliveryId: string): Promise<Attempt[]> {
    return this.#runner.run('read webhook attempts', (db) =>
      (
        db
          .prepare(`SELECT * FROM ${this.#t.attempts} WHERE delivery_id = ? ORDER BY seq`)
          .all(deliveryId) as AttemptRow[]
      ).map(attemptFromRow),
    );
  }
  redeliver(idOrEventId: string, now: number): Promise<Delivery[]> {
    return this.#runner.run('schedule a redelivery', (db) =>
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
    return this.#runner.transaction('prune webhook deliveries', (db) => {
      db.prepare(
        `DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < ?)`,
      ).run(before);
      return db
        .prepare(`DELETE FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < ?`)
        .run(before).changes;
    });
  }
}
