import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { openStore } from '../../src/store/index.js';
import { applyPgMigrations } from '../../src/store/postgres/migrator.js';
import { MIGRATIONS } from '../../src/store/postgres/schema.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { record } from './contract.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from './pg.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!PG_URL)('PostgreSQL engine', () => {
  it('migrates safely when several processes open a fresh database at once', async () => {
    const schema = uniqueSchema();
    try {
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open(PG_URL as string, { schema })),
      );
      const { rows } = await sql(
        `SELECT count(*)::int AS n, max(version) AS v FROM ${schema}.baton_schema_migrations`,
      );
      expect(rows[0]).toEqual({ n: MIGRATIONS.length, v: MIGRATIONS.length });
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await dropSchema(schema);
    }
  });

  it('brings an older schema up once when several processes open it at once', async () => {
    const schema = uniqueSchema();
    try {
      const pool = new pg.Pool({ connectionString: PG_URL });
      const client = await pool.connect();
      try {
        const older = { schema, table: 'baton_schema_migrations', lock: 0x6261746f6e };
        await applyPgMigrations(client, { ...older, migrations: MIGRATIONS.slice(0, 3) });
      } finally {
        client.release();
        await pool.end();
      }
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open(PG_URL as string, { schema })),
      );
      const { rows } = await sql(`SELECT version FROM ${schema}.baton_schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await dropSchema(schema);
    }
  });

  it('opens an up-to-date schema without waiting for the migration lock', async () => {
    const schema = uniqueSchema();
    const holder = new pg.Client({ connectionString: PG_URL });
    try {
      await (await PostgresStore.open(PG_URL as string, { schema })).close();
      // Another process migrating (any schema) holds the lock; an open with nothing to do
      // does not queue behind it (it would hang here, and the test time out).
      await holder.connect();
      await holder.query('SELECT pg_advisory_lock($1)', [0x6261746f6e]);
      const store = await PostgresStore.open(PG_URL as string, { schema });
      const r = record();
      await store.put(r, null);
      expect((await store.get(r.id))?.id).toBe(r.id);
      await store.close();
    } finally {
      await holder.end();
      await dropSchema(schema);
    }
  });

  it('tells other processes about every commit with LISTEN/NOTIFY, and comes back after losing the session', async () => {
    const schema = uniqueSchema();
    const app = `baton-notify-${Date.now()}`;
    const a = await PostgresStore.open(PG_URL as string, { schema });
    const b = await PostgresStore.open(PG_URL as string, { schema, applicationName: app });
    try {
      const seen: [string | null, number | null][] = [];
      b.subscribe((id, version) => seen.push([id, version]));
      expect(await b.listening()).toBe(true);
      const r = record();
      await a.put(r, null);
      await a.put({ ...r, sealed: 'x' }, 1);
      for (let i = 0; i < 50 && seen.length < 3; i++) await wait(20);
      expect(seen).toEqual([
        // The first session up: what a listener cached while it was being set up may have
        // changed unheard, so it is told to forget everything (the cause of a lost NOTIFY).
        [null, null],
        [r.id, 1],
        [r.id, 2],
      ]);
      // The listening session is killed (a failover, an idle timeout): it reconnects.
      await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
        `${app}-listen`,
      ]);
      await wait(100);
      expect(await b.listening()).toBe(true);
      await wait(300);
      await a.put({ ...r, sealed: 'y' }, 2);
      for (let i = 0; i < 100 && seen.at(-1)?.[1] !== 3; i++) await wait(20);
      expect(seen.at(-1)).toEqual([r.id, 3]);
      // Notifications missed while no session listened: the cache is told to forget everything.
      expect(seen).toContainEqual([null, null]);
      // A removal reaches listeners too.
      await a.delete(r.id);
      for (let i = 0; i < 100 && seen.at(-1)?.[1] !== null; i++) await wait(20);
      expect(seen.at(-1)).toEqual([r.id, null]);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });

  it('survives its sessions being terminated: a StoreError at worst, then service again', async () => {
    const schema = uniqueSchema();
    const app = `baton-term-${Date.now()}`;
    const s = await PostgresStore.open(PG_URL as string, { schema, applicationName: app });
    try {
      const r = record();
      await s.put(r, null);
      await sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
      const first = await s.get(r.id).catch((e: unknown) => e);
      if (!(first && typeof first === 'object' && 'id' in first)) expect(first).toBeInstanceOf(StoreError);
      expect((await s.get(r.id))?.id).toBe(r.id);
    } finally {
      await s.close();
      await dropSchema(schema);
    }
  });

  it('reports an unreachable server as StoreError without the password', async () => {
    const err = await openStore('postgres://postgres:s3cretPW@127.0.0.1:1/test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    const text = `${(err as StoreError).message} ${(err as StoreError).remediation} ${JSON.stringify((err as StoreError).toJSON())}`;
    expect(text).toMatch(/unreachable/);
    expect(text).not.toContain('s3cretPW');
  });

  it('rejects bad Baton URL parameters with a ConfigError', async () => {
    await expect(openStore(`${PG_URL}?pool_max=lots`)).rejects.toThrow(/pool_max=lots/);
  });
});
