import { REGISTRATION_COLUMNS, type RegistrationRow, registrationFromRow } from '../keyset.js';
import { sealedKeyId } from '../sealer.js';
import type { ClientRegistrationRow, ClientRegistrations } from '../store.js';
import type { SqliteRunner } from './runner.js';

/** Clients Baton registered itself (MCP authorization servers), sealed, one per issuer; CAS on the version. */
export function sqliteRegistrations(runner: SqliteRunner): ClientRegistrations {
  return {
    get: (issuer) =>
      runner.run('read a client registration', (db) =>
        registrationFromRow(
          db
            .prepare(`SELECT ${REGISTRATION_COLUMNS} FROM client_registrations WHERE issuer = ?`)
            .get(issuer) as RegistrationRow | undefined,
        ),
      ),
    put: (row, expectedVersion) =>
      runner.run('write a client registration', (db) => {
        const version = (expectedVersion ?? 0) + 1;
        const values = {
          issuer: row.issuer,
          clientId: row.clientId,
          sealed: row.sealed,
          keyId: sealedKeyId(row.sealed),
          version,
          expected: expectedVersion,
          createdAt: row.createdAt,
          updatedAt: row.updatedAt,
        };
        const changes =
          expectedVersion === null
            ? db
                .prepare(
                  `INSERT INTO client_registrations (issuer, client_id, sealed, key_id, version, created_at, updated_at)
                   VALUES (@issuer, @clientId, @sealed, @keyId, @version, @createdAt, @updatedAt)
                   ON CONFLICT (issuer) DO NOTHING`,
                )
                .run(values).changes
            : db
                .prepare(
                  `UPDATE client_registrations SET client_id = @clientId, sealed = @sealed, key_id = @keyId,
                     version = @version, updated_at = @updatedAt
                   WHERE issuer = @issuer AND version = @expected`,
                )
                .run(values).changes;
        return changes === 1 ? { ...row, version } : null;
      }),
    delete: (issuer, expectedVersion) =>
      runner.run(
        'remove a client registration',
        (db) =>
          db
            .prepare('DELETE FROM client_registrations WHERE issuer = ? AND version = ?')
            .run(issuer, expectedVersion).changes === 1,
      ),
    list: () =>
      runner.run('list client registrations', (db) =>
        (
          db
            .prepare(`SELECT ${REGISTRATION_COLUMNS} FROM client_registrations ORDER BY issuer`)
            .all() as RegistrationRow[]
        ).map((r) => registrationFromRow(r) as ClientRegistrationRow),
      ),
  };
}
