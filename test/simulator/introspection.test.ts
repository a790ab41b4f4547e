import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authorize, type World, world } from '../helpers/sim-baton.js';

/** The simulator as an oracle: what it issued, rotated, accepted and refused, from its own state. */
describe('simulator introspection', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => w.close());

  it('tokenStatus follows a refresh token through rotation and revocation', async () => {
    const first = (await w.baton.reveal('alice')).tokens!;
    expect(w.sim.tokenStatus(first.refreshToken!)).toBe('live');
    expect(w.sim.tokenStatus(first.accessToken)).toBe('live');
    expect(w.sim.tokenStatus('never-issued')).toBe('unknown');

    await w.baton.refresh('alice', { force: true });
    const second = (await w.baton.reveal('alice')).tokens!;
    expect(w.sim.tokenStatus(first.refreshToken!)).toBe('rotated');
    expect(w.sim.tokenStatus(second.refreshToken!)).toBe('live');

    const info = w.sim.tokenInfo(second.refreshToken!);
    expect(info.kind).toBe('refresh');
    w.sim.expireAccessTokens({ vendor: 'cronofy' });
    expect(w.sim.tokenStatus(second.accessToken)).toBe('expired');
    const access = w.sim.tokenInfo(second.accessToken);
    expect(access.kind === 'access' && access.naturalExpiresAt > access.expiresAt).toBe(true);

    await w.baton.revoke('alice');
    expect(w.sim.tokenStatus(second.refreshToken!)).toBe('revoked');
    expect(info.kind !== 'unknown' && w.sim.grantStatus(info.grantId)?.revoked).toBe(true);
  });

  it('the token log names each request’s tag, tokens and outcome, in event order', async () => {
    const seq = w.sim.seq();
    const before = (await w.baton.reveal('alice')).tokens!;
    await w.baton.refresh('alice', { force: true });
    const after = (await w.baton.reveal('alice')).tokens!;
    const res = await w.baton.fetch('alice', 'v1/account', {
      headers: { 'x-sim-op': 'op-1', 'x-sim-tag': 't1' },
    });
    expect(res.status).toBe(200);
    w.sim.revokeGrants({ vendor: 'cronofy' });
    expect(
      (await w.baton.fetch('alice', 'v1/account', { headers: { 'x-sim-op': 'op-2' } }).catch(() => null))
        ?.status ?? 0,
    ).not.toBe(200);

    const log = w.sim.tokenLog().filter((e) => e.seq > seq);
    const grant = log.find((e) => e.endpoint === 'token');
    expect(grant).toMatchObject({
      grantType: 'refresh_token',
      presentedRefreshToken: before.refreshToken,
      issuedRefreshToken: after.refreshToken,
      issuedAccessToken: after.accessToken,
      rotated: true,
      status: 200,
    });
    expect(log.find((e) => e.op === 'op-1')).toMatchObject({
      endpoint: 'api',
      tag: 't1',
      accessToken: after.accessToken,
      accepted: true,
    });
    expect(log.find((e) => e.op === 'op-2')).toMatchObject({
      endpoint: 'api',
      accessToken: after.accessToken,
      accepted: false,
      status: 401,
    });
    const seqs = log.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('tap sees a token request arrive and be answered; slow-answer rotates before it answers', async () => {
    const spent = (await w.baton.reveal('alice')).tokens!.refreshToken!;
    const phases: string[] = [];
    let statusAtAnswer = '';
    const untap = w.sim.tap((phase, info, entry) => {
      if (info.endpoint !== 'token') return;
      phases.push(phase);
      if (phase === 'response') statusAtAnswer = `${entry?.status} ${w.sim.tokenStatus(spent)}`;
    });
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'slow-answer', delayMs: 200 });
    const pending = w.baton.refresh('alice', { force: true });
    for (let i = 0; i < 100 && w.sim.tokenStatus(spent) !== 'rotated'; i++)
      await new Promise((r) => setTimeout(r, 10));
    // Rotated at the provider while the answer is still held back.
    expect(w.sim.tokenStatus(spent)).toBe('rotated');
    expect(phases).toEqual(['request']);
    await pending;
    untap();
    expect(phases).toEqual(['request', 'response']);
    expect(statusAtAnswer).toBe('200 rotated');
  });

  it('setAccessTokenLifetime makes Cronofy issue short-lived tokens', async () => {
    w.sim.setAccessTokenLifetime('cronofy', 60);
    await w.baton.refresh('alice', { force: true });
    const info = await w.baton.get('alice');
    expect(info.accessTokenExpiresAt! - w.sim.clock.now()).toBeLessThanOrEqual(60_000);
    expect(info.accessTokenExpiresAt! - w.sim.clock.now()).toBeGreaterThan(50_000);
  });
});
