import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pino from 'pino';
import { CONTROL_CHARS } from '../core/ids.js';
import { redact } from '../errors.js';
import type { RequestState } from './auth.js';
import type { Metrics } from './metrics.js';
import type { AuditRow, ServerStore } from './server-store.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The operation a route's audit row names; a route without it writes no row. */
    audit?: string;
  }
  interface FastifyReply {
    /** The request's outcome when it is more than ok / error: a problem's code, what cut a stream. */
    batonCode?: string;
  }
}

export interface AuditOptions {
  /** How long rows are kept. Default 90 days. */
  retentionMs?: number;
  /** Rows are written in batches at least this often. Default 200 ms. */
  flushMs?: number;
  /** Rows kept while the store is unreachable; beyond this the oldest are dropped (and counted). Default 100 000. */
  maxQueued?: number;
  /** How long `close` keeps trying to write what is queued while the store is unreachable. Default 3 s. */
  closeTimeoutMs?: number;
}

/** What the audit writer reports: a row dropped (with why), a batch that must wait for the store. */
export interface AuditEvents {
  /** A row that could not be written: the store refused it while answering, or the queue overflowed. */
  dropped(row: AuditRow, reason: 'refused' | 'overflow' | 'shutdown', err?: unknown): void;
  /** The store could not be reached; the rows are kept and written again. */
  failed(err: unknown): void;
}

const PRUNE_EVERY_MS = 3_600_000;

/**
 * Errors that say the store cannot take any row now, whatever the row: SQLite busy, locked,
 * I/O, full or read-only; PostgreSQL connection (08), resources (53), operator intervention
 * and statement timeout (57), rollback (40), lock not available (55); a socket error.
 */
function unavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|NOMEM)/.test(code)) return true;
    if (/^(08|53|57|40|55)[0-9A-Z]{3}$/.test(code)) return true;
    if (/^E[A-Z]+$/.test(code) && code !== 'ERR') return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** Longest text kept per column; what is longer is cut (with "…"). */
const LIMITS = {
  requestId: 64,
  keyName: 64,
  connectionId: 200,
  provider: 100,
  operation: 40,
  outcome: 64,
  detail: 500,
};

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A value as a row may hold it: well-formed UTF-16 (a lone surrogate becomes U+FFFD), every
 * control character as a visible `\uXXXX`, redacted, at most `max` characters.
 */
export function auditText(value: string | null, max: number): string | null {
  if (value === null || value === undefined) return null;
  let text = String(value)
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  text = redact(text);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A row normalised so that any engine can store it, whatever a caller sent (README, "Audit"). */
export function normaliseRow(row: AuditRow): AuditRow {
  return {
    at: Number.isFinite(row.at) ? Math.trunc(row.at) : Date.now(),
    requestId: auditText(row.requestId, LIMITS.requestId) ?? '',
    keyName: auditText(row.keyName, LIMITS.keyName),
    connectionId: auditText(row.connectionId, LIMITS.connectionId),
    provider: auditText(row.provider, LIMITS.provider),
    operation: auditText(row.operation, LIMITS.operation) ?? '',
    outcome: auditText(row.outcome, LIMITS.outcome) ?? '',
    status: Number.isInteger(row.status) ? row.status : 0,
    detail: auditText(row.detail, LIMITS.detail),
  };
}

/**
 * The audit log's writer. Rows are normalised and queued, and written in one statement per
 * batch (every `flushMs`, or at 500 rows), so auditing costs a request nothing but a push.
 * A batch the store refuses is written row by row: its rows are written, and a row the store
 * refuses while it answers is dropped, reported and counted — never retried forever, never
 * holding the rows behind it. While the store is unreachable rows are kept (up to `maxQueued`)
 * and written when it is back. `close` writes what is queued, retrying for a few seconds.
 * Rows older than the retention are pruned about once an hour.
 */
export class AuditLog {
  readonly #store: ServerStore;
  readonly #retentionMs: number;
  readonly #maxQueued: number;
  readonly #closeTimeoutMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #events: AuditEvents;
  #queue: AuditRow[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #lastPrune = 0;

  constructor(store: ServerStore, options: AuditOptions, events: AuditEvents) {
    this.#store = store;
    this.#retentionMs = options.retentionMs ?? 90 * 86_400_000;
    this.#maxQueued = options.maxQueued ?? 100_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 3000;
    this.#events = events;
    this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 200);
    this.#timer.unref();
  }

  /** Rows waiting to be written. */
  get queued(): number {
    return this.#queue.length;
  }

  record(row: AuditRow): void {
    this.#queue.push(normaliseRow(row));
    if (this.#queue.length > this.#maxQueued) {
      for (const r of this.#queue.splice(0, this.#queue.length - this.#maxQueued))
        this.#events.dropped(r, 'overflow');
    }
    if (this.#queue.length >= 500) void this.flush();
  }

  /** Writes what is queued; rows the store could not take because it was unreachable are kept for the next flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const rows = this.#queue;
      if (rows.length > 0) {
        this.#queue = [];
        const kept = await this.#write(rows);
        if (kept.length > 0) this.#queue = kept.concat(this.#queue);
      }
      if (Date.now() - this.#lastPrune > PRUNE_EVERY_MS) {
        this.#lastPrune = Date.now();
        await this.#store.pruneAudit(Date.now() - this.#retentionMs).catch((err) => this.#events.failed(err));
      }
    });
    return this.#flushing;
  }

  /** Writes rows; returns those to keep (the store was unreachable). */
  async #write(rows: AuditRow[]): Promise<AuditRow[]> {
    try {
      await this.#store.appendAudit(rows);
      return [];
    } catch (err) {
      if (!(await this.#answers(err))) {
        this.#events.failed(err);
        return rows;
      }
    }
    // The store answers but refused the batch: one row of it is poisoned. Row by row, the
    // others are written; a row refused while the store still answers is dropped.
    const kept: AuditRow[] = [];
    for (const [i, row] of rows.entries()) {
      try {
        await this.#store.appendAudit([row]);
      } catch (err) {
        if (await this.#answers(err)) this.#events.dropped(row, 'refused', err);
        else {
          this.#events.failed(err);
          return kept.concat(rows.slice(i));
        }
      }
    }
    return kept;
  }

  /**
   * Whether a refused write is the row's fault: the store answers a read and the error is not
   * one of being busy, locked, out of resources or unreachable (those keep the row).
   */
  async #answers(err?: unknown): Promise<boolean> {
    if (unavailable(err)) return false;
    try {
      await this.#store.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the timer and writes what is queued, trying again for up to `closeTimeoutMs` while the store is unreachable. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const until = Date.now() + this.#closeTimeoutMs;
    await this.flush();
    while (this.#queue.length > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      await this.flush();
    }
    for (const row of this.#queue.splice(0)) this.#events.dropped(row, 'shutdown');
  }
}

/** The audit writer's reports: to the log, and dropped rows to their metric. */
export function auditEvents(logger: FastifyBaseLogger, metrics: Metrics): AuditEvents {
  return {
    failed: (err) =>
      logger.error(
        { err },
        'audit rows could not be written (store unreachable); they are kept and written again',
      ),
    dropped: (row, reason, err) => {
      metrics.auditDropped.inc({ reason });
      logger.error(
        { err, requestId: row.requestId, operation: row.operation, status: row.status, reason },
        'an audit row could not be written and was dropped; the rows around it were written',
      );
    },
  };
}

/** The path of a URL for logs and the audit log: no query string, redacted. */
export function pathOnly(url: string): string {
  let end = url.indexOf('?');
  const hash = url.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  return redact(end === -1 ? url : url.slice(0, end));
}

/**
 * A request's end, once: its audit row (for a route with `audit` in its config), its metric and
 * its log line. Every release, proxied call and management action is a row in the audit log;
 * the log gets a line per refused or failed request at info, and per request at debug. Returns
 * the same step for a response that ends without fastify's onResponse (a proxied stream cut).
 */
export function auditRequests(
  app: FastifyInstance,
  audit: AuditLog,
  metrics: Metrics,
): (req: FastifyRequest, reply: FastifyReply) => void {
  const finish = (req: FastifyRequest, reply: FastifyReply) => {
    const st: RequestState | undefined = req.batonState;
    if (st?.finished) return;
    if (st) st.finished = true;
    const auditOp = req.routeOptions.config.audit;
    const outcome = reply.batonCode ?? (reply.statusCode < 400 ? 'ok' : 'error');
    if (auditOp && st) {
      audit.record({
        at: Date.now(),
        requestId: req.id,
        keyName: st.caller?.key.name ?? null,
        connectionId: st.connectionId,
        provider: st.provider,
        operation: auditOp,
        outcome,
        status: reply.statusCode,
        detail: st.detail,
      });
    }
    if (auditOp === 'token') metrics.releases.inc({ status: String(reply.statusCode) });
    else if (auditOp === 'proxy') metrics.proxied.inc({ status: String(reply.statusCode) });
    else if (auditOp === 'mcp') metrics.mcp.inc({ status: String(reply.statusCode) });
    const level = reply.statusCode >= 400 ? 'info' : 'debug';
    if (!(req.log as pino.Logger).isLevelEnabled(level)) return;
    req.log[level](
      {
        method: req.method,
        path: pathOnly(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        key: st?.caller?.key.name,
        connection: st?.connectionId ?? undefined,
        outcome,
      },
      'request',
    );
  };
  app.addHook('onResponse', async (req, reply) => finish(req, reply));
  return finish;
}
