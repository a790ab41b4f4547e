import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { spawnWorker } from '../helpers/workers.js';

const HOUR = 3_600_000;
const WORKER = 'test/fixtures/refresh-worker.ts';

/**
 * Processes that share one SQLite file. The simulator's clock is moved past expiry; each
 * worker's clock is offset by the same amount, so every process agrees the token is dead.
 */
describe('refresh across processes sharing SQLite', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => {
    await w.close();
  });

  const workerEnv = (extra: Record<string, unknown> = {}) => ({
    BATON_WORKER: JSON.stringify({
      store: `sqlite:${w.dbPath}`,
      secretKey: w.secretKey,
      discovery: w.sim.discovery(),
      clockOffsetMs: HOUR + 5_000,
      callers: 250,
      leaseTtlMs: 30_000,
      connectionId: 'alice',
      ...extra,
    }),
  });

  it('4 processes × 250 concurrent callers cause exactly one token-endpoint call', async () => {
    w.sim.clock.advance(HOUR + 5_000);
    const workers = Array.from({ length: 4 }, () => spawnWorker(WORKER, workerEnv()));
    try {
      await Promise.all(workers.map((wk) => wk.next()));
      const results = workers.map((wk) => wk.next());
      for (const wk of workers) wk.send('go');
      const outs = await Promise.all(results);
      const tokens = new Set(outs.flatMap((o) => o['tokens'] as string[]));
      expect(outs.flatMap((o) => o['errors'] as string[])).toEqual([]);
      expect(tokens.size).toBe(1);
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
      expect((await w.baton.reveal('alice')).tokens?.accessToken).toBe([...tokens][0]);
    } finally {
      for (const wk of workers) wk.child.kill('SIGKILL');
    }
  }, 60_000);

  it('a process killed while holding the lease blocks the others only until the lease expires', async () => {
    w.sim.setCronofyRotation('never');
    w.sim.clock.advance(HOUR + 5_000);
    // The first refresh hangs at the provider; its process is killed mid-refresh.
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'delay', delayMs: 20_000, count: 1 });
    const victim = spawnWorker(WORKER, workerEnv({ leaseTtlMs: 1_500, callers: 1 }));
    await victim.next();
    victim.send('go');
    for (let i = 0; i < 200 && tokenCalls(w, 'cronofy', 'refresh_token') === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    victim.child.kill('SIGKILL');
    const survivors = Array.from({ length: 2 }, () =>
      spawnWorker(WORKER, workerEnv({ leaseTtlMs: 1_500, callers: 50 })),
    );
    try {
      await Promise.all(survivors.map((s) => s.next()));
      const results = survivors.map((s) => s.next());
      for (const s of survivors) s.send('go');
      const outs = await Promise.all(results);
      expect(outs.flatMap((o) => o['errors'] as string[])).toEqual([]);
      expect(new Set(outs.flatMap((o) => o['tokens'] as string[])).size).toBe(1);
      // One call abandoned with the killed process, exactly one by a survivor after the lease expired.
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
      const info = await w.baton.get('alice');
      expect(info.status).toBe('active');
      expect(info.lastRefreshedAt).not.toBeNull();
    } finally {
      for (const s of survivors) s.child.kill('SIGKILL');
    }
  }, 60_000);
});
