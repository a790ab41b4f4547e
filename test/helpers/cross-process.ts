import { expect, it } from 'vitest';
import { ReauthorizationRequired } from '../../src/errors.js';
import type { World } from './sim-baton.js';
import { tokenCalls } from './sim-baton.js';
import { spawnWorker } from './workers.js';

const HOUR = 3_600_000;
const WORKER = 'test/fixtures/refresh-worker.ts';

/**
 * The cross-process refresh scenarios, run on every engine that processes can share. The
 * simulator's clock is moved past expiry; each worker's clock is offset by the same amount,
 * so every process agrees the token is dead.
 */
export function crossProcessSuite(opts: {
  world: () => World;
  store: () => string;
  processes: number;
}): void {
  const workerEnv = (extra: Record<string, unknown> = {}) => {
    const w = opts.world();
    return {
      BATON_WORKER: JSON.stringify({
        store: opts.store(),
        secretKey: w.secretKey,
        discovery: w.sim.discovery(),
        clockOffsetMs: HOUR + 5_000,
        callers: 250,
        leaseTtlMs: 30_000,
        connectionId: 'alice',
        ...extra,
      }),
    };
  };

  /** Starts workers, waits until each is warm, fires them together, returns what each got. */
  async function fire(count: number, extra: Record<string, unknown> = {}) {
    const workers = Array.from({ length: count }, () => spawnWorker(WORKER, workerEnv(extra)));
    try {
      await Promise.all(workers.map((wk) => wk.next()));
      const results = workers.map((wk) => wk.next());
      for (const wk of workers) wk.send('go');
      const outs = await Promise.all(results);
      expect(outs.flatMap((o) => o['errors'] as string[])).toEqual([]);
      return new Set(outs.flatMap((o) => o['tokens'] as string[]));
    } finally {
      for (const wk of workers) wk.child.kill('SIGKILL');
    }
  }

  it(`${opts.processes} processes × 250 concurrent callers cause exactly one token-endpoint call`, async () => {
    const w = opts.world();
    w.sim.clock.advance(HOUR + 5_000);
    const tokens = await fire(opts.processes);
    expect(tokens.size).toBe(1);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    expect((await w.baton.reveal('alice')).tokens?.accessToken).toBe([...tokens][0]);
  }, 90_000);

  it('a refresh lost with its process (killed after the provider rotated, before the commit) is named, not an opaque invalid_grant', async () => {
    const w = opts.world();
    w.sim.clock.advance(HOUR + 5_000);
    const victim = spawnWorker(WORKER, workerEnv({ leaseTtlMs: 600, callers: 1, hangCommits: true }));
    try {
      await victim.next();
      victim.send('go');
      for (let i = 0; i < 200 && tokenCalls(w, 'cronofy', 'refresh_token') === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
      // The provider has answered (rotated); the commit hangs; the process dies.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      victim.child.kill('SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 700)); // its lease expires
    const survivor = await w.open({ leaseTtlMs: 600, clock: { now: () => Date.now() + HOUR + 5_000 } });
    const err = await survivor.getAccessToken('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthorizationRequired);
    expect((err as Error).message).toContain(`in flight in process ${victim.child.pid}`);
    const info = await survivor.get('alice');
    expect(info.status).toBe('needs_reauth');
    expect(info.lastError?.code).toBe('refresh_lost');
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
  }, 60_000);

  it('a process killed while holding the lease blocks the others only until the lease expires', async () => {
    const w = opts.world();
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
    const tokens = await fire(3, { leaseTtlMs: 1_500, callers: 50 });
    expect(tokens.size).toBe(1);
    // One call abandoned with the killed process, exactly one by a survivor after the lease expired.
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
    const info = await w.baton.get('alice');
    expect(info.status).toBe('active');
    expect(info.lastRefreshedAt).not.toBeNull();
  }, 60_000);
}
