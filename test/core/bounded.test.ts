import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../helpers/env.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { record } from '../store/contract.js';

const HOUR = 3_600_000;

/** Counts timer ticks while `during` runs: a frozen event loop ticks (almost) never. */
async function ticksDuring<T>(during: Promise<T>): Promise<{ ticks: number; result: T | unknown }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const result = await during.catch((e: unknown) => e);
    return { ticks, result };
  } finally {
    clearInterval(timer);
  }
}

describe('SQLite: another process holding the write lock never freezes the event loop', () => {
  let dir: { dir: string; cleanup: () => void };
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.cleanup());

  it('waits for the lock asynchronously, then writes', async () => {
    const path = `${dir.dir}/b.db`;
    const store = await SqliteStore.open(path);
    const r = record();
    await store.put(r, null);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE'); // another process's long write transaction
    setTimeout(() => other.exec('COMMIT'), 600);
    const { ticks, result } = await ticksDuring(store.put({ ...r, sealed: 'second' }, 1));
    expect(result).toMatchObject({ version: 2 });
    // ~120 ticks of 5 ms fit in 600 ms; a synchronous busy wait would allow none.
    expect(ticks).toBeGreaterThan(20);
    other.close();
    await store.close();
  });

  it('gives up with a StoreError after its busy timeout, and close() does not hang', async () => {
    const path = `${dir.dir}/b.db`;
    const store = await SqliteStore.open(path, { busyTimeoutMs: 400 });
    const r = record();
    await store.put(r, null);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const { ticks, result } = await ticksDuring(store.put({ ...r, sealed: 'x' }, 1));
    expect(result).toBeInstanceOf(StoreError);
    expect((result as StoreError).message).toMatch(/another process held the database/);
    expect(ticks).toBeGreaterThan(10);
    const closing = ticksDuring(store.close());
    other.exec('ROLLBACK');
    other.close();
    expect((await closing).result).toBeUndefined();
    // Nothing was lost: the stored record is the one before the refused write.
    const again = await SqliteStore.open(path);
    expect(await again.get(r.id)).toMatchObject({ version: 1, sealed: r.sealed });
    await again.close();
  });
});

describe('the refresh lease outlives a slow grant', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => {
    await w.close();
  });

  it('is renewed while the provider takes longer than its TTL, so no other process spends the same refresh token', async () => {
    const a = await w.open({ leaseTtlMs: 300 });
    const b = await w.open({ leaseTtlMs: 300 });
    w.sim.clock.advance(HOUR + 1000);
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'delay', delayMs: 1200, count: 1 });
    const first = a.getAccessToken('alice');
    for (let i = 0; i < 100 && tokenCalls(w, 'cronofy', 'refresh_token') === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 500)); // well past the TTL
    const second = b.getAccessToken('alice');
    const [ta, tb] = await Promise.all([first, second]);
    expect(tb).toBe(ta);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    expect((await w.baton.get('alice')).status).toBe('active');
  });
});
