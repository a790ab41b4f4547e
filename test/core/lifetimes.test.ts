import { afterEach, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import type { ConnectionInfo, GrantLifetime } from '../../src/core/connection-info.js';
import type { WebhookEvent } from '../../src/core/outbox.js';
import { keepAliveDue, toTokenSet } from '../../src/core/token-lifetime.js';
import type { TokenResponse } from '../../src/protocol/token-response.js';
import type { ProviderOverride } from '../../src/providers/spec.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

type Engine = 'memory' | 'sqlite' | 'postgres';
const ENGINES: Engine[] = PG_URL ? ['memory', 'sqlite', 'postgres'] : ['memory', 'sqlite'];

let w: World | undefined;
let schema: string | null = null;
afterEach(async () => {
  await w?.close();
  w = undefined;
  if (schema) await dropSchema(schema);
  schema = null;
});

function storeFor(engine: Engine, w: World): string {
  if (engine === 'memory') return 'memory:';
  if (engine === 'sqlite') return `sqlite:${w.dbPath}`;
  schema = uniqueSchema();
  const u = new URL(PG_URL as string);
  u.searchParams.set('schema', schema);
  return u.toString();
}

/** The simulator profile's spec for `provider`, with `extra` over it. */
function spec(w: World, provider: string, extra: ProviderOverride): Record<string, ProviderOverride> {
  return { ...w.profile.providers, [provider]: { ...w.profile.providers[provider], ...extra } };
}

async function drained(baton: Baton): Promise<WebhookEvent[]> {
  const pending = (await baton.store.outbox?.pending(1000)) ?? [];
  await baton.store.outbox?.remove(pending.map((e) => e.id));
  return pending.map((e) => JSON.parse(e.payload) as WebhookEvent);
}

describe.each(ENGINES)('sliding and absolute refresh-token lifetimes on %s', (engine) => {
  it('keeps an idle connection alive, holds the absolute end across rotations, warns once, and starts again on a new authorization', async () => {
    w = await world();
    // Checkfront's 14 days unused, with an absolute cap of 30 days from the authorization.
    const baton = await w.open({
      store: storeFor(engine, w),
      providers: spec(w, 'checkfront', {
        refreshTokenLifetime: { seconds: 14 * 86_400, sliding: true, absoluteSeconds: 30 * 86_400 },
      }),
    });
    const warned: [ConnectionInfo, GrantLifetime][] = [];
    baton.on('connection.expiring', (info, lifetime) => warned.push([info, lifetime]));
    const before = w.sim.clock.now();
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } }, baton);
    const first = (await baton.lifetime('acme')) as GrantLifetime;
    // (The virtual clock runs with the wall clock between its jumps.)
    const t0 = first.authorizedAt;
    expect(t0).toBeGreaterThanOrEqual(before);
    expect(first).toMatchObject({
      refreshTokenIssuedAt: t0,
      refreshTokenUsedAt: null,
      slidingExpiresAt: t0 + 14 * DAY,
      absoluteExpiresAt: t0 + 30 * DAY,
      endsAt: t0 + 14 * DAY,
    });
    expect((await baton.get('acme')).refreshTokenExpiresAt).toBe(t0 + 14 * DAY);
    await drained(baton);

    const keeper = baton.startKeeper({ intervalMs: 3_600_000, keepAliveMs: 2 * DAY });
    const refreshTokens = new Set<string>();
    const events: WebhookEvent[] = [];
    for (let day = 6; day <= 24; day += 6) {
      w.sim.clock.advance(6 * DAY);
      const run = await keeper.runOnce();
      expect(run).toMatchObject({ refreshed: ['acme'], failed: [] });
      refreshTokens.add((await baton.reveal('acme')).tokens?.refreshToken as string);
      const lifetime = (await baton.lifetime('acme')) as GrantLifetime;
      const now = lifetime.refreshTokenUsedAt as number;
      expect(now).toBeGreaterThanOrEqual(t0 + day * DAY);
      // Each refresh moves the refresh token's own end; the absolute end stays where it was.
      expect(lifetime).toMatchObject({
        authorizedAt: t0,
        refreshTokenIssuedAt: now,
        slidingExpiresAt: now + 14 * DAY,
        absoluteExpiresAt: t0 + 30 * DAY,
      });
      // The stores' due index holds the earlier of the two ends.
      expect((await baton.get('acme')).refreshTokenExpiresAt).toBe(Math.min(now + 14 * DAY, t0 + 30 * DAY));
      events.push(...(await drained(baton)).filter((e) => e.type === 'connection.expiring'));
      // Day 18 is the first pass within 14 days of the end: one warning, never a second.
      expect(warned.length).toBe(day >= 18 ? 1 : 0);
      expect(events.length).toBe(day >= 18 ? 1 : 0);
    }
    expect(refreshTokens.size).toBe(4); // rotated on every refresh, and still one grant

    const [info, lifetime] = warned[0] as [ConnectionInfo, GrantLifetime];
    expect(info).toMatchObject({ id: 'acme', status: 'active' });
    expect(lifetime.absoluteExpiresAt).toBe(t0 + 30 * DAY);
    const event = events[0] as WebhookEvent;
    expect(event.data.connection.id).toBe('acme');
    expect(event.data.lifetime).toEqual(lifetime);
    // No secret in the event.
    const secrets = await baton.reveal('acme');
    for (const s of [...refreshTokens, secrets.tokens?.accessToken as string])
      expect(JSON.stringify(event)).not.toContain(s);

    // Two days before the hard end, with a fresh access token: nothing a refresh could extend,
    // so the keeper leaves it (and does not come back to refresh it on every pass).
    w.sim.clock.advance(4 * DAY);
    expect((await keeper.runOnce()).refreshed).toEqual(['acme']); // the access token was due
    const calls = tokenCalls(w, 'checkfront', 'refresh_token');
    w.sim.clock.advance(HOUR);
    const idle = await keeper.runOnce();
    expect(idle).toMatchObject({ checked: 1, refreshed: [], fresh: 1 });
    expect(tokenCalls(w, 'checkfront', 'refresh_token')).toBe(calls);
    expect((await baton.get('acme')).refreshTokenExpiresAt).toBe(t0 + 30 * DAY);
    // The due index finds it by the earlier end (the absolute one), on every engine.
    const due = await baton.store.due({
      accessExpiresBy: 0,
      accessAuthMode: 'oauth2',
      refreshExpiresBy: t0 + 30 * DAY,
      limit: 10,
    });
    expect(due.items).toEqual([{ id: 'acme', provider: 'checkfront', phase: 'refresh' }]);

    // A new authorization starts a new grant: a new absolute end, and a warning to come again.
    const reauthorized = w.sim.clock.now();
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } }, baton);
    const renewed = (await baton.lifetime('acme')) as GrantLifetime;
    const t1 = renewed.authorizedAt;
    expect(t1).toBeGreaterThanOrEqual(reauthorized);
    expect(renewed).toMatchObject({ absoluteExpiresAt: t1 + 30 * DAY, endsAt: t1 + 14 * DAY });
    w.sim.clock.advance(12 * DAY);
    expect((await keeper.runOnce()).refreshed).toEqual(['acme']);
    expect(warned.length).toBe(1);
    w.sim.clock.advance(5 * DAY);
    expect((await keeper.runOnce()).refreshed).toEqual(['acme']);
    expect(warned.length).toBe(2);
    expect(warned[1]?.[1].absoluteExpiresAt).toBe(t1 + 30 * DAY);
  });
});

describe('connection.expiring without a refresh', () => {
  it('is noted by the keeper on a connection it does not need to refresh, once, without a token call', async () => {
    w = await world();
    w.sim.setAccessTokenLifetime('cronofy', 40 * 86_400);
    const baton = await w.open({
      providers: spec(w, 'cronofy', {
        refreshTokenLifetime: { seconds: 90 * 86_400, sliding: true, absoluteSeconds: 20 * 86_400 },
      }),
      expiringWithinMs: 3 * DAY,
    });
    const warned: string[] = [];
    baton.on('connection.expiring', (info) => warned.push(info.id));
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' }, baton);
    await drained(baton);
    const keeper = baton.startKeeper({ keepAliveMs: 2 * DAY });
    w.sim.clock.advance(17 * DAY);
    expect(await keeper.runOnce()).toMatchObject({ checked: 0 });
    w.sim.clock.advance(1.5 * DAY);
    const calls = tokenCalls(w, 'cronofy', 'refresh_token');
    expect(await keeper.runOnce()).toMatchObject({ checked: 1, refreshed: [], fresh: 1 });
    expect(await keeper.runOnce()).toMatchObject({ checked: 1, refreshed: [] });
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(calls);
    expect(warned).toEqual(['alice']);
    expect((await drained(baton)).map((e) => e.type)).toEqual(['connection.expiring']);
  });

  it('refuses an expiringWithinMs that is not a positive number', async () => {
    w = await world();
    await expect(w.open({ expiringWithinMs: 0 })).rejects.toMatchObject({ code: 'config_error' });
  });
});

describe('the lifetime policy of a token response', () => {
  const response = (fields: Partial<TokenResponse> = {}): TokenResponse => ({
    accessToken: 'at',
    tokenType: 'Bearer',
    expiresIn: 3600,
    refreshToken: 'rt-1',
    refreshTokenExpiresIn: null,
    scope: null,
    receivedAt: 1_000 * DAY,
    extra: {},
    ...fields,
  });
  const quickbooks = {
    defaultExpiresIn: null,
    refreshTokenLifetime: { seconds: 100 * 86_400, sliding: true, absoluteSeconds: 5 * 365 * 86_400 },
    refreshTokenExpiresInField: 'x_refresh_token_expires_in',
  };

  it('takes the refresh token’s own end from the response (refresh_token_expires_in, or the spec’s named field), capped by the absolute end', () => {
    const named = toTokenSet(
      response({ extra: { x_refresh_token_expires_in: '8640000' } }),
      quickbooks,
      'authorization_code',
    );
    expect(named.grant).toMatchObject({ slidingExpiresAt: 1_100 * DAY, absoluteExpiresAt: 2_825 * DAY });
    expect(named.refreshTokenExpiresAt).toBe(1_100 * DAY);
    const github = toTokenSet(
      response({ refreshTokenExpiresIn: 15_897_600 }),
      { defaultExpiresIn: null, refreshTokenLifetime: null },
      'authorization_code',
    );
    expect(github.refreshTokenExpiresAt).toBe(1_000 * DAY + 15_897_600_000);
    // Near the cap, the provider's remaining lifetime and the absolute end agree on the earlier.
    const late = toTokenSet(
      response({
        receivedAt: 2_800 * DAY,
        refreshToken: 'rt-2',
        extra: { x_refresh_token_expires_in: 2_160_000 },
      }),
      quickbooks,
      'refresh_token',
      named,
    );
    expect(late.grant).toMatchObject({ authorizedAt: 1_000 * DAY, absoluteExpiresAt: 2_825 * DAY });
    expect(late.refreshTokenExpiresAt).toBe(2_825 * DAY);
    // A field that is not a number of seconds is ignored: the spec's lifetime applies.
    const odd = toTokenSet(
      response({ extra: { x_refresh_token_expires_in: 'soon' } }),
      quickbooks,
      'authorization_code',
    );
    expect(odd.grant?.slidingExpiresAt).toBe(1_100 * DAY);
  });

  it('slides on every use even when the refresh token is not rotated (Google: six months unused); a fixed one does not', () => {
    const google = { defaultExpiresIn: null, refreshTokenLifetime: { seconds: 180 * 86_400, sliding: true } };
    const first = toTokenSet(response(), google, 'authorization_code');
    const used = toTokenSet(
      response({ receivedAt: 1_050 * DAY, refreshToken: null }),
      google,
      'refresh_token',
      first,
    );
    expect(used.refreshToken).toBe('rt-1');
    expect(used.grant).toMatchObject({ refreshTokenIssuedAt: 1_000 * DAY, refreshTokenUsedAt: 1_050 * DAY });
    expect(used.refreshTokenExpiresAt).toBe(1_230 * DAY);
    const fixed = { defaultExpiresIn: null, refreshTokenLifetime: { seconds: 30 * 86_400, sliding: false } };
    const f1 = toTokenSet(response(), fixed, 'authorization_code');
    const f2 = toTokenSet(
      response({ receivedAt: 1_029 * DAY, refreshToken: null }),
      fixed,
      'refresh_token',
      f1,
    );
    expect(f2.refreshTokenExpiresAt).toBe(1_030 * DAY);
    // Used inside the keep-alive window without its end moving: another refresh would change nothing.
    expect(keepAliveDue(f1, 1_029 * DAY, 1_031 * DAY)).toBe(true);
    expect(keepAliveDue(f2, 1_029 * DAY + HOUR, 1_031 * DAY + HOUR)).toBe(false);
  });
});
