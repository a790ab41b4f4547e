import type pg from 'pg';

/**
 * Applies numbered, append-only migrations in one transaction under an advisory lock, so
 * processes starting together agree; `table` records which versions ran. Used by the
 * connection store and by the server's own tables (each with its own track).
 */
export async function applyPgMigrations(
  client: pg.PoolClient,
  opts: { schema: string; table: string; lock: number; migrations: readonly string[] },
): Promise<void> {
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
