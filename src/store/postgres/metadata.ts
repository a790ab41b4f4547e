import { METADATA_COLUMNS, type MetadataRow, metadataFromRow } from '../keyset.js';
import type { MetadataCache } from '../store.js';
import type { PgRunner } from './runner.js';

/** Issuers' metadata documents: a slow writer never replaces a newer read. */
export function pgMetadata(runner: PgRunner): MetadataCache {
  return {
    get: async (issuer) => {
      const { rows } = await runner.query<MetadataRow>(
        'read a metadata document',
        `SELECT ${METADATA_COLUMNS} FROM baton_server_metadata WHERE issuer = $1`,
        [issuer],
      );
      return metadataFromRow(rows[0]);
    },
    put: async (doc) => {
      const { rowCount } = await runner.query(
        'write a metadata document',
        `INSERT INTO baton_server_metadata (issuer, document, source, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (issuer) DO UPDATE SET document = EXCLUDED.document, source = EXCLUDED.source,
           fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at
         WHERE EXCLUDED.fetched_at >= baton_server_metadata.fetched_at`,
        [doc.issuer, doc.document, doc.source, doc.fetchedAt, doc.expiresAt],
      );
      return rowCount === 1;
    },
  };
}
