import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BatonError, redact, StoreError } from '../../errors.js';
import { sqliteFailure } from '../db-errors.js';

/** A statement waits this long inside SQLite for another process's lock, blocking the event loop. */
const BUSY_SLICE_MS = 10;

export interface SqliteRunnerOptions {
  /**
   * How long an operation keeps retrying while another process holds the write lock. The wait
   * is asynchronous (short slices of `BUSY_SLICE_MS`), so the event loop never stalls. Default 5 s.
   */
  busyTimeoutMs?: number;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * The one place SQLite statements run: one connection to the file (WAL, `synchronous=FULL`),
 * shared by every table kept in it — the connections and, under `baton serve`, the server's.
 *
 * better-sqlite3 is synchronous, so a lock held by another process would freeze the event loop
 * for the whole busy timeout. Instead SQLite waits at most a few milliseconds per attempt and
 * the runner retries asynchronously (docs/architecture.md, "The shape, and why"). Every
 * failure leaves as a StoreError that says what to do, mapped here once.
 */
export class SqliteRunner {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;

  private constructor(path: string, db: Database.Database, options: SqliteRunnerOptions) {
    this.path = path;
    this.#db = db;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  }

  /** Opens (creating if needed) the file. */
  static async open(path: string, options: SqliteRunnerOptions = {}): Promise<SqliteRunner> {
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: BUSY_SLICE_MS });
    } catch (err) {
      throw failure(path, 'open', err);
    }
    const runner = new SqliteRunner(path, db, options);
    try {
      await runner.run('open', () => {
        db.pragma(`busy_timeout = ${BUSY_SLICE_MS}`);
        db.pragma('journal_mode = WAL');
        // A rotated refresh token must survive a power cut once committed.
        db.pragma('synchronous = FULL');
      });
    } catch (err) {
      db.close();
      throw err;
    }
    return runner;
  }

  get open(): boolean {
    return this.#db.open;
  }

  /**
   * Runs one synchronous operation; while another process holds the lock it is retried after
   * asynchronous pauses, up to the busy timeout. `op` completes "could not …" in the error.
   */
  async run<T>(op: string, fn: (db: Database.Database) => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return fn(this.#db);
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline || !this.#db.open) throw failure(this.path, op, err);
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /** `fn` in one `BEGIN IMMEDIATE` transaction (the write lock first: no upgrade to fail), retried whole while busy. */
  transaction<T>(op: string, fn: (db: Database.Database) => T): Promise<T> {
    return this.run(op, (db) => db.transaction(() => fn(db)).immediate());
  }

  /**
   * Once, now, without waiting or mapping: for housekeeping and polls that the next write or
   * tick repeats. Returns undefined when it failed (busy, closed).
   */
  attempt<T>(fn: (db: Database.Database) => T): T | undefined {
    if (!this.#db.open) return undefined;
    try {
      return fn(this.#db);
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function failure(path: string, op: string, err: unknown): StoreError | BatonError {
  // A typed error a table module threw on purpose (a duplicate name) passes as it is.
  if (err instanceof BatonError) return err;
  // Without a code (a native module that failed to load), the first line of the message says what.
  const code =
    (err as { code?: string }).code ??
    `error: ${redact(String((err as Error)?.message ?? err).split('\n')[0] ?? '').slice(0, 200)}`;
  const known = sqliteFailure(code, path);
  if (known) {
    return new StoreError(`The SQLite store at ${path} could not ${op}: ${known.what} (${code}).`, {
      cause: err,
      remediation: known.remediation,
      cliRemediation: known.cliRemediation,
    });
  }
  const busy = isBusy(err);
  return new StoreError(
    `The SQLite store at ${path} failed to ${op} (${code}${busy ? ': another process held the database too long' : ''}).`,
    {
      cause: err,
      remediation: busy
        ? 'Retry; if it persists, check for a process holding a long transaction on the file.'
        : `Check that ${path} exists, is writable and the disk is not full (\`baton doctor\`).`,
    },
  );
}
