import { afterEach, describe, expect, it } from 'vitest';
import type { Baton, BatonOptions } from '../../src/core/baton.js';
import { NetworkError, ReauthorizationRequired } from '../../src/errors.js';
import type { RefreshTokenReuse } from '../../src/providers/spec.js';
import type { RefreshReuse } from '../../src/simulator/index.js';
import { authorize, type World, world } from '../helpers/sim-baton.js';

/**
 * A rotation whose answer is lost on the way back (docs/architecture.md, invariant 13): the
 * simulator's Cronofy rotates on every refresh and answers after Baton's request timeout
 * (`slow-answer`), so the new pair never arrives. Baton sends the old refresh token again only
 * inside the provider's reuse window; outside it the connection needs a new authorization and
 * nothing is sent — where presenting it would revoke the whole grant.
 */
const TIMEOUT_MS = 300;
const MINUTE = 60_000;

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function setUp(
  sim: RefreshReuse,
  spec: RefreshTokenReuse | undefined,
  extra: Partial<BatonOptions> = {},
): Promise<{ w: World; baton: Baton; rt: () => Promise<string> }> {
  w = await world({ sim: { cronofyRotation: 'always' } });
  w.sim.setRefreshReuse('cronofy', sim);
  const baton = await w.open({
    providers: {
      ...w.profile.providers,
      cronofy: { ...w.profile.providers['cronofy'], ...(spec ? { refreshTokenReuse: spec } : {}) },
    },
    http: { timeoutMs: TIMEOUT_MS },
    ...extra,
  });
  await authorize(w, { provider: 'cronofy', connectionId: 'alice' }, baton);
  return {
    w,
    baton,
    rt: async () => (await baton.reveal('alice')).tokens?.refreshToken as string,
  };
}

/** The next token request is carried out by the provider, and its answer arrives too late. */
function loseNextAnswer(w: World): void {
  w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'slow-answer', delayMs: TIMEOUT_MS * 3 });
}

/** Waits until the simulator has written the answer it held (its token log has it then). */
async function heldAnswerWritten(w: World): Promise<void> {
  while (!w.sim.tokenLog().some((e) => e.fault === 'slow-answer'))
    await new Promise((r) => setTimeout(r, 20));
}

const presented = (w: World, token: string) =>
  w.sim.tokenLog().filter((e) => e.endpoint === 'token' && e.presentedRefreshToken === token);

describe('a rotation answer lost in transit', () => {
  it('is recovered with the previous refresh token inside the provider’s window (Xero: 30 minutes)', async () => {
    const { w, baton, rt } = await setUp(
      { graceSeconds: 1800, revokesFamily: false },
      { mode: 'window', seconds: 1800 },
    );
    const old = await rt();
    loseNextAnswer(w);
    const info = await baton.refresh('alice', { force: true });
    await heldAnswerWritten(w);
    expect(info.status).toBe('active');
    // Sent twice: the answer to the first was lost; the provider took it again within its window.
    expect(presented(w, old).map((e) => e.status)).toEqual([200, 200]);
    const now = await rt();
    expect(w.sim.tokenStatus(now)).toBe('live');
    expect(info.lastError).toBeNull();
  });

  it('outside the window is not sent again: the connection needs a new authorization, in every process', async () => {
    const { w, baton, rt } = await setUp(
      { graceSeconds: 600, revokesFamily: true },
      { mode: 'window', seconds: 600, revokesFamily: true },
      // One attempt: the lost answer is the refresh's failure, remembered with the tokens.
      { retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 } },
    );
    const old = await rt();
    const needsReauth: string[] = [];
    loseNextAnswer(w);
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(NetworkError);
    await heldAnswerWritten(w);
    expect((await baton.get('alice')).status).toBe('active');

    w.sim.clock.advance(11 * MINUTE);
    // Another process, which never saw the lost answer: the doubt is sealed with the tokens.
    const other = await w.open({
      providers: {
        ...w.profile.providers,
        cronofy: {
          ...w.profile.providers['cronofy'],
          refreshTokenReuse: { mode: 'window', seconds: 600, revokesFamily: true },
        },
      },
      http: { timeoutMs: TIMEOUT_MS },
    });
    other.on('needs_reauth', (info) => needsReauth.push(info.id));
    const error = await other.refresh('alice', { force: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthorizationRequired);
    expect((error as Error).message).toMatch(/got no answer/);
    expect((error as Error).message).toMatch(/only within 600 s of its replacement/);
    expect((error as Error).message).toMatch(/revokes every token of the grant/);
    expect((error as ReauthorizationRequired).remediation).toMatch(/baton reconnect alice/);
    // Never sent again, so the provider did not revoke the grant.
    expect(presented(w, old)).toHaveLength(1);
    const info = await other.get('alice');
    expect(info.status).toBe('needs_reauth');
    expect(info.lastError?.code).toBe('refresh_lost');
    expect(needsReauth).toEqual(['alice']);
    const grant = w.sim.tokenInfo(old);
    expect(grant.kind === 'refresh' && w.sim.grantStatus(grant.grantId)?.revoked).toBe(false);
    // No secret in what the connection says.
    expect(JSON.stringify(info)).not.toContain(old);
  });

  it('without a documented window the old behaviour stays, and the simulator shows what it costs: family revocation', async () => {
    const { w, baton, rt } = await setUp({ graceSeconds: 600, revokesFamily: true }, undefined, {
      retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
    });
    const old = await rt();
    loseNextAnswer(w);
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(NetworkError);
    await heldAnswerWritten(w);
    w.sim.clock.advance(11 * MINUTE);
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect(presented(w, old).map((e) => e.status)).toEqual([200, 400]);
    const grant = w.sim.tokenInfo(old);
    expect(grant.kind === 'refresh' && w.sim.grantStatus(grant.grantId)?.revoked).toBe(true);
  });

  it('until the new refresh token is used (Shopify): recovered however late', async () => {
    const { w, baton, rt } = await setUp(
      { graceSeconds: 'until-new-used', revokesFamily: false },
      { mode: 'until_new_used' },
      { retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 } },
    );
    const old = await rt();
    loseNextAnswer(w);
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(NetworkError);
    await heldAnswerWritten(w);
    w.sim.clock.advance(3 * 86_400_000);
    const info = await baton.refresh('alice', { force: true });
    expect(info).toMatchObject({ status: 'active', lastError: null });
    expect(presented(w, old).map((e) => e.status)).toEqual([200, 200]);
    expect(w.sim.tokenStatus(await rt())).toBe('live');
  });

  it('a request that never reached the provider puts nothing in doubt', async () => {
    const { w, baton, rt } = await setUp(
      { graceSeconds: 0, revokesFamily: true },
      { mode: 'window', seconds: 0, revokesFamily: true },
    );
    const old = await rt();
    // A zero window: any lost answer would forbid a second send. A 503 is an answer.
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'status', status: 503, count: 1 });
    const info = await baton.refresh('alice', { force: true });
    expect(info.status).toBe('active');
    expect(presented(w, old).map((e) => e.status)).toEqual([503, 200]);
  });
});
