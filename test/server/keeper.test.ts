import { afterEach, describe, expect, it, vi } from 'vitest';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { Capture, call } from './helpers.js';

/**
 * The server's keeper (docs/operations.md): the core keeper schedules its passes, and each one
 * is timed in baton_keeper_pass_seconds and logged.
 */
describe('baton serve: the keeper', () => {
  let w: World;
  let server: BatonServer | undefined;
  afterEach(async () => {
    await server?.close();
    await w.close();
  });

  it('refreshes what is due in the background, times each pass and logs what it did', async () => {
    w = await world();
    const baton = await w.open();
    await authorize(w, { provider: 'cronofy', connectionId: 'due-1' }, baton);
    w.sim.clock.advance(3_600_000);
    const logs = new Capture();
    server = await startServer({
      instance: baton,
      store: `sqlite:${w.dbPath}`,
      port: 0,
      keeper: true,
      keeperIntervalMs: 50,
      logStream: logs,
      logLevel: 'info',
    });
    await vi.waitFor(() => expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1), { timeout: 10_000 });
    await vi.waitFor(
      async () => {
        const metrics = (await call(server?.url ?? '', 'GET', '/metrics')).text;
        const count = Number(/^baton_keeper_pass_seconds_count (\d+)$/m.exec(metrics)?.[1] ?? 0);
        expect(count).toBeGreaterThanOrEqual(1);
      },
      { timeout: 10_000 },
    );
    const line = logs.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'keeper pass');
    expect(line).toMatchObject({ checked: 1, refreshed: 1, failed: 0 });
  });
});
