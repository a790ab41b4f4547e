import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyPgMigrations } from '../../src/store/postgres/migrator.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/env.js';
import { record } from './contract.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from './pg.js';

/** The scale queries a store answers from its indexes: a page, a due batch, key ids, a filtered count. */
async function scaleQueries(store: Store): Promise<void> {
  await store.list({ limit: 10 });
  await store.list({ after: 'm', limit: 10 });
  await store.list({ provider: 'cronofy', after: 'm', limit: 10 });
  await store.list({ status: 'active', after: 'm', limit: 10 });
  await store.list({ keyId: 'aaaa1111', after: 'm', limit: 10 });
  await store.list({ idPrefix: 'acme-', limit: 10 });
  await store.count({ keyId: 'aaaa1111' });
  await store.due({ accessExpiresBy: 5e12, accessAuthMode: 'oauth2', refreshExpiresBy: 5e12, limit: 10 });
  await store.due({
    accessExpiresBy: 5e12,
    accessAuthMode: 'oauth2',
    refreshExpiresBy: 5e12,
    limit: 10,
    after: { phase: 'access', at: 1, id: 'm' },
  });
  await store.due({
    accessExpiresBy: 5e12,
    accessAuthMode: 'oauth2',
    refreshExpiresBy: 5e12,
    limit: 10,
    after: { phase: 'refresh', at: 1, id: 'm' },
  });
  await store.keyIds();
  await store.listPendingAuthorizations({ keyId: 'aaaa1111', after: 'm', limit: 10 });
}

describe('scale indexes and the key-id backfill', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    vi.restoreAllMocks();
  });

  it('SQLite: every scale query is an index range (no table scan, no sort)', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = `${dir}/plans.db`;
    const store = await SqliteStore.open(path);
    cleanups.push(() => store.close());
    for (let i = 0; i < 50; i++) await store.put(record({ id: `c-${i}` }), null);
    // Every statement the store prepares, with the parameters it runs with.
    const seen: { sql: string; params: unknown[] }[] = [];
    const prepare = Database.prototype.prepare;
    vi.spyOn(Database.prototype, 'prepare').mockImplementation(function (this: Database.Database, text) {
      const stmt = prepare.call(this, text);
      for (const method of ['all', 'get'] as const) {
        const original = stmt[method].bind(stmt) as (...a: unknown[]) => unknown;
        (stmt as unknown as Record<string, unknown>)[method] = (...params: unknown[]) => {
          seen.push({ sql: text, params });
          return original(...params);
        };
      }
      return stmt;
    });
    await scaleQueries(store);
    vi.restoreAllMocks();
    const selects = seen.filter((s) => /^\s*SELECT/i.test(s.sql));
    expect(selects.length).toBeGreaterThanOrEqual(12);
    const db = new Database(path, { readonly: true });
    try {
      for (const s of selects) {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...s.params) as { detail: string }[])
          .map((r) => r.detail)
          .join(' | ');
        // SEARCH: a range of an index; SCAN … USING INDEX: an index walked in order until the LIMIT.
        expect(plan, s.sql).toMatch(
          /(SEARCH|SCAN) (connections|pending_authorizations|client_registrations) USING (COVERING )?INDEX/,
        );
        expect(plan, s.sql).not.toMatch(
          /SCAN (connections|pending_authorizations|client_registrations)(?! USING)|TEMP B-TREE/,
        );
      }
    } finally {
      db.close();
    }
  });

  it('SQLite: a store written before the key-id column gets it filled in, without flooding the change log', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = `${dir}/old.db`;
    const db = new Database(path);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    for (const [i, m] of SQLITE_MIGRATIONS.slice(0, 2).entries()) {
      db.exec(m);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(i + 1, Date.now());
    }
    const insert = db.prepare(
      `INSERT INTO connections (id, provider, auth_mode, params, status, version, sealed, created_at, updated_at)
       VALUES (?, 'cronofy', 'oauth2', '{}', 'active', 1, ?, 0, 0)`,
    );
    insert.run('a', 'v2.aaaa1111.iv.body');
    insert.run('b', 'v1.bbbb2222.iv.body');
    insert.run('c', 'garbage');
    db.prepare("INSERT INTO pending_authorizations (state, body, expires_at) VALUES ('s', ?, 0)").run(
      JSON.stringify({ state: 's', sealed: 'v2.cccc3333.iv.p' }),
    );
    const logged = () => (db.prepare('SELECT count(*) AS n FROM change_log').get() as { n: number }).n;
    const before = logged();
    db.close();
    const store = await SqliteStore.open(path);
    cleanups.push(() => store.close());
    expect(store.schemaVersion).toBe(SQLITE_MIGRATIONS.length);
    expect(await store.keyIds()).toEqual(['aaaa1111', 'bbbb2222', 'cccc3333']);
    expect((await store.list({ keyId: 'bbbb2222' })).map((r) => r.id)).toEqual(['b']);
    const check = new Database(path);
    try {
      expect((check.prepare('SELECT count(*) AS n FROM change_log').get() as { n: number }).n).toBe(before);
      // The update trigger is back: a write is heard by other processes again.
      const a = (await store.get('a')) as NonNullable<Awaited<ReturnType<Store['get']>>>;
      await store.put({ ...a, sealed: 'v2.dddd4444.iv.x' }, 1);
      expect(check.prepare('SELECT id, version FROM change_log ORDER BY seq DESC LIMIT 1').get()).toEqual({
        id: 'a',
        version: 2,
      });
    } finally {
      check.close();
    }
  });

  describe.skipIf(!PG_URL)('PostgreSQL', () => {
    it('every scale query can be answered from an index without a sort', async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const store = await PostgresStore.open(PG_URL as string, { schema });
      cleanups.push(() => store.close());
      for (let i = 0; i < 50; i++) await store.put(record({ id: `c-${i}` }), null);
      const seen: { sql: string; params: unknown[] }[] = [];
      const query = pg.Pool.prototype.query;
      vi.spyOn(pg.Pool.prototype, 'query').mockImplementation(function (this: pg.Pool, ...args: unknown[]) {
        if (typeof args[0] === 'string') seen.push({ sql: args[0], params: (args[1] as unknown[]) ?? [] });
        return (query as (...a: unknown[]) => unknown).apply(this, args) as never;
      });
      await scaleQueries(store);
      vi.restoreAllMocks();
      const selects = seen.filter((s) => /^\s*(SELECT|\(WITH)/i.test(s.sql));
      expect(selects.length).toBeGreaterThanOrEqual(12);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        // On a small table the planner would rather scan it whole; forbid that to see whether an index serves.
        await client.query(`SET search_path = ${schema}; SET enable_seqscan = off; SET enable_sort = off`);
        for (const s of selects) {
          const { rows } = await client.query(`EXPLAIN ${s.sql}`, s.params);
          const plan = rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
          expect(plan, s.sql).toMatch(/Index (Only )?Scan/);
          expect(plan, s.sql).not.toMatch(/Seq Scan|Sort {2}\(|Bitmap Heap/);
        }
      } finally {
        await client.end();
      }
    });

    it('a store written before the key-id column gets it filled in', async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const pool = new pg.Pool({ connectionString: PG_URL });
      const client = await pool.connect();
      try {
        await applyPgMigrations(client, {
          schema,
          table: 'baton_schema_migrations',
          lock: 0x6261746f6e,
          migrations: PG_MIGRATIONS.slice(0, 2),
        });
      } finally {
        client.release();
        await pool.end();
      }
      for (const [id, sealed] of [
        ['a', 'v2.aaaa1111.iv.body'],
        ['b', 'v1.bbbb2222.iv.body'],
        ['c', 'garbage'],
      ])
        await sql(
          `INSERT INTO ${schema}.baton_connections (id, provider, auth_mode, params, status, version, sealed, created_at, updated_at)
           VALUES ($1, 'cronofy', 'oauth2', '{}', 'active', 1, $2, 0, 0)`,
          [id, sealed],
        );
      await sql(
        `INSERT INTO ${schema}.baton_pending_authorizations (state, body, expires_at) VALUES ('s', $1, 0)`,
        [JSON.stringify({ state: 's', sealed: 'v2.cccc3333.iv.p' })],
      );
      const store = await PostgresStore.open(PG_URL as string, { schema });
      cleanups.push(() => store.close());
      expect(await store.keyIds()).toEqual(['aaaa1111', 'bbbb2222', 'cccc3333']);
      expect((await store.list({ keyId: 'aaaa1111' })).map((r) => r.id)).toEqual(['a']);
      const { rows } = await sql(`SELECT max(version) AS v FROM ${schema}.baton_schema_migrations`);
      expect(rows[0]).toEqual({ v: PG_MIGRATIONS.length });
    });
  });
});
