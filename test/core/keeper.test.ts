import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KeeperOptions } from '../../src/core/keeper.js';
import { ConfigError, ReauthorizationRequired } from '../../src/errors.js';
import type { SqliteStore } from '../../src/store/sqlite/store.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { record } from '../store/contract.js';

const DAY = 86_400_000;

describe('keeper', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.close();
  });

  it('keeps a Checkfront connection alive past its 14-day refresh-token lifetime by using it in time', async () => {
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } });
    const keeper = w.baton.startKeeper({ intervalMs: 3_600_000, keepAliveMs: 2 * DAY });
    for (let day = 0; day < 40; day += 6) {
      w.sim.clock.advance(6 * DAY);
      const run = await keeper.runOnce();
      expect(run.failed).toEqual([]);
    }
    expect(tokenCalls(w, 'checkfront', 'refresh_token')).toBeGreaterThanOrEqual(6);
    const info = await w.baton.get('acme');
    expect(info.status).toBe('active');
    expect(info.refreshTokenExpiresAt).toBeGreaterThan(w.sim.clock.now() + 7 * DAY);
    expect((await w.baton.fetch('acme', 'api/3.0/ping')).status).toBe(200);
  });

  it('without a keeper the same connection lapses and says so', async () => {
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } });
    w.sim.clock.advance(15 * DAY);
    await expect(w.baton.getAccessToken('acme')).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect((await w.baton.get('acme')).status).toBe('needs_reauth');
  });

  it('refreshes tokens that are due and reports the ones it cannot', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    await authorize(w, { provider: 'cronofy', connectionId: 'bob', account: 'bob' });
    const reauth: string[] = [];
    w.baton.on('needs_reauth', (info) => reauth.push(info.id));
    w.sim.revokeGrants({ vendor: 'cronofy', account: 'bob' });
    w.sim.clock.advance(3_600_000);
    const run = await w.baton.startKeeper({ intervalMs: 3_600_000 }).runOnce();
    expect(run.refreshed).toEqual(['alice']);
    expect(run.failed).toEqual([{ id: 'bob', code: 'reauthorization_required' }]);
    expect(reauth).toEqual(['bob']);
  });
});

describe('keeper at scale: work proportional to what is due', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    await w.close();
  });

  const authorizeMany = async (n: number, prefix = 'c') => {
    for (let i = 0; i < n; i++)
      await authorize(w, { provider: 'cronofy', connectionId: `${prefix}${String(i).padStart(2, '0')}` });
  };

  /** Rows that are not due and whose secrets no key opens: a keeper that touched one would fail on it. */
  const notDueRows = async (n: number) => {
    const base = record({ provider: 'cronofy', params: { dataCenter: 'us' } });
    const far = w.sim.clock.now() + 30 * DAY;
    await (w.baton.store as SqliteStore).putMany(
      Array.from({ length: n }, (_, i) => ({
        ...base,
        id: `idle-${String(i).padStart(4, '0')}`,
        version: 1,
        sealed: 'v2.00000000.not.openable',
        accessTokenExpiresAt: far,
        refreshTokenExpiresAt: i % 2 ? far : null,
      })),
      false,
    );
  };

  it('reads only the due connections from the store index, never the whole table', async () => {
    await authorizeMany(3);
    await notDueRows(400);
    w.sim.clock.advance(3_600_000);
    const store = w.baton.store;
    const list = vi.spyOn(store, 'list');
    const get = vi.spyOn(store, 'get');
    const due = vi.spyOn(store, 'due');
    const run = await w.baton.startKeeper({ batchSize: 2 }).runOnce();
    expect(run).toMatchObject({ checked: 3, failed: [], skippedByLimit: 0, leased: 0 });
    expect([...run.refreshed].sort()).toEqual(['c00', 'c01', 'c02']);
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    expect(list).not.toHaveBeenCalled();
    // Three due in batches of two: two queries, and reads of the due rows alone.
    expect(due).toHaveBeenCalledTimes(2);
    expect(new Set(get.mock.calls.map(([id]) => id))).toEqual(new Set(['c00', 'c01', 'c02']));
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(3);
    // Nothing due any more: the next pass asks the index and stops.
    const again = await w.baton.startKeeper().runOnce();
    expect(again).toMatchObject({ checked: 0, refreshed: [], failed: [] });
  });

  it('keeps at most `concurrency` refreshes in flight', async () => {
    await authorizeMany(9);
    w.sim.clock.advance(3_600_000);
    let inFlight = 0;
    let most = 0;
    w.sim.tap((phase, info) => {
      if (info.endpoint !== 'token') return;
      inFlight += phase === 'request' ? 1 : -1;
      most = Math.max(most, inFlight);
    });
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'delay', delayMs: 40, count: 9 });
    const run = await w.baton.startKeeper({ concurrency: 3 }).runOnce();
    expect(run.refreshed).toHaveLength(9);
    expect(most).toBe(3);
  });

  it('holds each provider to its token-endpoint rate limit, from the options or the spec, and leaves the rest for later', async () => {
    await authorizeMany(5);
    await authorize(w, { provider: 'checkfront', connectionId: 'cf', params: { company: 'acme' } });
    w.sim.clock.advance(4 * 3_600_000);
    // One call per ~3 hours after a burst of 2: the third cannot go before this pass ends.
    const run = await w.baton
      .startKeeper({ intervalMs: 60_000, rateLimits: { cronofy: { perSecond: 0.0001, burst: 2 } } })
      .runOnce();
    expect(run.refreshed.filter((id) => id.startsWith('c0'))).toHaveLength(2);
    expect(run.refreshed).toContain('cf'); // another provider, its own bucket
    expect(run.skippedByLimit).toBe(3);
    expect(run.checked).toBe(6);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);

    const other = await w.open({
      providers: {
        ...w.profile.providers,
        cronofy: { ...w.profile.providers['cronofy'], tokenRateLimit: { perSecond: 0.0001, burst: 1 } },
      },
    });
    const second = await other.startKeeper().runOnce();
    expect(second.refreshed).toHaveLength(1);
    expect(second.skippedByLimit).toBe(2);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(3);
  });

  it("honours a 429's Retry-After: the provider is paused, the rest waits for a later pass", async () => {
    await authorizeMany(4);
    w.sim.clock.advance(3_600_000);
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'rate-limit', retryAfter: 600 });
    const run = await w.baton.startKeeper({ concurrency: 1 }).runOnce();
    expect(run.failed).toEqual([{ id: 'c00', code: 'rate_limited' }]);
    expect(run.refreshed).toEqual([]);
    expect(run.skippedByLimit).toBe(3);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    expect((await w.baton.get('c00')).lastError?.code).toBe('rate_limited');
  });

  it('refreshes each due connection once across replicas: a lease held elsewhere is not waited for', async () => {
    await authorizeMany(12);
    w.sim.clock.advance(3_600_000);
    const replicas = [w.baton, await w.open(), await w.open()];
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'delay', delayMs: 20, count: 12 });
    const runs = await Promise.all(replicas.map((b) => b.startKeeper({ concurrency: 4 }).runOnce()));
    const refreshed = runs.flatMap((r) => r.refreshed);
    expect(refreshed.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, '0')}`));
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(12);
    for (const r of runs) {
      expect(r.failed).toEqual([]);
      // What one replica did not refresh, another was refreshing (leased) or had refreshed (fresh).
      expect(r.refreshed.length + r.leased + r.fresh).toBe(r.checked);
    }
  });

  it('a connection due for both reasons is one refresh; a lapsing refresh token is kept alive even with a fresh access token', async () => {
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } });
    w.sim.clock.advance(13 * DAY);
    const run = await w.baton.startKeeper({ keepAliveMs: 2 * DAY }).runOnce();
    expect(run).toMatchObject({ checked: 1, refreshed: ['acme'] });
    expect(tokenCalls(w, 'checkfront', 'refresh_token')).toBe(1);
    // Access token fresh, refresh token lapsing within a generous keep-alive: refreshed, once.
    w.sim.clock.advance(3 * 3_600_000);
    const keepAlive = w.baton.startKeeper();
    const other = (await w.open()).startKeeper({ keepAliveMs: 14 * DAY - 2 * 3_600_000 });
    const [a, b] = await Promise.all([
      (await w.open()).startKeeper({ keepAliveMs: 14 * DAY - 2 * 3_600_000 }).runOnce(),
      other.runOnce(),
    ]);
    expect(a.refreshed.length + b.refreshed.length).toBe(1);
    expect(tokenCalls(w, 'checkfront', 'refresh_token')).toBe(2);
    expect((await keepAlive.runOnce()).refreshed).toEqual([]);
  });

  it('spreads its passes by the jitter, each wait drawn afresh', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // The first wait draws 0 (the shortest), the next ones just under 1 (the longest).
    vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValue(0.999_999);
    const keeper = w.baton.startKeeper({ intervalMs: 10_000, jitter: 0.2 });
    const passes = vi.spyOn(keeper, 'runOnce');
    await vi.advanceTimersByTimeAsync(7_999);
    expect(passes).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toHaveBeenCalledTimes(1);
    // The next wait is 10 s × (1 + 0.2 × 0.999998): just under 12 s after that pass.
    await vi.advanceTimersByTimeAsync(11_990);
    expect(passes).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(passes).toHaveBeenCalledTimes(2);
    keeper.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(passes).toHaveBeenCalledTimes(2);
  });

  it('reports every pass to onPass, scheduled by the jitter, and the error of a pass the store stopped', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const outcomes: Parameters<NonNullable<KeeperOptions['onPass']>>[0][] = [];
    const keeper = w.baton.startKeeper({
      intervalMs: 10_000,
      jitter: 0.2,
      onPass: (outcome) => {
        outcomes.push(outcome);
        throw new Error('a hook that fails is ignored');
      },
    });
    w.sim.clock.advance(3_600_000);
    // The wait is the keeper's own: 10 s × (1 − 0.2), not the interval.
    await vi.advanceTimersByTimeAsync(7_999);
    expect(outcomes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(outcomes).toHaveLength(1));
    expect(outcomes[0]?.run?.refreshed).toEqual(['alice']);
    expect(outcomes[0]?.run?.durationMs).toBeGreaterThanOrEqual(0);
    // A direct pass reports too; a pass the store stops reports its error, and the next one runs.
    vi.spyOn(w.baton.store, 'due').mockRejectedValueOnce(new Error('store down'));
    await expect(keeper.runOnce()).rejects.toThrow('store down');
    expect(outcomes[1]?.error).toEqual(new Error('store down'));
    expect((await keeper.runOnce()).checked).toBe(0);
    expect(outcomes).toHaveLength(3);
    keeper.stop();
  });

  it('refuses options it cannot keep, naming them', async () => {
    const bad: [KeeperOptions, RegExp][] = [
      [{ concurrency: 0 }, /concurrency 0 is not a positive whole number/],
      [{ batchSize: 2.5 }, /batchSize 2.5/],
      [{ intervalMs: -1 }, /intervalMs -1/],
      [{ jitter: 1 }, /jitter 1 is not between 0 and 1/],
      [{ rateLimits: { nope: { perSecond: 1 } } }, /does not know the provider "nope"/],
      [{ rateLimits: { cronofy: { perSecond: 0 } } }, /rate limit for cronofy has perSecond 0/],
      [{ rateLimits: { cronofy: { perSecond: 1, burst: 0.5 } } }, /burst 0.5/],
    ];
    for (const [options, message] of bad) {
      const b = await w.open();
      const err = (() => {
        try {
          b.startKeeper(options);
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err, JSON.stringify(options)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(message);
      expect((err as ConfigError).remediation).toBeTruthy();
    }
    await expect(w.open({ providers: { cronofy: { tokenRateLimit: { perSecond: -2 } } } })).rejects.toThrow(
      /cronofy tokenRateLimit has perSecond -2/,
    );
  });
});
