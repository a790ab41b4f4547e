import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { migrateStore } from '../../src/store/migrate.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
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

  it('an interrupted copy resumes after the last batch it stored, reading nothing before it', async () => {
    const records = many(2300);
    const from = await seedSqlite(join(dir, 'resume.db'), records);
    const to = new MemoryStore();
    let calls = 0;
    const putMany = to.putMany.bind(to);
    to.putMany = async (batch, overwrite) => {
      if (++calls === 3) throw new Error('the target went away');
      return putMany(batch, overwrite);
    };
    let lastId: string | undefined;
    const seen: [number, number][] = [];
    await expect(
      migrateStore(from, to, {
        onProgress: (done, total, last) => {
          seen.push([done, total]);
          lastId = last;
        },
      }),
    ).rejects.toThrow(/went away/);
    expect(seen).toEqual([
      [500, 2300],
      [1000, 2300],
    ]);
    expect(lastId).toBe('m-00999');
    const pages: (string | undefined)[] = [];
    const list = from.list.bind(from);
    from.list = async (query) => {
      pages.push(query?.after);
      return list(query);
    };
    const progress: [number, number][] = [];
    expect(
      await migrateStore(from, to, { after: lastId, onProgress: (d, t) => progress.push([d, t]) }),
    ).toEqual({ copied: 1300, skipped: 0 });
    expect(pages[0]).toBe('m-00999');
    expect(progress.at(-1)).toEqual([1300, 1300]);
    expect(await to.list()).toEqual(records.map((r) => ({ ...r })).sort((a, b) => (a.id < b.id ? -1 : 1)));
    await from.close();
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
