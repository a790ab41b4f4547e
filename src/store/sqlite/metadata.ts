import { METADATA_COLUMNS, type MetadataRow, metadataFromRow } from '../keyset.js';
import type { MetadataCache } from '../store.js';
import type { SqliteRunner } from './runner.js';

/** Issuers' metadata documents: a slow writer never replaces a newer read. */
export function sqliteMetadata(runner: SqliteRunner): MetadataCache {
  return {
    get: (issuer) =>
      runner.run('read a metadata document', (db) =>
        metadataFromRow(
          db.prepare(`SELECT ${METADATA_COLUMNS} FROM server_metadata WHERE issuer = ?`).get(issuer) as
            | MetadataRow
            | undefined,
        ),
      ),
    put: (doc) =>
      runner.run(
        'write a metadata document',
        (db) =>
          db
            .prepare(
              `INSERT INTO server_metadata (issuer, document, source, fetched_at, expires_at)
               VALUES (@issuer, @document, @source, @fetchedAt, @expiresAt)
               ON CONFLICT(issuer) DO UPDATE SET document = excluded.document, source = excluded.source,
                 fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
               WHERE excluded.fetched_at >= server_metadata.fetched_at`,
            )
            .run({
              issuer: doc.issuer,
              document: doc.document,
              source: doc.source,
              fetchedAt: doc.fetchedAt,
              expiresAt: doc.expiresAt,
            }).changes === 1,
      ),
  };
}
