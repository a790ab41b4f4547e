/**
 * One deterministic regression test per defect of the core-correctness issue (#8), written as
 * the behaviour the README promises, through the public contract, on every engine the defect
 * applies to. Store-independent defects (4–7) run on the default engine, SQLite, and 4–5 on all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatonRequestInit } from '../../src/core/api-fetch.js';
import {
  type BatonError,
  NetworkError,
  ProviderError,
  ReauthorizationRequired,
  StoreError,
} from '../../src/errors.js';
import type { SimulatorOptions, TokenLogEntry } from '../../src/simulator/index.js';
import { MemoryStore, openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/env.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { modelStore } from '../model/model-store.js';
import { Rng } from '../model/rng.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

const HOUR = 3_600_000;
type EngineName = 'memory' | 'sqlite' | 'postgres';

interface Engine {
  name: EngineName;
  enabled: boolean;
}
const ALL: Engine[] = [
  { name: 'memory', enabled: true },
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(PG_URL) },
];
const engines = (...names: EngineName[]) => ALL.filter((e) => names.includes(e.name));

/**
 * A simulator and Baton instances on one store of the given engine. `openStore()` gives a
 * separate connection to that store (for memory, the one shared MemoryStore), as another
 * process would have.
 */
interface EngineWorld extends World {
  engine: EngineName;
  storeSpec: string | null;
  openStore(): Promise<Store>;
  home: string;
}

async function engineWorld(engine: EngineName, sim: SimulatorOptions = {}): Promise<EngineWorld> {
  const extraStores: Store[] = [];
  const home = tempDir('baton-home-');
  let storeSpec: string | null = null;
  let schema: string | null = null;
  let shared: MemoryStore | null = null;
  if (engine === 'memory') shared = new MemoryStore();
  if (engine === 'postgres') {
    schema = uniqueSchema();
    const u = new URL(PG_URL as string);
    u.searchParams.set('schema', schema);
    storeSpec = u.toString();
  }
  const w = await world({
    sim: { cronofyRotation: 'always', ...sim },
    baton: {
      ...(shared ? { store: shared } : storeSpec ? { store: storeSpec } : {}),
      env: { BATON_HOME: home.dir },
    },
  });
  if (engine === 'sqlite') storeSpec = `sqlite:${w.dbPath}`;
  const close = w.close;
  return {
    ...w,
    engine,
    storeSpec,
    home: home.dir,
    async openStore() {
      if (shared) return shared;
      const s = await openStore(storeSpec as string, { env: {} });
      extraStores.push(s);
      return s;
    },
    async close() {
      await close();
      for (const s of extraStores) await s.close().catch(() => undefined);
      if (schema) await dropSchema(schema);
      home.cleanup();
    },
  };
}

/** A fresh world per test on `engine`, with alice authorized at Cronofy; closed after each test. */
function aliceOn(engine: EngineName, sim: SimulatorOptions = {}): () => EngineWorld {
  let w: EngineWorld;
  beforeEach(async () => {
    w = await engineWorld(engine, sim);
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => w.close());
  return () => w;
}

/** The simulator's entries for successful refresh_token grants, oldest first. */
function rotations(w: World): TokenLogEntry[] {
  return w.sim
    .tokenLog()
    .filter((e) => e.endpoint === 'token' && e.grantType === 'refresh_token' && e.status === 200);
}

async function until(cond: () => boolean | Promise<boolean>, limitMs: number, stepMs = 10): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) return;
    await sleep(stepMs);
  }
}

// ---------------------------------------------------------------------------------------------

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(`defect 1 on ${e.name}: a refused token is never handed out again`, () => {
    const world = aliceOn(e.name);

    it('after a 401 and an invalid_grant, getAccessToken and fetch refuse without sending the dead token', async () => {
      const w = world();
      const token = await w.baton.getAccessToken('alice');
      w.sim.revokeGrants({ vendor: 'cronofy' }); // the provider revokes: the token now gets 401
      const first = await w.baton.fetch('alice', 'v1/account').catch((err: unknown) => err);
      expect(first).toBeInstanceOf(ReauthorizationRequired);
      expect((await w.baton.get('alice')).status).toBe('needs_reauth');
      const sent = () =>
        w.sim.tokenLog().filter((x) => x.endpoint === 'api' && x.accessToken === token).length;
      expect(sent()).toBe(1);

      await expect(w.baton.getAccessToken('alice')).rejects.toBeInstanceOf(ReauthorizationRequired);
      await expect(w.baton.fetch('alice', 'v1/account')).rejects.toBeInstanceOf(ReauthorizationRequired);
      // Not one more request with the refused token.
      expect(sent()).toBe(1);
    });
  });
}

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(`defect 2 on ${e.name}: revoke wins the race with a refresh in flight`, () => {
    const world = aliceOn(e.name);

    it('a revoke while another instance waits on a rotated answer ends revoked, with the rotated grant dead', async () => {
      const w = world();
      const a = w.baton;
      const b = await w.open({ store: await w.openStore() });
      const spent = (await a.reveal('alice')).tokens?.refreshToken as string;
      w.sim.clock.advance(HOUR + 5_000);
      // A's refresh reaches the provider, which rotates at once and holds the answer back.
      w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'slow-answer', delayMs: 600 });
      const refreshing = a.getAccessToken('alice').then(
        (t) => ({ ok: true as const, t }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      await until(() => w.sim.tokenStatus(spent) === 'rotated', 5_000);
      expect(w.sim.tokenStatus(spent)).toBe('rotated');

      await b.revoke('alice');
      await refreshing;
      await sleep(50);
      const rotated = rotations(w)[0] as TokenLogEntry;
      expect(rotated.presentedRefreshToken).toBe(spent);

      expect((await b.get('alice')).status).toBe('revoked');
      expect((await a.get('alice')).status).toBe('revoked');
      // The provider's grant, rotated refresh token included, is dead.
      expect(w.sim.tokenStatus(rotated.issuedRefreshToken as string)).not.toBe('live');
      await expect(a.getAccessToken('alice')).rejects.toBeInstanceOf(ReauthorizationRequired);
      await expect(b.getAccessToken('alice')).rejects.toBeInstanceOf(ReauthorizationRequired);
    });
  });
}

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(`defect 3 on ${e.name}: an older pair never overwrites a newer one`, () => {
    // Cronofy "sometimes": the first refresh keeps the refresh token, the second rotates it.
    const world = aliceOn(e.name, { cronofyRotation: 'sometimes' });

    it('a pair held after a failed commit is not written back over another instance’s rotation', async () => {
      const w = world();
      const faulty = modelStore(await w.openStore(), new Rng(3));
      const a = await w.open({ store: faulty.store, leaseTtlMs: 200 });
      const b = await w.open({ store: await w.openStore(), leaseTtlMs: 200 });
      w.sim.clock.advance(HOUR + 5_000);

      // A refreshes (no rotation this time) and cannot commit: it holds the pair.
      faulty.failPuts = 1_000;
      await a.getAccessToken('alice').catch(() => undefined);
      expect(rotations(w)).toHaveLength(1);
      expect(rotations(w)[0]?.rotated).toBe(false);

      // A's lease runs out (or A keeps renewing it while it holds the pair: then B waits for A).
      // B asks for a refresh with the same refresh token; this time the provider rotates.
      await sleep(300);
      const bRefresh = b.refresh('alice', { force: true }).catch((err: unknown) => err);
      await sleep(100);
      // A's store comes back; whatever A does with its held pair, no rotation is undone.
      faulty.failPuts = 0;
      await a.getAccessToken('alice').catch(() => undefined);
      await bRefresh;
      await a.close();

      // The store holds the newest refresh token the provider issued, and it is live.
      const issued = rotations(w).map((r) => r.issuedRefreshToken);
      const stored = (await b.reveal('alice')).tokens?.refreshToken;
      expect(stored).toBe(issued[issued.length - 1]);
      expect(w.sim.tokenStatus(stored as string)).toBe('live');
      expect((await b.get('alice')).status).toBe('active');
      // And the next expiry refreshes fine.
      w.sim.clock.advance(HOUR + 5_000);
      const fresh = await w.open({ store: await w.openStore() });
      await expect(fresh.getAccessToken('alice')).resolves.toEqual(expect.any(String));
      expect((await fresh.get('alice')).status).toBe('active');
    });
  });
}

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(
    `defect 12 on ${e.name}: a caller that waited behind a held pair neither spends the refresh token it replaced nor frees its lease`,
    () => {
      const world = aliceOn(e.name);

      it('a second caller of the same instance hears the store failure; another instance waits for the held pair', async () => {
        const w = world();
        const faulty = modelStore(await w.openStore(), new Rng(12));
        const a = await w.open({ store: faulty.store, leaseTtlMs: 300 });
        const b = await w.open({ store: await w.openStore(), leaseTtlMs: 300 });
        // Due (inside the refresh window), and the store refuses A's writes.
        w.sim.clock.advance(HOUR - 30_000);
        faulty.failPuts = 1_000;
        // Two callers of A: a forced refresh, and an explicit one queued behind it for the lease.
        const first = a.refresh('alice', { force: true }).catch((err: unknown) => err);
        const second = a.refresh('alice').catch((err: unknown) => err);
        expect(await first).toBeInstanceOf(StoreError);
        // The second must not refresh with the refresh token A's held pair replaced.
        expect(await second).toBeInstanceOf(StoreError);
        expect(rotations(w)).toHaveLength(1);
        // Another instance must wait for A's held pair: the lease is still A's, kept renewed.
        const bRefresh = b.refresh('alice', { force: true }).catch((err: unknown) => err);
        await sleep(700);
        expect(rotations(w)).toHaveLength(1);
        faulty.failPuts = 0;
        const info = await bRefresh;
        expect(info).toMatchObject({ status: 'active' });
        // The provider never saw a refresh token twice: every refresh was granted.
        const refused = w.sim
          .tokenLog()
          .filter((x) => x.endpoint === 'token' && x.grantType === 'refresh_token' && x.status !== 200);
        expect(refused).toEqual([]);
        expect(rotations(w)).toHaveLength(2);
        const stored = (await b.reveal('alice')).tokens?.refreshToken;
        expect(stored).toBe(rotations(w)[1]?.issuedRefreshToken);
        expect(w.sim.tokenStatus(stored as string)).toBe('live');
      });
    },
  );
}

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(`defect 4 on ${e.name}: an explicit refresh that fails says so`, () => {
    const world = aliceOn(e.name);

    it('refresh({force:true}) after three 502s rejects with a ProviderError (status 502)', async () => {
      const w = world();
      w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'html', status: 502, count: 3 });
      const err = await w.baton.refresh('alice', { force: true }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).status).toBe(502);
      expect((err as BatonError).remediation).toEqual(expect.any(String));
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(3);
      // The soft path still serves the old, valid token.
      await expect(w.baton.getAccessToken('alice')).resolves.toEqual(expect.any(String));
    });
  });
}

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(`defect 5 on ${e.name}: short-lived tokens are not refreshed per call`, () => {
    let w: EngineWorld;
    beforeEach(async () => {
      w = await engineWorld(e.name);
      // An OpenID-style provider: 60 s access tokens, Baton's default 60 s window.
      w.sim.setAccessTokenLifetime('cronofy', 60);
      await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    });
    afterEach(async () => w.close());

    // The rule: a token is due min(window, lifetime / 2) before it expires.
    it('100 getAccessToken calls over 10 s of virtual time cause at most one refresh', async () => {
      for (let i = 0; i < 100; i++) {
        await w.baton.getAccessToken('alice');
        w.sim.clock.advance(100);
      }
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBeLessThanOrEqual(1);
    });

    it('one call a second for two minutes refreshes about twice a minute (3 to 5 times)', async () => {
      for (let i = 0; i < 120; i++) {
        await w.baton.getAccessToken('alice');
        w.sim.clock.advance(1_000);
      }
      const n = tokenCalls(w, 'cronofy', 'refresh_token');
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(5);
    });
  });
}

describe('defect 6 (store-independent; SQLite): client_credentials requests the spec’s default scopes', () => {
  let w: World;
  const SCOPES = ['cards:read', 'cards:write'];
  beforeEach(async () => {
    w = await world();
    const base = w.profile.providers['checkissuing'] ?? {};
    w.baton = await w.open({
      providers: { ...w.profile.providers, checkissuing: { ...base, scopes: SCOPES } },
    });
  });
  afterEach(async () => w.close());

  it('connect with no caller scopes asks for the spec’s scopes, and so does its refresh', async () => {
    await w.baton.connect({
      provider: 'checkissuing',
      connectionId: 'cc',
      params: { environment: 'sandbox' },
    });
    await w.baton.refresh('cc', { force: true });
    const grants = w.sim
      .tokenLog()
      .filter((x) => x.endpoint === 'token' && x.grantType === 'client_credentials');
    expect(grants).toHaveLength(2);
    for (const g of grants) expect(g.scope?.split(' ')).toEqual(SCOPES);
  });

  it('scopes named by the caller win over the spec’s', async () => {
    await w.baton.connect({
      provider: 'checkissuing',
      connectionId: 'cc',
      params: { environment: 'sandbox' },
      scopes: ['cards:read'],
    });
    const grant = w.sim
      .tokenLog()
      .find((x) => x.endpoint === 'token' && x.grantType === 'client_credentials');
    expect(grant?.scope).toBe('cards:read');
  });
});

describe('defect 7 (store-independent; SQLite): baton.fetch honours a timeout', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => w.close());

  // The API hangs far longer than the test's own timeout: finishing at all proves the abort.
  const hang = () => w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'delay', delayMs: 120_000 });

  it('Baton.open({ http: { timeoutMs } }) aborts a silent API with a NetworkError', async () => {
    const baton = await w.open({ http: { timeoutMs: 300 } });
    await baton.getAccessToken('alice');
    hang();
    const err = await baton.fetch('alice', 'v1/account').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).remediation).toEqual(expect.any(String));
  }, 10_000);

  it('a per-call timeoutMs overrides the default', async () => {
    const baton = await w.open({ http: { timeoutMs: 600_000 } });
    hang();
    const err = await baton
      .fetch('alice', 'v1/account', { timeoutMs: 300 } as BatonRequestInit)
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NetworkError);
  }, 10_000);
});

for (const e of engines('sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(
    `defect 10 on ${e.name}: a held pair survives close() while the store is down`,
    () => {
      const world = aliceOn(e.name);

      it('serves the held token, journals the pair on close, and the next open commits it first', async () => {
        const w = world();
        const faulty = modelStore(await w.openStore(), new Rng(10));
        const a = await w.open({ store: faulty.store, env: { BATON_HOME: w.home } });
        w.sim.clock.advance(HOUR + 5_000);

        faulty.failPuts = 1_000;
        const token = await a.getAccessToken('alice');
        const rotation = rotations(w)[0] as TokenLogEntry;
        // The held pair's valid token is served while the store refuses it.
        expect(token).toBe(rotation.issuedAccessToken);
        expect(a.pendingCommits).toEqual(['alice']);
        faulty.down = true;
        await expect(a.getAccessToken('alice')).resolves.toBe(token);

        await a.close();
        if (e.name === 'sqlite') {
          const journal = `${w.dbPath}.rescue`;
          expect(existsSync(journal)).toBe(true);
          // Sealed: neither token appears in the journal in the clear.
          const text = readFileSync(journal).toString('latin1');
          expect(text).not.toContain(rotation.issuedAccessToken);
          expect(text).not.toContain(rotation.issuedRefreshToken);
        }

        // The next Baton on that store commits the journal before anything else.
        const next = await w.open({ store: await w.openStore(), env: { BATON_HOME: w.home } });
        const stored = await next.reveal('alice');
        expect(stored.tokens?.refreshToken).toBe(rotation.issuedRefreshToken);
        expect(stored.tokens?.accessToken).toBe(token);
        await expect(next.getAccessToken('alice')).resolves.toBe(token);
        expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
      });

      it('close() with the store down resolves (the pair goes to the journal, not an error)', async () => {
        const w = world();
        const faulty = modelStore(await w.openStore(), new Rng(11));
        const a = await w.open({ store: faulty.store, env: { BATON_HOME: w.home } });
        w.sim.clock.advance(HOUR + 5_000);
        faulty.failPuts = 1_000;
        await a.getAccessToken('alice').catch((x: unknown) => expect(x).toBeInstanceOf(StoreError));
        faulty.down = true;
        await expect(a.close()).resolves.toBeUndefined();
      });
    },
  );
}

describe('defect 11 on sqlite: another instance’s revoke reaches a running instance within 1 s', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => w.close());

  it('getAccessToken refuses within 1.5 s of a revoke made on another connection to the file', async () => {
    const running = w.baton;
    await running.getAccessToken('alice'); // warm: cached
    const cli = await w.open(); // another SqliteStore on the same file, as `baton revoke` would be
    await cli.revoke('alice');
    let outcome: unknown = null;
    await until(
      async () => {
        outcome = await running.getAccessToken('alice').then(
          () => null,
          (err: unknown) => err,
        );
        return outcome !== null;
      },
      1_500,
      100,
    );
    expect(outcome).toBeInstanceOf(ReauthorizationRequired);
  });

  it('a remove made elsewhere is seen too: ConnectionNotFound within 1.5 s', async () => {
    const running = w.baton;
    await running.getAccessToken('alice');
    const cli = await w.open();
    await cli.remove('alice');
    let outcome: unknown = null;
    await until(
      async () => {
        outcome = await running.getAccessToken('alice').then(
          () => null,
          (err: unknown) => err,
        );
        return outcome !== null;
      },
      1_500,
      100,
    );
    expect((outcome as BatonError | null)?.code).toBe('connection_not_found');
  });
});

for (const e of engines('memory', 'sqlite', 'postgres')) {
  describe.skipIf(!e.enabled)(
    `defect 13 on ${e.name}: a refresh lost with its process is dated on Baton's clock, not the store's`,
    () => {
      const world = aliceOn(e.name);

      /** Two instances on the store, A's dying; A's refresh reaches the provider (which rotates) and A stops. */
      async function loseWithProcess(w: EngineWorld) {
        // The provider documents a 30-minute reuse window (Xero's), and Baton's spec says so.
        w.sim.setRefreshReuse('cronofy', { graceSeconds: 1800, revokesFamily: false });
        const providers = {
          ...w.profile.providers,
          cronofy: {
            ...w.profile.providers['cronofy'],
            refreshTokenReuse: { mode: 'window', seconds: 1800 },
          },
        } as const;
        const dying = modelStore(await w.openStore(), new Rng(13));
        const a = await w.open({
          store: dying.store,
          providers,
          leaseTtlMs: 300,
          http: { timeoutMs: 5_000 },
        });
        const b = await w.open({ store: await w.openStore(), providers, leaseTtlMs: 300 });
        const old = (await b.reveal('alice')).tokens?.refreshToken as string;
        return {
          b,
          old,
          async lose(): Promise<Promise<unknown>> {
            w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'slow-answer', delayMs: 1_500 });
            const arrived = new Promise<void>((resolve) => {
              const stop = w.sim.tap((phase, info) => {
                if (phase === 'request' && info.endpoint === 'token') {
                  stop();
                  resolve();
                }
              });
            });
            const lost = a.refresh('alice', { force: true }).catch((err: unknown) => err);
            await arrived;
            dying.crash();
            // A's lease expires unreleased.
            await sleep(400);
            return lost;
          },
          presentedBy: () =>
            w.sim.tokenLog().filter((x) => x.endpoint === 'token' && x.presentedRefreshToken === old),
        };
      }

      it('when the clock passes the window after the process stopped, the refresh token in doubt is not sent again', async () => {
        const w = world();
        const { b, lose, presentedBy } = await loseWithProcess(w);
        const lost = await lose();
        w.sim.clock.advance(31 * 60_000);
        const err = await b.refresh('alice', { force: true }).catch((x: unknown) => x);
        expect(err).toBeInstanceOf(ReauthorizationRequired);
        expect((await b.get('alice')).lastError?.code).toBe('refresh_lost');
        await lost;
        await until(() => w.sim.tokenLog().some((x) => x.fault === 'slow-answer'), 5_000);
        // Only A's request carried it; B sent nothing.
        expect(presentedBy().map((x) => x.tag)).toHaveLength(1);
      });

      it('on a clock ahead of the wall clock, the refresh token in doubt is sent again inside the reuse window and recovers', async () => {
        const w = world();
        // Baton's clock (the simulator's) runs an hour ahead of the wall clock the store keeps.
        w.sim.clock.advance(HOUR - 30_000);
        const { b, lose, presentedBy } = await loseWithProcess(w);
        const lost = await lose();
        // B takes the expired lease over: the old refresh token is in doubt, and seconds old in
        // the provider's window — B sends it again and recovers.
        const info = await b.refresh('alice', { force: true });
        expect(info).toMatchObject({ status: 'active', lastError: null });
        // The provider carried out both: A's (answered into the void) and B's, inside its window.
        await lost;
        await until(() => w.sim.tokenLog().some((x) => x.fault === 'slow-answer'), 5_000);
        expect(presentedBy().map((x) => x.status)).toEqual([200, 200]);
        const stored = (await b.reveal('alice')).tokens?.refreshToken as string;
        expect(w.sim.tokenStatus(stored)).toBe('live');
      });
    },
  );
}
