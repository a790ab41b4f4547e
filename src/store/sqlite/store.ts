import { TableStore } from '../table-store.js';
import { SqliteConnections } from './connections.js';
import { SqliteChangeFeed } from './feed.js';
import { sqliteLeases } from './leases.js';
import { sqliteMetadata } from './metadata.js';
import { applySqliteMigrations } from './migrator.js';
import { sqliteOutbox } from './outbox.js';
import { SqlitePendingAuthorizations } from './pending.js';
import { sqliteRegistrations } from './registrations.js';
import { SqliteRunner, type SqliteRunnerOptions } from './runner.js';
import { CORE_TRACK } from './schema.js';

export type SqliteStoreOptions = SqliteRunnerOptions;

/**
 * The embedded default: one SQLite file in WAL mode, shared safely by every process on the
 * machine. Its tables are modules over one runner (`runner.ts`), which the server's own tables
 * share through `engine`: one connection to the file per process.
 */
export class SqliteStore extends TableStore {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  readonly #runner: SqliteRunner;
  readonly #feed: SqliteChangeFeed;

  private constructor(runner: SqliteRunner, feed: SqliteChangeFeed) {
    super({
      engine: { kind: 'sqlite', runner },
      connections: new SqliteConnections(runner, feed),
      leases: sqliteLeases(runner),
      pending: new SqlitePendingAuthorizations(runner),
      feed,
      outbox: sqliteOutbox(runner),
      serverMetadata: sqliteMetadata(runner),
      clientRegistrations: sqliteRegistrations(runner),
    });
    this.path = runner.path;
    this.#runner = runner;
    this.#feed = feed;
  }

  /** Opens (creating if needed) the file and applies pending migrations. */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const runner = await SqliteRunner.open(path, options);
    try {
      await applySqliteMigrations(runner, CORE_TRACK);
    } catch (err) {
      runner.close();
      throw err;
    }
    return new SqliteStore(runner, new SqliteChangeFeed(runner));
  }

  /** Names the database for the rescue journal. */
  get location(): string {
    return this.path;
  }

  /** The connections' migration track's version (0 when unreadable). */
  get schemaVersion(): number {
    return (
      this.#runner.attempt(
        (db) => (db.prepare(`SELECT MAX(version) AS v FROM ${CORE_TRACK.table}`).get() as { v: number }).v,
      ) ?? 0
    );
  }

  /** Tells listeners what other connections to the file wrote since the last look. */
  pollChanges(): void {
    this.#feed.poll();
  }

  async close(): Promise<void> {
    this.#feed.close();
    this.#runner.close();
  }
}
