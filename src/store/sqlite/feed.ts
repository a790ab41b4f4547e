import type { StoreChangeListener } from '../store.js';
import type { SqliteRunner } from './runner.js';

/** How often a subscribed store asks SQLite whether another connection wrote the file. */
const POLL_MS = 250;
const CHANGE_LOG_KEEP_MS = 60_000;

/**
 * The change feed on SQLite: every write leaves a `change_log` row (triggers); this process's
 * own writes reach its listeners at once, other processes' when `PRAGMA data_version` says the
 * file changed. A reader that fell behind the pruned log drops everything (`null`).
 */
export class SqliteChangeFeed {
  readonly #runner: SqliteRunner;
  readonly #listeners = new Set<StoreChangeListener>();
  #poll: NodeJS.Timeout | null = null;
  #dataVersion = 0;
  #seenSeq = 0;
  #writes = 0;

  constructor(runner: SqliteRunner) {
    this.#runner = runner;
  }

  subscribe(listener: StoreChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#poll && this.#runner.open) {
      this.#dataVersion = this.#readDataVersion() ?? 0;
      this.#seenSeq =
        this.#runner.attempt(
          (db) => (db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM change_log').get() as { s: number }).s,
        ) ?? 0;
      this.#poll = setInterval(() => this.poll(), POLL_MS);
      this.#poll.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#poll) {
        clearInterval(this.#poll);
        this.#poll = null;
      }
    };
  }

  /** Tells listeners what other connections wrote since the last look; cheap when nothing changed. */
  poll(): void {
    if (this.#listeners.size === 0) return;
    // Busy or gone: the next tick looks again.
    this.#runner.attempt((db) => {
      const dataVersion = db.pragma('data_version', { simple: true }) as number;
      if (dataVersion === this.#dataVersion) return;
      const rows = db
        .prepare('SELECT seq, id, version FROM change_log WHERE seq > ? ORDER BY seq')
        .all(this.#seenSeq) as { seq: number; id: string; version: number | null }[];
      const first = rows[0];
      const gap =
        first !== undefined &&
        first.seq > this.#seenSeq + 1 &&
        (db.prepare('SELECT MIN(seq) AS s FROM change_log').get() as { s: number }).s > this.#seenSeq + 1;
      this.#dataVersion = dataVersion;
      if (first !== undefined) this.#seenSeq = (rows[rows.length - 1] as { seq: number }).seq;
      if (gap) this.#emit(null, null);
      else for (const r of rows) this.#emit(r.id, r.version);
    });
  }

  /** This process's own write: its listeners hear it at once; the change log carries it to others. */
  wrote(id: string, version: number | null): void {
    this.#emit(id, version);
    if (++this.#writes % 64 === 0) {
      // Pruning is housekeeping; the next write tries again.
      this.#runner.attempt((db) =>
        db.prepare('DELETE FROM change_log WHERE at < ?').run(Date.now() - CHANGE_LOG_KEEP_MS),
      );
    }
  }

  close(): void {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    this.#listeners.clear();
  }

  #readDataVersion(): number | undefined {
    return this.#runner.attempt((db) => db.pragma('data_version', { simple: true }) as number);
  }

  #emit(id: string | null, version: number | null): void {
    for (const l of this.#listeners) {
      try {
        l(id, version);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}
