import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReauthorizationRequired } from '../../src/errors.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';

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
