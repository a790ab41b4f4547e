import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { migrateStore } from '../../src/store/migrate.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ConnectionRecord } from '../../src/store/store.js';
import { record } from './contract.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg.js';

const dir = mkdtempSync(join(tmpdir(), 'baton-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function many(count: number): ConnectionRecord[] {
  return Array.from({ length: count }, (_, i) =>
    record({
      id: `m-${String(i).padStart(5, '0')}`,
      version: 1 + (i % 7),
      sealed: `v1.k.iv.${i}`,
      params: { company: `c${i % 13}` },
    }),
  );
}

async function seedSqlite(path: string, records: ConnectionRecord[]): Promise<SqliteStore> {
  const s = await SqliteStore.open(path);
  await s.putMany(records, false);
  return s;
}

describe('migrateStore', () => {
  it('copies SQLite → memory exactly and is idempotent', async () => {
    const records = many(2000);
    const from = await seedSqlite(join(dir, 'a.db'), records);
    const to = new MemoryStore();
    const progress: number[] = [];
    expect(await migrateStore(from, to, { onProgress: (d) => progress.push(d) })).toEqual({
      copied: 2000,
      skipped: 0,
    });
    expect(progress.at(-1)).toBe(2000);
    expect(await to.list()).toEqual(await from.list());
    expect(await migrateStore(from, to)).toEqual({ copied: 0, skipped: 2000 });
    await from.close();
  });

  it('with overwrite, replaces rows but never moves a version backwards', async () => {
    const from = new MemoryStore();
    const to = await SqliteStore.open(join(dir, 'overwrite.db'));
    const r = record({ id: 'ow', version: 2, sealed: 'new' });
    await from.putMany([r], false);
    await to.putMany([{ ...r, version: 9, sealed: 'old' }], false);
    expect(await migrateStore(from, to)).toEqual({ copied: 0, skipped: 1 });
    expect(await migrateStore(from, to, { overwrite: true })).toEqual({ copied: 1, skipped: 0 });
    expect(await to.get('ow')).toMatchObject({ sealed: 'new', version: 10 });
    await to.close();
  });

  it.skipIf(!PG_URL)(
    'moves 10,000 connections SQLite → PostgreSQL → SQLite unchanged, both ways idempotent',
    async () => {
      const schema = uniqueSchema();
      const records = many(10_000);
      const sqlite = await seedSqlite(join(dir, 'b.db'), records);
      const pgStore = await PostgresStore.open(PG_URL as string, { schema });
      try {
        expect(await migrateStore(sqlite, pgStore)).toEqual({ copied: 10_000, skipped: 0 });
        expect(await migrateStore(sqlite, pgStore)).toEqual({ copied: 0, skipped: 10_000 });
        const back = await SqliteStore.open(join(dir, 'c.db'));
        expect(await migrateStore(pgStore, back)).toEqual({ copied: 10_000, skipped: 0 });
        expect(await back.list()).toEqual(await sqlite.list());
        expect(await pgStore.list()).toEqual(await sqlite.list());
        await back.close();
      } finally {
        await sqlite.close();
        await pgStore.close();
        await dropSchema(schema);
      }
    },
  );
});
