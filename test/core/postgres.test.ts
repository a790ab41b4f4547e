import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { crossProcessSuite } from '../helpers/cross-process.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

const HOUR = 3_600_000;

function withSchema(url: string, schema: string, host?: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  if (host) u.host = host;
  return u.toString();
}

/** Baton across processes (standing in for machines) that share PostgreSQL. */
describe.skipIf(!PG_URL)('Baton on PostgreSQL', () => {
  let w: World;
  let schema: string;
  let store: string;
  beforeEach(async () => {
    schema = uniqueSchema();
    store = withSchema(PG_URL as string, schema);
    w = await world({ sim: { cronofyRotation: 'always' }, baton: { store } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => {
    await w.close();
    await dropSchema(schema);
  });

  crossProcessSuite({ world: () => w, store: () => store, processes: 8 });

  it('other processes learn a refreshed token through NOTIFY, without a token call of their own', async () => {
    const other = await w.open();
    const old = await other.getAccessToken('alice'); // cached in `other`
    const fresh = await w.baton.refresh('alice', { force: true });
    expect(fresh.version).toBeGreaterThan(1);
    const expected = (await w.baton.reveal('alice')).tokens?.accessToken;
    let seen = old;
    // The feed is asynchronous: wait for it against a generous deadline (a loaded machine).
    for (const deadline = Date.now() + 15_000; seen === old && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
      seen = await other.getAccessToken('alice');
    }
    expect(seen).toBe(expected);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
  });

  it('a PostgreSQL restart mid-refresh loses nothing: the rotated pair is held, then committed', async () => {
    const target = new URL(PG_URL as string);
    const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
    try {
      const baton = await w.open({ store: withSchema(PG_URL as string, schema, `127.0.0.1:${proxy.port}`) });
      const before = await baton.reveal('alice');
      w.sim.clock.advance(HOUR + 1000);
      // The provider takes a moment; the database goes away while it does.
      w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'delay', delayMs: 400, count: 1 });
      const pending = baton.getAccessToken('alice').catch((e: unknown) => e);
      for (let i = 0; i < 200 && tokenCalls(w, 'cronofy', 'refresh_token') === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      proxy.down();
      // The rotated pair could not be stored: it is journaled and served while the store is down.
      const outcome = await pending;
      expect(typeof outcome).toBe('string');
      expect(outcome).not.toBe(before.tokens?.accessToken);
      expect(baton.pendingCommits).toEqual(['alice']);
      await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(StoreError);
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);

      proxy.up();
      for (let i = 0; i < 200 && baton.pendingCommits.length > 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(baton.pendingCommits).toEqual([]);
      // The store now holds the rotated pair, and it works for the next rotation.
      const after = await w.baton.reveal('alice');
      expect(after.tokens?.refreshToken).not.toBe(before.tokens?.refreshToken);
      expect(after.tokens?.accessToken).toBe(outcome);
      expect(await baton.getAccessToken('alice')).toBe(after.tokens?.accessToken);
      w.sim.clock.advance(HOUR + 1000);
      await w.baton.getAccessToken('alice');
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
      expect((await w.baton.get('alice')).status).toBe('active');
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
