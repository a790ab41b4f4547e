import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ConnectionRecord,
  DueCursor,
  DueQuery,
  ListQuery,
  MetadataDocument,
  OutboxEvent,
  PendingAuthorization,
  Store,
} from '../../src/store/store.js';

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

/** Code-point order, computed independently of the engines: UTF-8 bytes compared. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Removes every connection, page by page (the scale tests need a store holding only their rows). */
async function empty(store: Store): Promise<void> {
  for (;;) {
    const page = await store.list({ limit: 200 });
    if (page.length === 0) return;
    for (const r of page) await store.delete(r.id);
  }
}

/** Every page of a query, following `after`, checking each page's size on the way. */
async function allPages(store: Store, query: ListQuery, limit: number): Promise<string[]> {
  const ids: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await store.list({ ...query, limit, ...(after !== undefined ? { after } : {}) });
    expect(page.length).toBeLessThanOrEqual(limit);
    ids.push(...page.map((r) => r.id));
    if (page.length < limit) return ids;
    after = page[page.length - 1]?.id;
  }
}

/** Every batch of a due query, following `next`. */
async function allDue(store: Store, query: Omit<DueQuery, 'after'>): Promise<string[]> {
  const ids: string[] = [];
  let phase: DueCursor['phase'] = 'access';
  let after: DueCursor | null = null;
  for (let i = 0; i < 1000; i++) {
    const batch = await store.due({ ...query, after });
    expect(batch.items.length).toBeLessThanOrEqual(query.limit);
    for (const x of batch.items) {
      // The access phase first, then the refresh phase; each item says which it came from.
      if (x.phase !== phase) expect([phase, x.phase]).toEqual(['access', 'refresh']);
      phase = x.phase;
      ids.push(`${x.phase}:${x.id}`);
    }
    if (batch.next === null) return ids;
    expect(batch.items).toHaveLength(query.limit);
    after = batch.next;
  }
  throw new Error('due() never ended');
}

/** Ids chosen to disagree between UTF-16 and code-point order, prefixes of each other, and ties. */
const TRICKY_IDS = [
  'a',
  'a-1',
  'a-10',
  'a-2',
  'A',
  'b',
  'é',
  'éa',
  '\uE000',
  '\u{1D49C}',
  '\u{1D49C}x',
  '日本',
  '\u{10FFFF}',
  '\u{10FFFF}z',
];

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

    it('lease: the holder’s own date for when it took the lease is what a taker-over hears, and a renewal keeps it', async () => {
      const id = record().id;
      const taken = Date.now() + 7_200_000; // the taker's clock may be hours from the store's
      expect(await store.acquireLease(id, 'a', 60, taken)).toEqual({ takenOver: null });
      expect(await store.acquireLease(id, 'a', 60, taken + 5_000)).toEqual({ takenOver: null });
      await sleep(120);
      const grant = await store.acquireLease(id, 'b', 10_000, taken + 9_000);
      expect(grant?.takenOver).toEqual({ owner: 'a', since: taken });
      await store.releaseLease(id, 'b');
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

    // ---- scale: keyset pages, due work, batches, key usage ----

    it('list: keyset pages in code-point order, with every filter, agree with count (property)', async () => {
      await empty(store);
      const providers = ['cronofy', 'checkfront'];
      const statuses = ['active', 'needs_reauth', 'revoked'] as const;
      const keys = ['aaaa1111', 'bbbb2222'];
      const all = TRICKY_IDS.map((id, i) =>
        record({
          id,
          provider: providers[i % 2] as string,
          status: statuses[i % 3] as ConnectionRecord['status'],
          sealed: `v2.${keys[i % 2 === 0 ? 0 : Math.floor(i / 2) % 2]}.iv.body${i}`,
        }),
      );
      for (const r of all) await store.put(r, null);
      expect(await allPages(store, {}, 3)).toEqual([...TRICKY_IDS].sort(byBytes));
      await fc.assert(
        fc.asyncProperty(
          fc.record(
            {
              provider: fc.constantFrom(...providers),
              status: fc.constantFrom(...statuses),
              idPrefix: fc.constantFrom('a', 'a-1', 'é', '\u{1D49C}', '\u{10FFFF}', 'zz', ''),
              keyId: fc.constantFrom(...keys, 'cccc3333'),
            },
            { requiredKeys: [] },
          ),
          fc.integer({ min: 1, max: 5 }),
          async (query, limit) => {
            const expected = all
              .filter(
                (r) =>
                  (query.provider === undefined || r.provider === query.provider) &&
                  (query.status === undefined || r.status === query.status) &&
                  (query.idPrefix === undefined || r.id.startsWith(query.idPrefix)) &&
                  (query.keyId === undefined || r.sealed.startsWith(`v2.${query.keyId}.`)),
              )
              .map((r) => r.id)
              .sort(byBytes);
            expect(await allPages(store, query, limit)).toEqual(expected);
            expect(await store.count(query)).toBe(expected.length);
          },
        ),
        { numRuns: 40 },
      );
      // `count` honours `after` (what is left to page through) and every filter.
      const rest = [...TRICKY_IDS].sort(byBytes).filter((id) => byBytes(id, 'b') > 0);
      expect(await store.count({ after: 'b' })).toBe(rest.length);
      expect(await store.count({ after: 'b', provider: 'cronofy', limit: 1 })).toBe(
        all.filter((r) => byBytes(r.id, 'b') > 0 && r.provider === 'cronofy').length,
      );
      // A page starts strictly after `after`, whether or not that id exists.
      expect((await store.list({ after: 'a-10', limit: 2 })).map((r) => r.id)).toEqual(['a-2', 'b']);
      expect((await store.list({ after: 'a-0', limit: 1 })).map((r) => r.id)).toEqual(['a-1']);
      await expect(store.list({ limit: 0 })).rejects.toThrow(/limit 0 is not a positive integer/);
      await expect(store.list({ limit: 1.5 })).rejects.toThrow(/positive integer/);
    });

    it('due: access tokens of one auth mode, then lapsing refresh tokens, most urgent first, in batches (property)', async () => {
      await empty(store);
      const T = 1_000_000;
      type Shape = {
        status: ConnectionRecord['status'];
        authMode: ConnectionRecord['authMode'];
        access: number | null;
        refresh: number | null;
      };
      const shape = fc.record({
        status: fc.constantFrom('active', 'active', 'active', 'needs_reauth', 'revoked') as fc.Arbitrary<
          ConnectionRecord['status']
        >,
        authMode: fc.constantFrom('oauth2', 'oauth2', 'client_credentials', 'token_pair') as fc.Arbitrary<
          ConnectionRecord['authMode']
        >,
        // Few distinct instants, so ties (same expiry, several ids) are common.
        access: fc.option(fc.constantFrom(T, T + 1, T + 2, T + 5, T + 9), { nil: null }),
        refresh: fc.option(fc.constantFrom(T, T + 3, T + 5, T + 8), { nil: null }),
      });
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(shape, { minLength: 0, maxLength: 14 }),
          fc.integer({ min: T - 1, max: T + 10 }),
          fc.integer({ min: T - 1, max: T + 10 }),
          fc.integer({ min: 1, max: 4 }),
          async (shapes: Shape[], accessBy, refreshBy, limit) => {
            round++;
            const rows = shapes.map((x, i) =>
              record({
                id: `due-${round}-${String.fromCharCode(122 - i)}`,
                status: x.status,
                authMode: x.authMode,
                accessTokenExpiresAt: x.access,
                refreshTokenExpiresAt: x.refresh,
              }),
            );
            for (const r of rows) await store.put(r, null);
            try {
              const phase = (pick: (r: ConnectionRecord) => number | null, by: number, oauthOnly: boolean) =>
                rows
                  .filter((r) => {
                    const t = pick(r);
                    return (
                      r.status === 'active' &&
                      t !== null &&
                      t <= by &&
                      (!oauthOnly || r.authMode === 'oauth2')
                    );
                  })
                  .sort((a, b) => (pick(a) as number) - (pick(b) as number) || byBytes(a.id, b.id))
                  .map((r) => r.id);
              const expected = [
                ...phase((r) => r.accessTokenExpiresAt, accessBy, true).map((id) => `access:${id}`),
                ...phase((r) => r.refreshTokenExpiresAt, refreshBy, false).map((id) => `refresh:${id}`),
              ];
              const query = {
                accessExpiresBy: accessBy,
                accessAuthMode: 'oauth2' as const,
                refreshExpiresBy: refreshBy,
                limit,
              };
              expect(await allDue(store, query)).toEqual(expected);
              const first = await store.due(query);
              expect(first.items.every((x) => x.provider === 'cronofy')).toBe(true);
            } finally {
              for (const r of rows) await store.delete(r.id);
            }
          },
        ),
        { numRuns: 30 },
      );
      await expect(
        store.due({ accessExpiresBy: 0, accessAuthMode: 'oauth2', refreshExpiresBy: 0, limit: 0 }),
      ).rejects.toThrow(/positive integer/);
    });

    it('putBatch: each write a compare-and-swap on its own; others hear of the ones that landed', async () => {
      const other = await peer(store);
      const seen: [string | null, number | null][] = [];
      const stop = other.subscribe((id, version) => seen.push([id, version]));
      try {
        if ('listening' in other) await (other as { listening(): Promise<boolean> }).listening();
        const a = record();
        const b = record();
        const c = record();
        for (const r of [a, b, c]) await store.put(r, null);
        await store.put({ ...b, sealed: 'v2.bbbb2222.moved.on' }, 1);
        const results = await store.putBatch([
          { record: { ...a, sealed: 'v2.cccc3333.a.2' }, expectedVersion: 1 },
          { record: { ...b, sealed: 'v2.cccc3333.b.stale' }, expectedVersion: 1 },
          { record: { ...c, sealed: 'v2.cccc3333.c.2', status: 'revoked' }, expectedVersion: 1 },
        ]);
        expect(results.map((r) => r?.version ?? null)).toEqual([2, null, 2]);
        expect(results[0]).toEqual({ ...a, sealed: 'v2.cccc3333.a.2', version: 2 });
        expect(await store.get(a.id)).toEqual({ ...a, sealed: 'v2.cccc3333.a.2', version: 2 });
        expect(await store.get(b.id)).toMatchObject({ version: 2, sealed: 'v2.bbbb2222.moved.on' });
        expect(await store.get(c.id)).toMatchObject({ version: 2, status: 'revoked' });
        expect(await store.putBatch([])).toEqual([]);
        for (let i = 0; i < 75 && !seen.some(([id, v]) => id === c.id && v === 2); i++) await sleep(20);
        expect(seen).toContainEqual([a.id, 2]);
        expect(seen).toContainEqual([c.id, 2]);
        expect(seen).not.toContainEqual([b.id, 3]);
      } finally {
        stop();
        if (other !== store) await other.close();
      }
    });

    it('key ids: which keys seal rows, how many each, found by key; garbage blobs name none', async () => {
      await empty(store);
      const pending = (state: string, sealed: string): PendingAuthorization => ({
        state,
        connectionId: 'x',
        provider: 'cronofy',
        params: {},
        clientId: 'c',
        redirectUri: 'http://127.0.0.1:9/cb',
        scopes: [],
        sealed,
        createdAt: Date.now(),
        expiresAt: Date.now() + 600_000,
      });
      for (const p of await store.listPendingAuthorizations({ limit: 1000 }))
        await store.takePendingAuthorization(p.state);
      expect(await store.keyIds()).toEqual([]);
      const a = record({ sealed: 'v2.aaaa1111.iv.one' });
      const b = record({ sealed: 'v1.bbbb2222.iv.two' });
      const junk = record({ sealed: 'not-a-blob' });
      const v9 = record({ sealed: 'v9.dddd4444.iv.body' });
      for (const r of [a, b, junk, v9]) await store.put(r, null);
      await store.savePendingAuthorization(pending('st-1', 'v2.cccc3333.iv.p1'));
      await store.savePendingAuthorization(pending('st-2', 'v2.aaaa1111.iv.p2'));
      const reg = {
        issuer: 'https://as.example',
        clientId: 'c1',
        sealed: 'v2.eeee5555.iv.reg',
        version: 0,
        createdAt: 1,
        updatedAt: 1,
      };
      await store.clientRegistrations?.put(reg, null);
      expect(await store.keyIds()).toEqual(['aaaa1111', 'bbbb2222', 'cccc3333', 'eeee5555']);
      expect(await store.keyUsage()).toEqual([
        { keyId: 'aaaa1111', connections: 1, pendingAuthorizations: 1, clientRegistrations: 0 },
        { keyId: 'bbbb2222', connections: 1, pendingAuthorizations: 0, clientRegistrations: 0 },
        { keyId: 'cccc3333', connections: 0, pendingAuthorizations: 1, clientRegistrations: 0 },
        { keyId: 'eeee5555', connections: 0, pendingAuthorizations: 0, clientRegistrations: 1 },
      ]);
      expect(await store.clientRegistrations?.delete(reg.issuer, 1)).toBe(true);
      expect((await store.list({ keyId: 'bbbb2222' })).map((r) => r.id)).toEqual([b.id]);
      // A write moves the row to its new key; a delete takes it out.
      await store.put({ ...b, sealed: 'v2.aaaa1111.iv.three' }, 1);
      await store.delete(a.id);
      expect(await store.keyUsage()).toEqual([
        { keyId: 'aaaa1111', connections: 1, pendingAuthorizations: 1, clientRegistrations: 0 },
        { keyId: 'cccc3333', connections: 0, pendingAuthorizations: 1, clientRegistrations: 0 },
      ]);
      expect(
        (await store.listPendingAuthorizations({ keyId: 'cccc3333', limit: 10 })).map((p) => p.state),
      ).toEqual(['st-1']);
      expect((await store.listPendingAuthorizations({ limit: 1 })).map((p) => p.state)).toEqual(['st-1']);
      expect(
        (await store.listPendingAuthorizations({ after: 'st-1', limit: 5 })).map((p) => p.state),
      ).toEqual(['st-2']);
      // Re-sealing a pending authorization is a compare-and-swap on its blob.
      expect(await store.resealPendingAuthorization('st-1', 'v2.wrong.iv.x', 'v2.aaaa1111.iv.new')).toBe(
        false,
      );
      expect(await store.resealPendingAuthorization('missing', 'v2.cccc3333.iv.p1', 'v2.aaaa1111.iv.n')).toBe(
        false,
      );
      expect(await store.resealPendingAuthorization('st-1', 'v2.cccc3333.iv.p1', 'v2.aaaa1111.iv.new')).toBe(
        true,
      );
      expect(await store.keyIds()).toEqual(['aaaa1111']);
      expect(await store.takePendingAuthorization('st-1')).toMatchObject({
        state: 'st-1',
        sealed: 'v2.aaaa1111.iv.new',
        connectionId: 'x',
        scopes: [],
      });
      await store.takePendingAuthorization('st-2');
      for (const r of [b, junk, v9]) await store.delete(r.id);
      expect(await store.keyIds()).toEqual([]);
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

    it('metadata documents: stored per issuer, read back exactly, by another store object too', async () => {
      const cache = store.serverMetadata;
      expect(cache).toBeDefined();
      if (!cache) return;
      const issuer = `https://id-${Math.random().toString(36).slice(2, 8)}.test`;
      expect(await cache.get(issuer)).toBeNull();
      const doc = metadataDocument(issuer, 1_700_000_000_000);
      expect(await cache.put(doc)).toBe(true);
      expect(await cache.get(issuer)).toEqual(doc);
      // The key is the issuer exactly: another path, a trailing slash, another case are others.
      expect(await cache.get(`${issuer}/`)).toBeNull();
      expect(await cache.get(issuer.toUpperCase())).toBeNull();
      const other = metadataDocument(`${issuer}/tenant`, 1_700_000_000_000);
      expect(await cache.put(other)).toBe(true);
      expect(await cache.get(issuer)).toEqual(doc);
      const second = await peer(store);
      try {
        expect(await second.serverMetadata?.get(`${issuer}/tenant`)).toEqual(other);
      } finally {
        if (second !== store) await second.close();
      }
    });

    it('metadata documents: a newer read replaces, an equal one moves the expiry, an older one is refused', async () => {
      const cache = store.serverMetadata;
      if (!cache) throw new Error('no metadata cache');
      const issuer = `https://id-${Math.random().toString(36).slice(2, 8)}.test`;
      const first = metadataDocument(issuer, 1_700_000_000_000);
      await cache.put(first);
      const newer = metadataDocument(issuer, 1_700_000_060_000, 'newer');
      expect(await cache.put(newer)).toBe(true);
      expect(await cache.put(first)).toBe(false);
      expect(await cache.get(issuer)).toEqual(newer);
      const extended = { ...newer, expiresAt: newer.expiresAt + 60_000 };
      expect(await cache.put(extended)).toBe(true);
      expect(await cache.get(issuer)).toEqual(extended);
    });

    it('metadata documents: whatever the order of the writes, the latest read is kept (property)', async () => {
      const cache = store.serverMetadata;
      if (!cache) throw new Error('no metadata cache');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 8 }),
          async (ages) => {
            const issuer = `https://p-${Math.random().toString(36).slice(2, 10)}.test`;
            const docs = ages.map((a, i) => metadataDocument(issuer, 1_700_000_000_000 + a * 1000, `w${i}`));
            for (const d of docs) await cache.put(d);
            const latest = Math.max(...docs.map((d) => d.fetchedAt));
            // Of the reads made at the latest time, the last written.
            expect(await cache.get(issuer)).toEqual(docs.filter((d) => d.fetchedAt === latest).at(-1));
          },
        ),
        { numRuns: 20 },
      );
    });

    it('client registrations: one per issuer, written by compare-and-swap, read by another store object too', async () => {
      const regs = store.clientRegistrations;
      if (!regs) throw new Error('no client registrations');
      const issuer = `https://as-${Math.random().toString(36).slice(2, 8)}.test/tenant`;
      const row = {
        issuer,
        clientId: 'c-1',
        sealed: 'v2.ffff6666.iv.one',
        version: 0,
        createdAt: 5,
        updatedAt: 5,
      };
      expect(await regs.get(issuer)).toBeNull();
      const first = await regs.put(row, null);
      expect(first).toEqual({ ...row, version: 1 });
      // A second creation loses; a stale version loses; the current one wins.
      expect(await regs.put({ ...row, clientId: 'c-x' }, null)).toBeNull();
      const next = { ...row, clientId: 'c-2', sealed: 'v2.ffff6666.iv.two', updatedAt: 9 };
      expect(await regs.put(next, 1)).toEqual({ ...next, version: 2 });
      expect(await regs.put({ ...next, clientId: 'c-3' }, 1)).toBeNull();
      const second = await peer(store);
      try {
        expect(await second.clientRegistrations?.get(issuer)).toEqual({ ...next, version: 2 });
        expect((await second.clientRegistrations?.list())?.map((r) => r.issuer)).toContain(issuer);
      } finally {
        if (second !== store) await second.close();
      }
      // The key is the issuer exactly.
      expect(await regs.get(`${issuer}/`)).toBeNull();
      expect(await regs.delete(issuer, 1)).toBe(false);
      expect(await regs.delete(issuer, 2)).toBe(true);
      expect(await regs.get(issuer)).toBeNull();
    });
  });
}

/** A metadata document as Discovery stores one: the document JSON is opaque to the store. */
function metadataDocument(issuer: string, fetchedAt: number, tag = 'v1'): MetadataDocument {
  return {
    issuer,
    document: JSON.stringify({ issuer, token_endpoint: `${issuer}/token`, tag, note: 'ünïcode ✓' }),
    source: `${issuer}/.well-known/openid-configuration`,
    fetchedAt,
    expiresAt: fetchedAt + 3_600_000,
  };
}
