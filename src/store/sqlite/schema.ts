import type { SqliteTrack } from './migrator.js';

/** Epoch milliseconds in SQL. */
const NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/** The key id a sealed blob names, in SQL: the same as `sealedKeyId`. */
const KEY_ID_OF = (blob: string) =>
  `CASE WHEN substr(${blob}, 1, 3) IN ('v1.', 'v2.') AND instr(substr(${blob}, 4), '.') > 1 THEN substr(${blob}, 4, instr(substr(${blob}, 4), '.') - 1) END`;

/** The connections' track: numbered, append-only (a migration once released is never edited). */
export const MIGRATIONS: string[] = [
  `CREATE TABLE connections (
     id TEXT PRIMARY KEY,
     provider TEXT NOT NULL,
     auth_mode TEXT NOT NULL,
     params TEXT NOT NULL,
     client_id TEXT,
     status TEXT NOT NULL,
     version INTEGER NOT NULL,
     sealed TEXT NOT NULL,
     access_token_expires_at INTEGER,
     refresh_token_expires_at INTEGER,
     last_refreshed_at INTEGER,
     last_error TEXT,
     api_base_url TEXT,
     account TEXT,
     scopes TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE leases (id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE TABLE pending_authorizations (
     state TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // The change feed: every write leaves a row that other processes read when `data_version`
  // says the file changed. Rows older than a minute are pruned; a reader that fell further
  // behind drops its whole cache.
  `ALTER TABLE leases ADD COLUMN since INTEGER;
   CREATE TABLE change_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL,
     version INTEGER,
     at INTEGER NOT NULL
   );
   CREATE TRIGGER connections_inserted AFTER INSERT ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE TRIGGER connections_updated AFTER UPDATE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE TRIGGER connections_deleted AFTER DELETE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (OLD.id, NULL, ${NOW_MS});
   END;`,
  // The webhook outbox: events written in the transaction of the write that caused them.
  `CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     connection_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     payload TEXT NOT NULL
   );
   CREATE INDEX outbox_created_at ON outbox (created_at);`,
  // Scale: the key id each row is sealed under (rekey, the check at open), and the indexes that
  // make the keeper's due query, keyset pages, key usage and the change log's pruning (after a
  // batch of thousands of writes) cost what they touch. The backfill is not a change other
  // processes need to hear of: the update trigger steps aside for it.
  `ALTER TABLE connections ADD COLUMN key_id TEXT;
   ALTER TABLE pending_authorizations ADD COLUMN key_id TEXT;
   DROP TRIGGER connections_updated;
   UPDATE connections SET key_id = ${KEY_ID_OF('sealed')};
   UPDATE pending_authorizations SET key_id = ${KEY_ID_OF("json_extract(body, '$.sealed')")};
   CREATE TRIGGER connections_updated AFTER UPDATE ON connections BEGIN
     INSERT INTO change_log (id, version, at) VALUES (NEW.id, NEW.version, ${NOW_MS});
   END;
   CREATE INDEX connections_provider ON connections (provider, id);
   CREATE INDEX connections_status ON connections (status, id);
   CREATE INDEX connections_key ON connections (key_id, id);
   CREATE INDEX connections_access_due ON connections (auth_mode, access_token_expires_at, id)
     WHERE status = 'active' AND access_token_expires_at IS NOT NULL;
   CREATE INDEX connections_refresh_due ON connections (refresh_token_expires_at, id)
     WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;
   CREATE INDEX pending_authorizations_key ON pending_authorizations (key_id, state);
   CREATE INDEX change_log_at ON change_log (at);`,
  // Issuers' metadata documents (public, not sealed), so a process reads what another fetched.
  `CREATE TABLE server_metadata (
     issuer TEXT PRIMARY KEY,
     document TEXT NOT NULL,
     source TEXT NOT NULL,
     fetched_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // Clients Baton registered itself (MCP authorization servers), sealed, one per issuer.
  `CREATE TABLE client_registrations (
     issuer TEXT PRIMARY KEY,
     client_id TEXT NOT NULL,
     sealed TEXT NOT NULL,
     key_id TEXT,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX client_registrations_key ON client_registrations (key_id, issuer);`,
];

export const CORE_TRACK: SqliteTrack = { table: 'schema_migrations', migrations: MIGRATIONS };
