import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionRecord, OutboxEvent, PendingAuthorization, Store } from '../../src/store/store.js';

let n = 0;
export function record(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  n++;
  return {
    id: `conn-${n}-${Math.random().toString(36).slice(2, 8)}`,
    provider: 'cronofy',
    authMode: 'oauth2',
    params: { dataCenter: 'de' },
    clientId: 'client-1',
    status: 'active',
    version: 0,
    sealed: 'v1.abcd1234.iv.body',
    accessTokenExpiresAt: 1_800_000_000_000,
    refreshTokenExpiresAt: null,
    lastRefreshedAt: 1_700_000_000_123,
    lastError: { code: 'network_error', message: 'The request to x failed.', at: 1_700_000_000_000 },
    apiBaseUrl: null,
    account: { id: 'acc_1', email: 'alice@example.com' },
    scopes: ['read_events', 'create_event'],
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_001,
    ...overrides,
  };
}

let e = 0;
function event(connectionId: string, type = 'connection.created'): OutboxEvent {
  e++;
  return {
    id: `evt_${e}_${Math.random().toString(36).slice(2, 8)}`,
    type,
    connectionId,
    createdAt: Date.now(),
    payload: JSON.stringify({ type, n: e }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The behaviour every engine must have; run by engines.test.ts on memory, SQLite and PostgreSQL. */
export function storeContract(
  name: string,
  make: () => Promise<Store>,
  cleanup?: () => Promise<void>,
  /** Another store object on the same data, as another process would open it. */
  peer: (first: Store) => Promise<Store> = make,
): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await make();
    });
    afterAll(async () => {
      await store.close();
      await cleanup?.();
    });

    it('round-trips a full record, nulls and JSON fields included, and sets the version', async () => {
      const r = record();
      const stored = await store.put(r, null);
      expect(stored).toEqual({ ...r, version: 1 });
      expect(await store.get(r.id)).toEqual({ ...r, version: 1 });
      const bare = record({
        lastError: null,
        account: null,
        scopes: null,
        clientId: null,
        accessTokenExpiresAt: null,
        apiBaseUrl: 'https://x.test/na1/',
      });
      await store.put(bare, null);
      expect(await store.get(bare.id)).toEqual({ ...bare, version: 1 });
      const ids = (await store.list()).map((x) => x.id);
      expect(ids).toContain(r.id);
      expect(ids).toContain(bare.id);
      expect(await store.get('missing')).toBeNull();
    });

    it('compare-and-swap: a stale or duplicate write changes nothing', async () => {
      const r = record();
      await store.put(r, null);
      expect(await store.put({ ...r, status: 'revoked' }, null)).toBeNull();
      const v2 = await store.put({ ...r, sealed: 'second' }, 1);
      expect(v2?.version).toBe(2);
      expect(await store.put({ ...r, sealed: 'stale' }, 1)).toBeNull();
      expect(await store.get(r.id)).toMatchObject({ version: 2, sealed: 'second', status: 'active' });
      expect(await store.put(record({ id: 'never-created' }), 3)).toBeNull();
      expect(await store.get('never-created')).toBeNull();
    });

    it('exactly one of many concurrent writers from the same version wins (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: 12 }), async (writers) => {
          const r = record();
          await store.put(r, null);
          const results = await Promise.all(
            Array.from({ length: writers }, (_, i) => store.put({ ...r, sealed: `w${i}` }, 1)),
          );
          const winners = results.filter((x) => x !== null);
          expect(winners).toHaveLength(1);
          expect((await store.get(r.id))?.sealed).toBe(winners[0]?.sealed);
        }),
        { numRuns: 15 },
      );
    });

    it('lease: one holder, re-entrant for its owner, released only by its owner, free after expiry', async () => {
      const id = record().id;
      expect(await store.acquireLease(id, 'a', 10_000)).not.toBeNull();
      expect(await store.acquireLease(id, 'b', 10_000)).toBeNull();
      expect(await store.acquireLease(id, 'a', 10_000)).not.toBeNull();
      await store.releaseLease(id, 'b');
      expect(await store.acquireLease(id, 'b', 10_000)).toBeNull();
      await store.releaseLease(id, 'a');
      expect(await store.acquireLease(id, 'b', 80)).not.toBeNull();
      expect(await store.acquireLease(id, 'c', 10_000)).toBeNull();
      await sleep(150);
      expect(await store.acquireLease(id, 'c', 10_000)).not.toBeNull();
    });

    it('exactly one of many concurrent lease takers wins (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: 12 }), async (takers) => {
          const id = record().id;
          const got = await Promise.all(
            Array.from({ length: takers }, (_, i) => store.acquireLease(id, `owner-${i}`, 10_000)),
          );
          expect(got.filter(Boolean)).toHaveLength(1);
        }),
        { numRuns: 15 },
      );
    });

    it('delete removes the connection and its lease', async () => {
      const r = record();
      await store.put(r, null);
      expect(await store.acquireLease(r.id, 'a', 60_000)).not.toBeNull();
      expect(await store.delete(r.id)).toBe(true);
      expect(await store.delete(r.id)).toBe(false);
      expect(await store.get(r.id)).toBeNull();
      expect(await store.acquireLease(r.id, 'b', 60_000)).not.toBeNull();
    });

    it('lease: taking over an expired lease names its holder; renewing or taking a free one does not', async () => {
      const id = record().id;
      expect(await store.acquireLease(id, 'a', 10_000)).toEqual({ takenOver: null });
      expect(await store.acquireLease(id, 'a', 60)).toEqual({ takenOver: null });
      await sleep(120);
      const grant = await store.acquireLease(id, 'b', 10_000);
      expect(grant?.takenOver?.owner).toBe('a');
      expect(grant?.takenOver?.since).toBeGreaterThan(Date.now() - 60_000);
      await store.releaseLease(id, 'b');
      expect(await store.acquireLease(id, 'c', 10_000)).toEqual({ takenOver: null });
    });

    it('change feed: another store object on the same data hears every put and delete within a second', async () => {
      const other = await peer(store);
      const seen: [string | null, number | null][] = [];
      const stop = other.subscribe((id, version) => seen.push([id, version]));
      try {
        if ('listening' in other) await (other as { listening(): Promise<boolean> }).listening();
        const r = record();
        await store.put(r, null);
        await store.put({ ...r, status: 'revoked' }, 1);
        await store.delete(r.id);
        for (let i = 0; i < 75 && seen.at(-1)?.[1] !== null; i++) await sleep(20);
        expect(seen.filter(([id]) => id === r.id)).toEqual([
          [r.id, 1],
          [r.id, 2],
          [r.id, null],
        ]);
      } finally {
        stop();
        if (other !== store) await other.close();
      }
    });

    it('a pending authorization is taken exactly once', async () => {
      const p: PendingAuthorization = {
        state: `state-${Math.random()}`,
        connectionId: 'alice',
        provider: 'cronofy',
        params: { dataCenter: 'uk' },
        clientId: 'c',
        redirectUri: 'http://127.0.0.1:9/cb',
        scopes: ['read_events'],
        sealed: 'v1.x.y.z',
        createdAt: Date.now(),
        expiresAt: Date.now() + 600_000,
      };
      await store.savePendingAuthorization(p);
      const taken = await Promise.all([
        store.takePendingAuthorization(p.state),
        store.takePendingAuthorization(p.state),
      ]);
      expect(taken.filter(Boolean)).toEqual([p]);
      expect(await store.takePendingAuthorization(p.state)).toBeNull();
    });
    it('outbox: events land with the write that carries them, and only when it lands', async () => {
      const outbox = store.outbox;
      expect(outbox).toBeDefined();
      if (!outbox) return;
      const of = async (id: string) => (await outbox.pending(100_000)).filter((x) => x.connectionId === id);
      const r = record();
      const created = event(r.id);
      expect(await store.put(r, null, [created])).not.toBeNull();
      // A lost compare-and-swap and a duplicate insert write no event.
      expect(await store.put(r, null, [event(r.id)])).toBeNull();
      expect(await store.put({ ...r, status: 'revoked' }, 7, [event(r.id, 'connection.revoked')])).toBeNull();
      const revoked = event(r.id, 'connection.revoked');
      const second = event(r.id, 'connection.revoked');
      expect(await store.put({ ...r, status: 'revoked' }, 1, [revoked, second])).not.toBeNull();
      expect(await of(r.id)).toEqual([created, revoked, second]);
      // A write without events leaves the outbox alone.
      expect(await store.put({ ...r, sealed: 'x' }, 2)).not.toBeNull();
      expect(await of(r.id)).toHaveLength(3);
      const removed = event(r.id, 'connection.removed');
      expect(await store.delete(r.id, [removed])).toBe(true);
      expect(await store.delete(r.id, [event(r.id, 'connection.removed')])).toBe(false);
      expect((await of(r.id)).map((x) => x.id)).toEqual([created.id, revoked.id, second.id, removed.id]);
      await outbox.remove([created.id, revoked.id]);
      await outbox.remove([created.id]);
      expect((await of(r.id)).map((x) => x.id)).toEqual([second.id, removed.id]);
      await outbox.remove([second.id, removed.id]);
      expect(await of(r.id)).toEqual([]);
    });

    it('outbox: of many concurrent writers from one version, only the winner’s event is written (property)', async () => {
      const outbox = store.outbox;
      if (!outbox) throw new Error('no outbox');
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: 10 }), async (writers) => {
          const r = record();
          await store.put(r, null);
          const events = Array.from({ length: writers }, () => event(r.id, 'connection.revoked'));
          const results = await Promise.all(
            events.map((ev, i) => store.put({ ...r, sealed: `w${i}` }, 1, [ev])),
          );
          const winner = results.findIndex((x) => x !== null);
          const written = (await outbox.pending(100_000)).filter((x) => x.connectionId === r.id);
          expect(written.map((x) => x.id)).toEqual([events[winner]?.id]);
          await outbox.remove(written.map((x) => x.id));
        }),
        { numRuns: 10 },
      );
    });
  });
}
