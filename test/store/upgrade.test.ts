import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { applyPgMigrations } from '../../src/store/postgres/migrator.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { MetadataDocument, Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/env.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from './pg.js';

/** The schema as it was before the metadata table: the migrations before it. */
const BEFORE_METADATA = 4;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const doc: MetadataDocument = {
  issuer: 'https://id.acme.test',
  document: '{"issuer":"https://id.acme.test"}',
  source: 'https://id.acme.test/.well-known/openid-configuration',
  fetchedAt: 1_700_000_000_000,
  expiresAt: 1_700_003_600_000,
};

/** What an upgraded store must do: keep its connections, and keep metadata documents. */
async function upgraded(store: Store, ids: string[]): Promise<void> {
  expect((await store.list()).map((r) => r.id)).toEqual(ids);
  expect(await store.serverMetadata?.get(doc.issuer)).toBeNull();
  expect(await store.serverMetadata?.put(doc)).toBe(true);
  expect(await store.serverMetadata?.get(doc.issuer)).toEqual(doc);
}

describe('a store written before the metadata table', () => {
  it('is migration 5 on both engines', () => {
    expect(SQLITE_MIGRATIONS[BEFORE_METADATA]).toMatch(/CREATE TABLE server_metadata/);
    expect(PG_MIGRATIONS[BEFORE_METADATA]).toMatch(/CREATE TABLE IF NOT EXISTS baton_server_metadata/);
    for (const m of [
      ...SQLITE_MIGRATIONS.slice(0, BEFORE_METADATA),
      ...PG_MIGRATIONS.slice(0, BEFORE_METADATA),
    ])
      expect(m).not.toMatch(/server_metadata/);
  });

  it('SQLite: gains it at open, its connections untouched', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = `${dir}/old.db`;
    const db = new Database(path);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    for (const [i, m] of SQLITE_MIGRATIONS.slice(0, BEFORE_METADATA).entries()) {
      db.exec(m);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(i + 1, Date.now());
    }
    db.prepare(
      `INSERT INTO connections (id, provider, auth_mode, params, status, version, sealed, created_at, updated_at, key_id)
       VALUES ('a', 'cronofy', 'oauth2', '{}', 'active', 1, 'v2.aaaa1111.iv.body', 0, 0, 'aaaa1111')`,
    ).run();
    db.close();
    const store = await SqliteStore.open(path);
    cleanups.push(() => store.close());
    expect(store.schemaVersion).toBe(SQLITE_MIGRATIONS.length);
    await upgraded(store, ['a']);
  });

  it.skipIf(!PG_URL)('PostgreSQL: gains it at open, its connections untouched', async () => {
    const schema = uniqueSchema();
    cleanups.push(() => dropSchema(schema));
    const pool = new pg.Pool({ connectionString: PG_URL });
    const client = await pool.connect();
    try {
      await applyPgMigrations(client, {
        schema,
        table: 'baton_schema_migrations',
        lock: 0x6261746f6e,
        migrations: PG_MIGRATIONS.slice(0, BEFORE_METADATA),
      });
    } finally {
      client.release();
      await pool.end();
    }
    await sql(
      `INSERT INTO ${schema}.baton_connections (id, provider, auth_mode, params, status, version, sealed, created_at, updated_at)
       VALUES ('a', 'cronofy', 'oauth2', '{}', 'active', 1, 'v2.aaaa1111.iv.body', 0, 0)`,
    );
    const store = await PostgresStore.open(PG_URL as string, { schema });
    cleanups.push(() => store.close());
    const { rows } = await sql(`SELECT max(version) AS v FROM ${schema}.baton_schema_migrations`);
    expect(rows[0]).toEqual({ v: PG_MIGRATIONS.length });
    await upgraded(store, ['a']);
  });
});
