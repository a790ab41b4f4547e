import { REGISTRATION_COLUMNS, type RegistrationRow, registrationFromRow } from '../keyset.js';
import { sealedKeyId } from '../sealer.js';
import type { ClientRegistrationRow, ClientRegistrations } from '../store.js';
import type { PgRunner } from './runner.js';

/** Clients Baton registered itself (MCP authorization servers), sealed, one per issuer; CAS on the version. */
export function pgRegistrations(runner: PgRunner): ClientRegistrations {
  return {
    get: async (issuer) => {
      const { rows } = await runner.query<RegistrationRow>(
        'read a client registration',
        `SELECT ${REGISTRATION_COLUMNS} FROM baton_client_registrations WHERE issuer = $1`,
        [issuer],
      );
      return registrationFromRow(rows[0]);
    },
    put: async (row, expectedVersion) => {
      const version = (expectedVersion ?? 0) + 1;
      const values = [row.issuer, row.clientId, row.sealed, sealedKeyId(row.sealed), version, row.updatedAt];
      const { rowCount } =
        expectedVersion === null
          ? await runner.query(
              'write a client registration',
              `INSERT INTO baton_client_registrations (issuer, client_id, sealed, key_id, version, updated_at, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer) DO NOTHING`,
              [...values, row.createdAt],
            )
          : await runner.query(
              'write a client registration',
              `UPDATE baton_client_registrations SET client_id = $2, sealed = $3, key_id = $4, version = $5, updated_at = $6
               WHERE issuer = $1 AND version = $7`,
              [...values, expectedVersion],
            );
      return rowCount === 1 ? { ...row, version } : null;
    },
    delete: async (issuer, expectedVersion) => {
      const { rowCount } = await runner.query(
        'remove a client registration',
        'DELETE FROM baton_client_registrations WHERE issuer = $1 AND version = $2',
        [issuer, expectedVersion],
      );
      return rowCount === 1;
    },
    list: async () => {
      const { rows } = await runner.query<RegistrationRow>(
        'list client registrations',
        `SELECT ${REGISTRATION_COLUMNS} FROM baton_client_registrations ORDER BY issuer COLLATE "C"`,
      );
      return rows.map((r) => registrationFromRow(r) as ClientRegistrationRow);
    },
  };
}
