import type { LeaseGrant } from '../store.js';
import type { LeaseTable } from '../table-store.js';
import type { PgRunner } from './runner.js';

/**
 * The refresh lease as a row, in one statement: taken if free, expired or already the owner's
 * (a renewal); its expiry computed by the database clock, so machines with skewed clocks agree.
 */
async function acquire(
  runner: PgRunner,
  id: string,
  owner: string,
  ttlMs: number,
  since?: number,
): Promise<LeaseGrant | null> {
  const { rows } = await runner.query<{
    taken: boolean;
    prev_owner: string | null;
    prev_since: string | null;
  }>(
    'take the refresh lease',
    `WITH prev AS (SELECT owner, since FROM baton_leases WHERE id = $1),
          up AS (
            INSERT INTO baton_leases (id, owner, expires_at, since)
            VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000),
                    COALESCE($4::bigint, (extract(epoch FROM now()) * 1000)::bigint))
            ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
              since = CASE WHEN baton_leases.owner = EXCLUDED.owner THEN baton_leases.since ELSE EXCLUDED.since END
            WHERE baton_leases.expires_at <= now() OR baton_leases.owner = EXCLUDED.owner
            RETURNING owner)
     SELECT EXISTS (SELECT 1 FROM up) AS taken, (SELECT owner FROM prev) AS prev_owner, (SELECT since FROM prev) AS prev_since`,
    [id, owner, ttlMs, since === undefined ? null : Math.round(since)],
  );
  const row = rows[0];
  if (!row?.taken) return null;
  const prev = row.prev_owner;
  return {
    takenOver:
      prev !== null && prev !== owner ? { owner: prev, since: Number(row.prev_since ?? Date.now()) } : null,
  };
}

async function release(runner: PgRunner, id: string, owner: string): Promise<void> {
  await runner.query('release the refresh lease', 'DELETE FROM baton_leases WHERE id = $1 AND owner = $2', [
    id,
    owner,
  ]);
}

export function pgLeases(runner: PgRunner): LeaseTable {
  return {
    acquire: (id, owner, ttlMs, since) => acquire(runner, id, owner, ttlMs, since),
    release: (id, owner) => release(runner, id, owner),
  };
}
