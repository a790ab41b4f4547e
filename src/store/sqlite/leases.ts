import type { LeaseGrant } from '../store.js';
import type { LeaseTable } from '../table-store.js';
import type { SqliteRunner } from './runner.js';

/** The refresh lease as a row: taken if free, expired or already the owner's (a renewal). */
function acquire(
  runner: SqliteRunner,
  id: string,
  owner: string,
  ttlMs: number,
  since?: number,
): Promise<LeaseGrant | null> {
  return runner.transaction('take the refresh lease', (db): LeaseGrant | null => {
    const now = Date.now();
    const held = db.prepare('SELECT owner, expires_at, since FROM leases WHERE id = ?').get(id) as
      | { owner: string; expires_at: number; since: number | null }
      | undefined;
    if (held && held.owner !== owner && held.expires_at > now) return null;
    const renewing = held?.owner === owner;
    db.prepare(
      `INSERT INTO leases (id, owner, expires_at, since) VALUES (?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, since = excluded.since`,
    ).run(id, owner, now + ttlMs, renewing ? (held.since ?? now) : (since ?? now));
    return {
      takenOver:
        held && !renewing ? { owner: held.owner, since: held.since ?? held.expires_at - ttlMs } : null,
    };
  });
}

async function release(runner: SqliteRunner, id: string, owner: string): Promise<void> {
  await runner.run('release the refresh lease', (db) =>
    db.prepare('DELETE FROM leases WHERE id = ? AND owner = ?').run(id, owner),
  );
}

export function sqliteLeases(runner: SqliteRunner): LeaseTable {
  return {
    acquire: (id, owner, ttlMs, since) => acquire(runner, id, owner, ttlMs, since),
    release: (id, owner) => release(runner, id, owner),
  };
}
