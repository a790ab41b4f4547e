import type { SqliteRunner } from './runner.js';

/**
 * A migration track: numbered, append-only migrations (a migration once released is never
 * edited) and the table that records which ran. The connections and the server's tables each
 * have their own, so they never interleave.
 */
export interface SqliteTrack {
  table: string;
  migrations: readonly string[];
}

const versionOf = (table: string) => `SELECT MAX(version) AS v FROM ${table}`;

/**
 * Applies a track's pending migrations in one `BEGIN IMMEDIATE` transaction, each recorded in
 * the track's table in that transaction. A file already current — every open after the first —
 * is answered by one read, with no write lock and no wait on other processes.
 */
export async function applySqliteMigrations(runner: SqliteRunner, track: SqliteTrack): Promise<void> {
  const current = await runner.run('apply migrations', (db) => {
    try {
      return (db.prepare(versionOf(track.table)).get() as { v: number | null }).v ?? 0;
    } catch {
      return 0; // No table yet: a new file.
    }
  });
  if (current >= track.migrations.length) return;
  await runner.run('apply migrations', (db) =>
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${track.table} (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
    ),
  );
  await runner.transaction('apply migrations', (db) => {
    const from = (db.prepare(versionOf(track.table)).get() as { v: number | null }).v ?? 0;
    const record = db.prepare(`INSERT INTO ${track.table} (version, applied_at) VALUES (?, ?)`);
    for (let i = from; i < track.migrations.length; i++) {
      db.exec(track.migrations[i] as string);
      record.run(i + 1, Date.now());
    }
  });
}

/** The last migration of the track that ran (0: none). */
export function sqliteTrackVersion(runner: SqliteRunner, track: SqliteTrack, op: string): Promise<number> {
  return runner.run(op, (db) => (db.prepare(versionOf(track.table)).get() as { v: number | null }).v ?? 0);
}
