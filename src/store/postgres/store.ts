import type pg from 'pg';
import { TableStore } from '../table-store.js';
import { PgConnections } from './connections.js';
import { PgChangeFeed } from './feed.js';
import { pgLeases } from './leases.js';
import { pgMetadata } from './metadata.js';
import { migratePostgres } from './migrator.js';
import { pgOutbox } from './outbox.js';
import { PgPendingAuthorizations } from './pending.js';
import { pgRegistrations } from './registrations.js';
import { PgRunner, type PgRunnerOptions } from './runner.js';
import { CORE_TRACK } from './schema.js';

export type PostgresStoreOptions = PgRunnerOptions;

/**
 * PostgreSQL carries Baton across processes and machines: CAS on the version column, the
 * refresh lease as a row whose expiry is computed by the database clock (so machines with
 * skewed clocks agree), and LISTEN/NOTIFY so every process drops a stale cached token as soon
 * as another commits. Its tables are modules over one runner (`runner.ts`), which the server's
 * own tables share through `engine`: one pool per process.
 */
export class PostgresStore extends TableStore {
  readonly kind = 'postgres' as const;
  readonly #runner: PgRunner;
  readonly #feed: PgChangeFeed;

  private constructor(runner: PgRunner, feed: PgChangeFeed) {
    super({
      engine: { kind: 'postgres', runner },
      connections: new PgConnections(runner, feed),
      leases: pgLeases(runner),
      pending: new PgPendingAuthorizations(runner),
      feed,
      outbox: pgOutbox(runner),
      serverMetadata: pgMetadata(runner),
      clientRegistrations: pgRegistrations(runner),
    });
    this.#runner = runner;
    this.#feed = feed;
  }

  static async open(target: string | pg.Pool, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const runner = PgRunner.create(target, options);
    try {
      await migratePostgres(runner, CORE_TRACK);
    } catch (err) {
      await runner.close();
      throw err;
    }
    return new PostgresStore(runner, new PgChangeFeed(runner));
  }

  /** Names the database and schema (no password) for the rescue journal. */
  get location(): string {
    return this.#runner.location;
  }

  /** Applies the connections' pending migrations (done at open). */
  migrate(): Promise<void> {
    return migratePostgres(this.#runner, CORE_TRACK);
  }

  /** Resolves once the LISTEN session is up (tests and benchmarks wait on it). */
  listening(timeoutMs?: number): Promise<boolean> {
    return this.#feed.listening(timeoutMs);
  }

  async close(): Promise<void> {
    await this.#feed.close();
    await this.#runner.close();
  }
}
