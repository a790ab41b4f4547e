/**
 * A database written by an earlier build opens with this one (docs/architecture.md, "Storage"):
 * its migration tracks are recorded under the names released builds used — `schema_migrations`
 * and `server_schema_migrations` in a SQLite file, `baton_schema_migrations` and
 * `baton_server_schema_migrations` (each under its own advisory lock) in a PostgreSQL schema —
 * and opening it applies nothing again, keeps every row, and runs the server's tables on the
 * connection store's own connection or pool.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { createCallerKey } from '../../src/server/keys.js';
import { PG_SERVER_TRACK } from '../../src/server/postgres-tables.js';
import { openServerStore } from '../../src/server/server-store.js';
import { SQLITE_SERVER_TRACK } from '../../src/server/sqlite-tables.js';
import { openStore } from '../../src/store/index.js';
import { applyPgMigrations } from '../../src/store/postgres/migrator.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { tempDir } from '../helpers/env.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from '../store/pg.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CONNECTION = `INSERT INTO %connections (id, provider, auth_mode, params, status, version, sealed, created_at, updated_at)
  VALUES ('old-1', 'cronofy', 'oauth2', '{}', 'active', 3, 'v2.aaaa1111.iv.body', 0, 0)`;
const KEY = `INSERT INTO %server_caller_keys (id, name, prefix, hash, allow, ops, disabled, created_at)
  VALUES ('k1', 'old-key', 'bk_old', 'hash-of-old-key', '["*"]', '["read"]', %false, 0)`;

/** What the earlier build's rows look like through this one, and that both tracks are where they were. */
async function opensAsBefore(
  spec: string,
  versions: () => Promise<{ core: number; server: number }>,
): Promise<void> {
  const before = await versions();
  const store = await openStore(spec);
  let closed = false;
  cleanups.push(() => (closed ? undefined : store.close()));
  const server = await openServerStore(store, spec);
  cleanups.push(() => server.close());
  expect(await versions()).toEqual(before);
  expect((await store.get('old-1'))?.version).toBe(3);
  expect((await server.listKeys()).map((k) => k.name)).toEqual(['old-key']);
  await server.ping();
  // New rows land in the same tables, beside the old ones.
  await createCallerKey(server, { name: 'new-key', allow: ['*'], ops: ['read'] });
  expect((await server.listKeys()).map((k) => k.name)).toEqual(['new-key', 'old-key']);
  // One connection (pool) per process: the server's tables run on the store's, closed with it.
  await store.close();
  closed = true;
  await expect(server.ping()).rejects.toBeInstanceOf(StoreError);
}

describe('a database written by an earlier build', () => {
  it('SQLite: both tracks under their released names open as they are', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = `${dir}/old.db`;
    const db = new Database(path);
    for (const [table, migrations] of [
      ['schema_migrations', SQLITE_MIGRATIONS],
      ['server_schema_migrations', SQLITE_SERVER_TRACK.migrations],
    ] as const) {
      db.exec(`CREATE TABLE ${table} (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
      for (const [i, m] of migrations.entries()) {
        db.exec(m);
        db.prepare(`INSERT INTO ${table} VALUES (?, ?)`).run(i + 1, 0);
      }
    }
    db.exec(CONNECTION.replace('%', ''));
    db.exec(KEY.replace('%', '').replace('%false', '0'));
    db.close();
    const versions = async () => {
      const read = new Database(path, { readonly: true });
      try {
        const v = (t: string) =>
          (read.prepare(`SELECT MAX(version) AS v FROM ${t}`).get() as { v: number }).v;
        return { core: v('schema_migrations'), server: v('server_schema_migrations') };
      } finally {
        read.close();
      }
    };
    await opensAsBefore(`sqlite:${path}`, versions);
  });

  it.skipIf(!PG_URL)(
    'PostgreSQL: both tracks under their released names and locks open as they are',
    async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const pool = new pg.Pool({ connectionString: PG_URL });
      const client = await pool.connect();
      try {
        await applyPgMigrations(client, {
          schema,
          table: 'baton_schema_migrations',
          lock: 0x6261746f6e,
          migrations: PG_MIGRATIONS,
        });
        await applyPgMigrations(client, {
          schema,
          table: 'baton_server_schema_migrations',
          lock: 0x6261746f6e73,
          migrations: PG_SERVER_TRACK.migrations,
        });
      } finally {
        client.release();
        await pool.end();
      }
      await sql(CONNECTION.replace('%', `${schema}.baton_`));
      await sql(KEY.replace('%', `${schema}.baton_`).replace('%false', 'false'));
      const versions = async () => {
        const v = async (t: string) =>
          Number((await sql(`SELECT max(version) AS v FROM ${schema}.${t}`)).rows[0].v);
        return {
          core: await v('baton_schema_migrations'),
          server: await v('baton_server_schema_migrations'),
        };
      };
      const url = new URL(PG_URL as string);
      url.searchParams.set('schema', schema);
      await opensAsBefore(url.toString(), versions);
    },
  );
});
