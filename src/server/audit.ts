import type { AuditRow, ServerStore } from './server-store.js';

export interface AuditOptions {
  /** How long rows are kept. Default 90 days. */
  retentionMs?: number;
  /** Rows are written in batches at least this often. Default 200 ms. */
  flushMs?: number;
}

const PRUNE_EVERY_MS = 3_600_000;

/**
 * The audit log's writer. Rows are queued and written in one statement per batch (every
 * `flushMs`, or at 500 rows), so auditing costs a request nothing but a push; `close` writes
 * what is queued. Rows older than the retention are pruned about once an hour.
 */
export class AuditLog {
  readonly #store: ServerStore;
  readonly #retentionMs: number;
  readonly #timer: NodeJS.Timeout;
  #queue: AuditRow[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #lastPrune = 0;
  #onError: (err: unknown) => void;

  constructor(store: ServerStore, options: AuditOptions, onError: (err: unknown) => void) {
    this.#store = store;
    this.#retentionMs = options.retentionMs ?? 90 * 86_400_000;
    this.#onError = onError;
    this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 200);
    this.#timer.unref();
  }

  record(row: AuditRow): void {
    this.#queue.push(row);
    if (this.#queue.length >= 500) void this.flush();
  }

  /** Writes what is queued; a failed batch is put back and tried again on the next flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const rows = this.#queue;
      if (rows.length > 0) {
        this.#queue = [];
        try {
          await this.#store.appendAudit(rows);
        } catch (err) {
          this.#queue = rows.concat(this.#queue).slice(-100_000);
          this.#onError(err);
        }
      }
      if (Date.now() - this.#lastPrune > PRUNE_EVERY_MS) {
        this.#lastPrune = Date.now();
        await this.#store.pruneAudit(Date.now() - this.#retentionMs).catch(this.#onError);
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
