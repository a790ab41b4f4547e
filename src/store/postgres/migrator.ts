import type pg from 'pg';
import type { PgRunner } from './runner.js';

/**
 * Applies numbered, append-only migrations in one transaction under an advisory lock, so
 * processes starting together agree; `table` records which versions ran. Used by the
 * connection store and by the server's own tables (each with its own track).
 *
 * A database already at the latest version — every open after the first — is answered by one
 * read of `table`, without the transaction or the lock: a version is recorded in the same
 * transaction as its migration, so seeing it means the migration is committed. Anything else
 * (behind, no schema or table yet, the read failing) takes the locked path, which re-reads the
 * version under the lock and reports its own errors.
 */
export async function applyPgMigrations(
  client: pg.PoolClient,
  opts: { schema: string; table: string; lock: number; migrations: readonly string[] },
): Promise<void> {
  const current = await client
    .query<{ v: number | null }>(`SELECT max(version) AS v FROM ${opts.schema}.${opts.table}`)
    .then(({ rows }) => rows[0]?.v ?? 0)
    .catch(() => 0);
  if (current >= opts.migrations.length) return;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [opts.lock]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`);
    await client.query(`SET LOCAL search_path = ${opts.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${opts.table} (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${opts.table}`);
    for (let i = rows[0]?.v ?? 0; i < opts.migrations.length; i++) {
      await client.query(opts.migrations[i] as string);
      await client.query(`INSERT INTO ${opts.table} (version) VALUES ($1)`, [i + 1]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A migration track: numbered, append-only migrations, the table recording them, and its advisory lock. */
export interface PgTrack {
  table: string;
  lock: number;
  migrations: readonly string[];
}

/** Applies a track's pending migrations in the runner's schema (`applyPgMigrations`). */
export function migratePostgres(runner: PgRunner, track: PgTrack): Promise<void> {
  return runner.withClient('apply migrations', (client) =>
    applyPgMigrations(client, { schema: runner.schema, ...track }),
  );
}

/** The last migration of the track that ran (0: none). */
export async function pgTrackVersion(runner: PgRunner, track: PgTrack, op: string): Promise<number> {
  const { rows } = await runner.query<{ v: number | null }>(
    op,
    `SELECT max(version) AS v FROM ${track.table}`,
  );
  return Number(rows[0]?.v ?? 0);
}
