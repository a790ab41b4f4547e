/**
 * The webhook tables (README, "Webhooks"): endpoints, one delivery row per event and endpoint,
 * and the log of every attempt. They live with the server's other tables (same SQLite file or
 * PostgreSQL schema, the server's migration track); the engines' tables are in `sqlite-store.ts`
 * and `postgres-store.ts`. A delivery is claimed with a lease, so one
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

export interface EndpointRow {
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
export function endpointValues(e: WebhookEndpoint): unknown[] {
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

export function endpointFromRow(r: EndpointRow): WebhookEndpoint {
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

export interface DeliveryRow {
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

export function deliveryFromRow(r: DeliveryRow): Delivery {
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

export interface AttemptRow {
  delivery_id: string;
  attempt: number | string;
  at: number | string;
  status: number | string | null;
  error: string | null;
  duration_ms: number | string;
  replica: string;
}

export function attemptFromRow(r: AttemptRow): Attempt {
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

export const DELIVERY_COLUMNS =
  'id, event_id, event_type, connection_id, endpoint_id, payload, status, attempts, next_attempt_at, retry_from, last_attempt_at, last_status, last_error, delivered_at, created_at';

/** The table names on each engine; everything else in the SQL is shared. */
export interface Names {
  endpoints: string;
  deliveries: string;
  attempts: string;
}

export function deliveryWhere(q: DeliveryQuery, p: (v: unknown) => string): string {
  const w: string[] = [];
  if (q.endpointId !== undefined) w.push(`endpoint_id = ${p(q.endpointId)}`);
  if (q.eventId !== undefined) w.push(`event_id = ${p(q.eventId)}`);
  if (q.connectionId !== undefined) w.push(`connection_id = ${p(q.connectionId)}`);
  if (q.status !== undefined) w.push(`status = ${p(q.status)}`);
  return w.length > 0 ? `WHERE ${w.join(' AND ')}` : '';
}
