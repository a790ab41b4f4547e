import type pg from 'pg';
import type { PgRunner } from '../../store/postgres/runner.js';
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

/** The webhook tables on PostgreSQL, on the connection store's pool. */
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

export class PostgresWebhookStore implements WebhookStore {
  readonly #runner: PgRunner;
  readonly #t: Names = {
    endpoints: 'baton_server_webhook_endpoints',
    deliveries: 'baton_server_webhook_deliveries',
    attempts: 'baton_server_webhook_attempts',
  };

  constructor(runner: PgRunner) {
    this.#runner = runner;
  }

  async createEndpoint(e: WebhookEndpoint): Promise<void> {
    await this.#runner.query(
      'create a webhook endpoint',
      `INSERT INTO ${this.#t.endpoints} (id, url, events, allow, description, secret_sealed, secret_prefix, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      endpointValues(e),
    );
  }
  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const { rows } = await this.#runner.query<EndpointRow & pg.QueryResultRow>(
      'list webhook endpoints',
      `SELECT * FROM ${this.#t.endpoints} ORDER BY created_at, id`,
    );
    return rows.map(endpointFromRow);
  }
  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const { rows } = await this.#runner.query<EndpointRow & pg.QueryResultRow>(
      'read a webhook endpoint',
      `SELECT * FROM ${this.#t.endpoints} WHERE id = $1`,
      [id],
    );
    return rows[0] ? endpointFromRow(rows[0]) : null;
  }
  async deleteEndpoint(id: string): Promise<boolean> {
    const { rows } = await this.#runner.query<{ n: string }>(
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
    const r = await this.#runner.query(
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
    const { rows } = await this.#runner.query<DeliveryRow & pg.QueryResultRow>(
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
    const { rows } = await this.#runner.query<{ n: string }>(
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
    const w = deliveryWhere(q, (v) => {
      params.push(v);
      return `$${params.length}`;
    });
    params.push(q.limit ?? 100);
    const { rows } = await this.#runner.query<DeliveryRow & pg.QueryResultRow>(
      'list webhook deliveries',
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} ${w} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(deliveryFromRow);
  }
  async getDelivery(id: string): Promise<Delivery | null> {
    const { rows } = await this.#runner.query<DeliveryRow & pg.QueryResultRow>(
      'read a webhook delivery',
      `SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE id = $1`,
      [id],
    );
    return rows[0] ? deliveryFromRow(rows[0]) : null;
  }
  async attempts(deliveryId: string): Promise<Attempt[]> {
    const { rows } = await this.#runner.query<AttemptRow & pg.QueryResultRow>(
      'read webhook attempts',
      `SELECT * FROM ${this.#t.attempts} WHERE delivery_id = $1 ORDER BY seq`,
      [deliveryId],
    );
    return rows.map(attemptFromRow);
  }
  async redeliver(idOrEventId: string, now: number): Promise<Delivery[]> {
    const { rows } = await this.#runner.query<DeliveryRow & pg.QueryResultRow>(
      'schedule a redelivery',
      `UPDATE ${this.#t.deliveries} SET status = 'pending', next_attempt_at = $1, retry_from = $1
       WHERE id = $2 OR event_id = $2 RETURNING ${DELIVERY_COLUMNS}`,
      [now, idOrEventId],
    );
    return rows.map(deliveryFromRow);
  }
  async prune(before: number): Promise<number> {
    const { rows } = await this.#runner.query<{ n: string }>(
      'prune webhook deliveries',
      `WITH d AS (DELETE FROM ${this.#t.deliveries} WHERE status <> 'pending' AND created_at < $1 RETURNING id),
            a AS (DELETE FROM ${this.#t.attempts} WHERE delivery_id IN (SELECT id FROM d))
       SELECT count(*) AS n FROM d`,
      [before],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
