import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { request } from 'undici';
import type { WebhookEvent } from '../../core/outbox.js';
import { redact } from '../../errors.js';
import type { Sealer } from '../../store/sealer.js';
import type { OutboxReader } from '../../store/store.js';
import { Scope } from '../keys.js';
import { afterFailure, DEFAULT_BACKOFF, type DeliveryBackoff } from './backoff.js';
import { endpointSecret } from './endpoints.js';
import { signWebhook } from './signature.js';
import type { Delivery, NewDelivery, WebhookEndpoint, WebhookStore } from './store.js';

export interface DelivererOptions {
  /** How often to look for due deliveries when nothing wakes the deliverer. Default 1 s. */
  pollMs?: number;
  /** Per attempt: the receiver must answer within this. Default 10 s. */
  timeoutMs?: number;
  retry?: Partial<DeliveryBackoff>;
  /** Attempts in flight at once per replica. Default 8. */
  concurrency?: number;
  /** Delivered and dead deliveries are pruned after this. Default 30 days. */
  retentionMs?: number;
}

/** The events whose deliveries carry a reconnect link (README, "Webhooks"). */
const RECONNECT_EVENTS: ReadonlySet<string> = new Set([
  'connection.refresh_failed',
  'connection.revoked',
  'connection.expiring',
]);

export interface DelivererParts {
  store: WebhookStore;
  outbox: OutboxReader | undefined;
  sealer: Sealer;
  logger: FastifyBaseLogger;
  /**
   * A reconnect link for a connection valid `ttlMs`, or null (no connect pages, or the connection
   * is gone). `active`: also for a connection that still works (its grant's end is near).
   */
  reconnectLink(
    connectionId: string,
    ttlMs: number,
    options?: { active?: boolean },
  ): Promise<{ url: string; expiresAt: number } | null>;
  onAttempt?(outcome: 'delivered' | 'failed' | 'dead'): void;
}

/**
 * Hands outbox events on as deliveries and delivers them (README, "Webhooks"): at least once,
 * from any replica, one attempt at a time per event and endpoint (a lease in the store), with
 * backoff and jitter until the retry window is over, then `dead`. Every attempt is logged.
 */
export class WebhookDeliverer {
  readonly #parts: DelivererParts;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #backoff: DeliveryBackoff;
  readonly #concurrency: number;
  readonly #retentionMs: number;
  /** Names this replica in leases and the attempt log. */
  readonly replica = `${process.pid}:${randomBytes(6).toString('base64url')}`;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #lastPrune = 0;

  constructor(parts: DelivererParts, options: DelivererOptions = {}) {
    this.#parts = parts;
    this.#pollMs = options.pollMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.retry };
    this.#concurrency = options.concurrency ?? 8;
    this.#retentionMs = options.retentionMs ?? 30 * 86_400_000;
  }

  start(): void {
    this.#timer = setInterval(() => this.wake(), this.#pollMs);
    this.#timer.unref();
    this.wake();
  }

  #nudge: NodeJS.Timeout | null = null;

  /** A store write happened: run a pass soon (writes in a burst share one). */
  nudge(): void {
    if (this.#nudge || this.#closed) return;
    this.#nudge = setTimeout(() => {
      this.#nudge = null;
      this.wake();
    }, 100);
    this.#nudge.unref();
  }

  /** Runs a pass now (or right after the one running). */
  wake(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.pass();
      } catch (err) {
        this.#parts.logger.warn({ err }, 'webhook pass failed; it runs again shortly');
      }
    } while (this.#again && !this.#closed);
  }

  /** One pass: dispatch the outbox, then attempt every due delivery this replica can lease. */
  async pass(): Promise<void> {
    await this.dispatch();
    for (;;) {
      if (this.#closed) return;
      const now = Date.now();
      const due = await this.#parts.store.claim(
        this.replica,
        now,
        this.#timeoutMs * 3 + 5_000,
        this.#concurrency,
      );
      if (due.length === 0) break;
      const endpoints = new Map((await this.#parts.store.listEndpoints()).map((e) => [e.id, e]));
      await Promise.all(due.map((d) => this.#attempt(d, endpoints.get(d.endpointId) ?? null)));
      if (due.length < this.#concurrency) break;
    }
    if (Date.now() - this.#lastPrune > 3_600_000) {
      this.#lastPrune = Date.now();
      await this.#parts.store.prune(Date.now() - this.#retentionMs);
    }
  }

  /**
   * Outbox events become one delivery per matching endpoint, then leave the outbox. Replicas
   * may do this together: a delivery exists once per (event, endpoint), so a second dispatch
   * of the same event adds nothing.
   */
  async dispatch(): Promise<number> {
    const outbox = this.#parts.outbox;
    if (!outbox) return 0;
    let total = 0;
    for (;;) {
      const events = await outbox.pending(200);
      if (events.length === 0) return total;
      const endpoints = (await this.#parts.store.listEndpoints()).map((e) => ({
        e,
        scope: new Scope(e.allow),
      }));
      const deliveries: NewDelivery[] = [];
      for (const ev of events) {
        let provider: string | null = null;
        try {
          provider = (JSON.parse(ev.payload) as WebhookEvent).data.connection.provider;
        } catch {
          provider = null;
        }
        for (const { e, scope } of endpoints) {
          if (!e.events.includes('*') && !e.events.includes(ev.type)) continue;
          if (!scope.allows(ev.connectionId, provider)) continue;
          deliveries.push({
            id: `dlv_${randomBytes(12).toString('base64url')}`,
            eventId: ev.id,
            eventType: ev.type,
            connectionId: ev.connectionId,
            endpointId: e.id,
            payload: await this.#body(ev.type, ev.connectionId, ev.payload),
            createdAt: ev.createdAt,
          });
        }
      }
      total += await this.#parts.store.enqueue(deliveries, Date.now());
      await outbox.remove(events.map((e) => e.id));
      if (events.length < 200) return total;
    }
  }

  async #attempt(d: Delivery, endpoint: WebhookEndpoint | null): Promise<void> {
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      if (!endpoint) throw new Error('the endpoint was removed');
      // The body was fixed when the delivery was written: every attempt and every redelivery
      // sends the same bytes (README, "Webhooks").
      const body = d.payload;
      const secret = endpointSecret(this.#parts.sealer, endpoint);
      const res = await request(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Baton-Webhooks/1',
          'baton-signature': signWebhook(secret, body, Math.floor(Date.now() / 1000)),
          'baton-event-id': d.eventId,
          'baton-event-type': d.eventType,
          'baton-delivery-id': d.id,
        },
        body,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = res.statusCode;
      await res.body.dump().catch(() => undefined);
      if (status < 200 || status >= 300) error = `the receiver answered HTTP ${status}`;
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string };
      error = redact(
        `no answer: ${e.code ?? e.name ?? 'error'}${e.message ? ` (${e.message.slice(0, 120)})` : ''}`,
      );
    }
    const now = Date.now();
    const attempt = {
      deliveryId: d.id,
      attempt: d.attempts + 1,
      at: started,
      status,
      error,
      durationMs: now - started,
      replica: this.replica,
    };
    const outcome =
      error === null
        ? { status: 'delivered' as const, nextAttemptAt: now }
        : afterFailure(d.attempts + 1, d.retryFrom, now, Math.random(), this.#backoff);
    await this.#parts.store.finish(d.id, this.replica, { attempt, ...outcome });
    this.#parts.onAttempt?.(error === null ? 'delivered' : outcome.status === 'dead' ? 'dead' : 'failed');
    if (error !== null) {
      this.#parts.logger[outcome.status === 'dead' ? 'error' : 'warn'](
        {
          delivery: d.id,
          event: d.eventId,
          endpoint: d.endpointId,
          attempt: attempt.attempt,
          status,
          error,
          next: outcome.status === 'dead' ? null : new Date(outcome.nextAttemptAt).toISOString(),
        },
        outcome.status === 'dead'
          ? 'webhook delivery is dead'
          : 'webhook delivery failed; it will be retried',
      );
    }
  }

  /**
   * The body a delivery sends, fixed when the delivery is written: the stored event, plus a
   * reconnect link where the event calls for one. The link is this delivery's own (a connect
   * link is single-use) and stays valid for the retry window, the event's lifetime.
   */
  async #body(type: string, connectionId: string, payload: string): Promise<string> {
    if (!RECONNECT_EVENTS.has(type)) return payload;
    const event = JSON.parse(payload) as WebhookEvent;
    // An expiring connection still works: its link authorizes it again before the grant ends.
    const active = type === 'connection.expiring';
    const link = await this.#parts
      .reconnectLink(connectionId, this.#backoff.windowMs, { active })
      .catch(() => null);
    if (!link) return payload;
    return JSON.stringify({ ...event, data: { ...event.data, reconnect: link } });
  }

  /** Stops polling and waits (bounded) for the attempts in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#nudge) clearTimeout(this.#nudge);
    const running = this.#running;
    if (running) {
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        running,
        new Promise((r) => {
          bound = setTimeout(r, this.#timeoutMs + 1000);
          bound.unref();
        }),
      ]);
      clearTimeout(bound);
    }
  }
}
