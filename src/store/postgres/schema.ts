import type { PgTrack } from './migrator.js';

/** The key id a sealed blob names, in SQL: the same as `sealedKeyId`. */
const KEY_ID_OF = (blob: string) =>
  `CASE WHEN ${blob} ~ '^v[12]\\.[^.]+\\.' THEN split_part(${blob}, '.', 2) END`;

/** The connections' track: numbered, append-only. Applied under an advisory lock, so processes starting together agree. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS baton_connections (
     id text PRIMARY KEY,
     provider text NOT NULL,
     auth_mode text NOT NULL,
     params jsonb NOT NULL,
     client_id text,
     status text NOT NULL,
     version bigint NOT NULL,
     sealed text NOT NULL,
     access_token_expires_at bigint,
     refresh_token_expires_at bigint,
     last_refreshed_at bigint,
     last_error jsonb,
     api_base_url text,
     account jsonb,
     scopes jsonb,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE TABLE IF NOT EXISTS baton_leases (id text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL);
   CREATE TABLE IF NOT EXISTS baton_pending_authorizations (
     state text PRIMARY KEY,
     body jsonb NOT NULL,
     expires_at bigint NOT NULL
   );`,
  // When the lease holder took it (database clock, epoch ms): names a refresh lost with its holder.
  `ALTER TABLE baton_leases ADD COLUMN IF NOT EXISTS since bigint;`,
  // The webhook outbox: events written in the statement of the write that caused them.
  `CREATE TABLE IF NOT EXISTS baton_outbox (
     seq bigserial PRIMARY KEY,
     id text NOT NULL UNIQUE,
     type text NOT NULL,
     connection_id text NOT NULL,
     created_at bigint NOT NULL,
     payload text NOT NULL
   );
   CREATE INDEX IF NOT EXISTS baton_outbox_created_at ON baton_outbox (created_at);`,
  // Scale: the key id each row is sealed under (rekey, the check at open), and the indexes that
  // make the keeper's due query, keyset pages (ids in "C" order, as on every engine) and key
  // usage cost what they return.
  `ALTER TABLE baton_connections ADD COLUMN IF NOT EXISTS key_id text;
   ALTER TABLE baton_pending_authorizations ADD COLUMN IF NOT EXISTS key_id text;
   UPDATE baton_connections SET key_id = ${KEY_ID_OF('sealed')};
   UPDATE baton_pending_authorizations SET key_id = ${KEY_ID_OF("body->>'sealed'")};
   CREATE INDEX IF NOT EXISTS baton_connections_id_c ON baton_connections (id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_provider ON baton_connections (provider, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_status ON baton_connections (status, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_key ON baton_connections (key_id, id COLLATE "C");
   CREATE INDEX IF NOT EXISTS baton_connections_access_due
     ON baton_connections (auth_mode, access_token_expires_at, id COLLATE "C")
     WHERE status = 'active' AND access_token_expires_at IS NOT NULL;
   CREATE INDEX IF NOT EXISTS baton_connections_refresh_due
     ON baton_connections (refresh_token_expires_at, id COLLATE "C")
     WHERE status = 'active' AND refresh_token_expires_at IS NOT NULL;
   CREATE INDEX IF NOT EXISTS baton_pending_authorizations_key
     ON baton_pending_authorizations (key_id, state COLLATE "C");`,
  // Issuers' metadata documents (public, not sealed), so a process reads what another fetched.
  `CREATE TABLE IF NOT EXISTS baton_server_metadata (
     issuer text PRIMARY KEY,
     document text NOT NULL,
     source text NOT NULL,
     fetched_at bigint NOT NULL,
     expires_at bigint NOT NULL
   );`,
  // Clients Baton registered itself (MCP authorization servers), sealed, one per issuer.
  `CREATE TABLE IF NOT EXISTS baton_client_registrations (
     issuer text PRIMARY KEY,
     client_id text NOT NULL,
     sealed text NOT NULL,
     key_id text,
     version integer NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE INDEX IF NOT EXISTS baton_client_registrations_key
     ON baton_client_registrations (key_id, issuer COLLATE "C");`,
];

export const CORE_TRACK: PgTrack = {
  table: 'baton_schema_migrations',
  lock: 0x6261746f6e, // "baton"
  migrations: MIGRATIONS,
};
