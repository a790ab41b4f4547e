import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthorizationError,
  ConnectionMismatch,
  InvalidClient,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
} from '../../src/errors.js';
import type { TokenEndpointEvent } from '../../src/index.js';
import {
  apiKeyFor,
  authorize,
  CALLBACK,
  consent,
  tokenCalls,
  type World,
  world,
} from '../helpers/sim-baton.js';

const HOUR = 3_600_000;

describe('OAuth2 connection lifecycle against the simulator (Cronofy)', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
  });
  afterEach(async () => {
    await w.close();
  });

  it('authorizes through the consent step, calls the API and records the account', async () => {
    const info = await authorize(w, {
      provider: 'cronofy',
      connectionId: 'alice',
      params: { dataCenter: 'de' },
    });
    expect(info).toMatchObject({
      id: 'alice',
      provider: 'cronofy',
      status: 'active',
      params: { dataCenter: 'de' },
    });
    expect(info.accessTokenExpiresAt).toBeGreaterThan(w.sim.clock.now());
    expect(info.account?.id).toBeTruthy();
    const res = await w.baton.fetch('alice', 'v1/userinfo');
    expect(res.status).toBe(200);
    const who = await w.baton.identify('alice');
    expect(who.status).toBe(200);
    expect(tokenCalls(w, 'cronofy', 'authorization_code')).toBe(1);
  });

  it('serves a warm token from memory and refreshes exactly once for 1000 concurrent callers', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const first = await w.baton.getAccessToken('alice');
    const before = await w.baton.reveal('alice');
    expect(await w.baton.getAccessToken('alice')).toBe(first);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(0);

    w.sim.clock.advance(HOUR + 1000);
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => w.baton.getAccessToken('alice')));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(first);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);

    // The rotated refresh token was stored, and the next rotation works with it.
    const after = await w.baton.reveal('alice');
    expect(after.tokens?.refreshToken).not.toBe(before.tokens?.refreshToken);
    w.sim.clock.advance(HOUR + 1000);
    await w.baton.getAccessToken('alice');
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
    const res = await w.baton.fetch('alice', 'v1/account');
    expect(res.status).toBe(200);
  });

  it('refreshes within the window before expiry, and on force', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    w.sim.clock.advance(HOUR - 30_000); // inside the default 60 s window
    await w.baton.getAccessToken('alice');
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    await w.baton.refresh('alice', { force: true });
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
    const info = await w.baton.refresh('alice');
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
    expect(info.lastRefreshedAt).toBeGreaterThan(0);
  });

  it('turns a revoked grant into needs_reauth and never sends the dead token', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const events: string[] = [];
    w.baton.on('needs_reauth', (info, err) => events.push(`${info.id}:${err.code}`));
    expect(w.sim.revokeGrants({ vendor: 'cronofy' })).toBeGreaterThan(0);
    w.sim.clock.advance(HOUR + 1000);
    const apiBefore = w.sim.counters().api.cronofy;

    const err = await w.baton.fetch('alice', 'v1/userinfo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthorizationRequired);
    expect((err as ReauthorizationRequired).connectionId).toBe('alice');
    expect((err as ReauthorizationRequired).remediation).toMatch(/authorize/i);
    expect(w.sim.counters().api.cronofy).toBe(apiBefore); // no request went out with the dead token
    expect(events).toEqual(['alice:reauthorization_required']);
    expect((await w.baton.get('alice')).status).toBe('needs_reauth');

    // Later calls fail fast without asking the provider again.
    const calls = tokenCalls(w, 'cronofy');
    await expect(w.baton.getAccessToken('alice')).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect(tokenCalls(w, 'cronofy')).toBe(calls);

    // Authorizing again brings it back.
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    expect((await w.baton.get('alice')).status).toBe('active');
  });

  it('tells token_endpoint listeners of every grant: kind, provider, connection, outcome, duration', async () => {
    const calls: TokenEndpointEvent[] = [];
    w.baton.on('token_endpoint', (call) => calls.push(call));
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    w.sim.clock.advance(HOUR + 1000);
    await w.baton.getAccessToken('alice');
    w.sim.revokeGrants({ vendor: 'cronofy' });
    await w.baton.refresh('alice', { force: true }).catch(() => undefined);
    expect(calls.map((c) => [c.grant, c.provider, c.connectionId, c.outcome])).toEqual([
      ['authorization_code', 'cronofy', 'alice', 'ok'],
      ['refresh_token', 'cronofy', 'alice', 'ok'],
      ['refresh_token', 'cronofy', 'alice', 'reauthorization_required'],
    ]);
    expect(calls.length).toBe(tokenCalls(w, 'cronofy'));
    for (const c of calls) expect(c.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('re-reads and retries once when the API rejects a token the provider expired early', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    await w.baton.getAccessToken('alice');
    w.sim.expireAccessTokens({ vendor: 'cronofy' });
    const res = await w.baton.fetch('alice', 'v1/userinfo');
    expect(res.status).toBe(200);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
  });

  it('retries transient token-endpoint failures and stays active', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    w.sim.clock.advance(HOUR + 1000);
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'status', status: 503, count: 1 });
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'drop', count: 1 });
    const token = await w.baton.getAccessToken('alice');
    expect(token).toBeTruthy();
    expect((await w.baton.get('alice')).status).toBe('active');
  });

  it('backs off per connection after repeated failures, without hammering the provider', async () => {
    // Retries capped at 50 ms, a cooldown of seconds (base × 2): the second call lands inside
    // it however slow the machine is (the simulator's clock moves with the wall clock).
    const baton = await w.open({ retry: { baseDelayMs: 2_000, maxDelayMs: 50, maxCooldownMs: 60_000 } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    w.sim.clock.advance(HOUR + 1000);
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'html', status: 502, count: 100 });
    const before = tokenCalls(w, 'cronofy');
    const err = await baton.getAccessToken('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).status).toBe(502);
    const attempts = tokenCalls(w, 'cronofy') - before;
    expect(attempts).toBe(3);
    // In cooldown: the same error, no new token-endpoint call, never the dead token.
    await expect(baton.getAccessToken('alice')).rejects.toBeInstanceOf(ProviderError);
    expect(tokenCalls(w, 'cronofy') - before).toBe(3);
    const info = await baton.get('alice');
    expect(info.status).toBe('active');
    expect(info.lastError?.code).toBe('provider_error');
  });

  it('reports 429 as RateLimited with the provider retry-after', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    w.sim.clock.advance(HOUR + 1000);
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'rate-limit', retryAfter: 120, count: 5 });
    const err = await w.baton.getAccessToken('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).retryAfter).toBe(120);
    expect((await w.baton.get('alice')).status).toBe('active');
  });

  it('revokes at the provider (RFC 7009) and locally', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const result = await w.baton.revoke('alice');
    expect(result.revokedAtProvider).toBe(true);
    // The refresh token, and the still-live access token that also names the grant.
    expect(w.sim.counters().revoke.cronofy).toBe(2);
    expect((await w.baton.get('alice')).status).toBe('revoked');
    await expect(w.baton.getAccessToken('alice')).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect(await w.baton.remove('alice')).toBe(true);
    expect(await w.baton.list()).toEqual([]);
  });

  it('names both sides when a stored connection is opened under another client', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const other = await w.open({
      clients: { cronofy: { clientId: 'someone-else', clientSecret: 'x-secret-x' } },
    });
    const err = await other.getAccessToken('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionMismatch);
    const message = (err as ConnectionMismatch).message;
    expect(message).toContain('someone-else');
    expect(message).toContain(w.profile.clients['cronofy']?.[0]?.clientId);
  });

  it('refuses to reuse a connection id for another account without replace', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice', params: { dataCenter: 'us' } });
    await expect(
      w.baton.beginAuthorization({
        provider: 'cronofy',
        connectionId: 'alice',
        params: { dataCenter: 'uk' },
        redirectUri: CALLBACK,
      }),
    ).rejects.toBeInstanceOf(ConnectionMismatch);
    const ok = await w.baton.beginAuthorization({
      provider: 'cronofy',
      connectionId: 'alice',
      params: { dataCenter: 'uk' },
      redirectUri: CALLBACK,
      replace: true,
    });
    expect(ok.url).toContain('/cronofy/uk/');
  });
});

describe('authorization errors', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.close();
  });

  const begin = (id = 'c1') =>
    w.baton.beginAuthorization({
      provider: 'checkfront',
      connectionId: id,
      params: { company: 'acme' },
      redirectUri: CALLBACK,
    });

  it('rejects a callback whose state does not match any pending authorization', async () => {
    const { url } = await begin();
    const location = new URL(await consent(url, 'approve'));
    location.searchParams.set('state', 'forged-state');
    const err = await w.baton.completeAuthorization({ callbackUrl: location.href }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).reason).toBe('unknown_state');
  });

  it('turns a denial into access_denied and stores nothing', async () => {
    const { url } = await begin();
    const location = await consent(url, 'deny');
    const err = await w.baton.completeAuthorization({ callbackUrl: location }).catch((e: unknown) => e);
    expect((err as AuthorizationError).reason).toBe('access_denied');
    expect(await w.baton.list()).toEqual([]);
  });

  it('reports a missing code', async () => {
    const { state } = await begin();
    const err = await w.baton.completeAuthorization({ state }).catch((e: unknown) => e);
    expect((err as AuthorizationError).reason).toBe('missing_code');
  });

  it('reports a Checkfront code exchanged after 60 s as an expired code', async () => {
    const { url } = await begin();
    const location = await consent(url, 'approve');
    w.sim.clock.advance(61_000);
    const err = await w.baton.completeAuthorization({ callbackUrl: location }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).reason).toBe('invalid_code');
    expect((err as AuthorizationError).remediation).toMatch(/60 seconds/);
    expect(await w.baton.list()).toEqual([]);
  });

  it('makes a state single-use', async () => {
    const { url } = await begin();
    const location = await consent(url, 'approve');
    await w.baton.completeAuthorization({ callbackUrl: location });
    const err = await w.baton.completeAuthorization({ callbackUrl: location }).catch((e: unknown) => e);
    expect((err as AuthorizationError).reason).toBe('unknown_state');
  });
});

describe('Checkfront: token pairs, rotation and the bookingplatform.app migration', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.close();
  });

  it('connects with a token pair and calls the API by HTTP Basic', async () => {
    const key = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const info = await w.baton.connect({
      provider: 'checkfront',
      connectionId: 'acme-pair',
      params: { company: 'acme' },
      credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
    });
    expect(info.authMode).toBe('token_pair');
    const res = await w.baton.fetch('acme-pair', '/api/3.0/ping');
    expect(res.status).toBe(200);
    const bookings = await w.baton.fetch('acme-pair', 'api/3.0/booking');
    expect(bookings.status).toBe(200);
  });

  it('rotates the pair on every refresh and stores the new refresh token', async () => {
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } });
    const first = (await w.baton.reveal('acme')).tokens;
    expect(first?.expiresAt).toBe((await w.baton.get('acme')).accessTokenExpiresAt);
    w.sim.clock.advance(14_000_000);
    await w.baton.getAccessToken('acme');
    const second = (await w.baton.reveal('acme')).tokens;
    expect(second?.refreshToken).not.toBe(first?.refreshToken);
    // 14-day sliding refresh token lifetime.
    const slid = second?.refreshTokenExpiresAt ?? 0;
    expect(slid).toBeLessThanOrEqual(w.sim.clock.now() + 14 * 86_400_000);
    expect(slid).toBeGreaterThan(w.sim.clock.now() + 14 * 86_400_000 - 5_000);
    expect((await w.baton.fetch('acme', 'api/3.0/ping')).status).toBe(200);
  });

  it('follows a permanent redirect to the new host with credentials and stores the new base URL', async () => {
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } });
    w.sim.migrateCheckfront('acme');
    const res = await w.baton.fetch('acme', 'api/3.0/ping');
    expect(res.status).toBe(200);
    const info = await w.baton.get('acme');
    expect(info.apiBaseUrl).toBe(`${w.sim.migrationUrl}/na1/acme/`);

    // Later requests, and the token endpoint, go straight to the new host.
    const logBefore = w.sim.requestLog().length;
    w.sim.clock.advance(14_000_000);
    expect((await w.baton.fetch('acme', 'api/3.0/booking')).status).toBe(200);
    const later = w.sim.requestLog().slice(logBefore);
    expect(later.length).toBeGreaterThanOrEqual(2);
    expect(later.every((r) => r.status !== 301)).toBe(true);
    expect(tokenCalls(w, 'checkfront', 'refresh_token')).toBe(1);
  });
});

describe('Checkissuing and Checkbook', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });
  afterEach(async () => {
    await w.close();
  });

  it('gets a client_credentials token, and a new one when it expires', async () => {
    const info = await w.baton.connect({
      provider: 'checkissuing',
      connectionId: 'payouts',
      params: { environment: 'sandbox' },
    });
    expect(info.authMode).toBe('client_credentials');
    expect(info.refreshTokenExpiresAt).toBeNull();
    expect((await w.baton.fetch('payouts', 'v1/account')).status).toBe(200);
    w.sim.clock.advance(HOUR + 1000);
    expect((await w.baton.fetch('payouts', 'v1/account')).status).toBe(200);
    expect(tokenCalls(w, 'checkissuing', 'client_credentials')).toBe(2);
  });

  it('says which environment when sandbox credentials are used against production', async () => {
    const sandbox = w.profile.clients['checkissuing']?.find((c) => c.params?.['environment'] === 'sandbox');
    const crossed = await w.open({
      clients: { checkissuing: { clientId: sandbox!.clientId, clientSecret: sandbox!.clientSecret! } },
    });
    const err = await crossed
      .connect({ provider: 'checkissuing', connectionId: 'p', params: { environment: 'production' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidClient);
    expect((err as InvalidClient).remediation).toMatch(/production/);
    expect((err as InvalidClient).remediation).toMatch(/sandbox and production credentials differ/);
    expect(await crossed.list()).toEqual([]);
  });

  it('authorizes Checkbook with one scope, and connects by API key', async () => {
    const info = await authorize(w, {
      provider: 'checkbook',
      connectionId: 'cb',
      params: { environment: 'sandbox' },
      scopes: ['check'],
    });
    expect(info.scopes).toEqual(['check']);
    expect((await w.baton.fetch('cb', 'v3/user')).status).toBe(200);
    const key = apiKeyFor(w, 'checkbook', { environment: 'sandbox' });
    await w.baton.connect({
      provider: 'checkbook',
      connectionId: 'cb-key',
      params: { environment: 'sandbox' },
      credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
    });
    expect((await w.baton.fetch('cb-key', 'v3/user')).status).toBe(200);
  });
});

describe('secrets stay where they belong', () => {
  it('keeps every token and secret out of errors, events and the database file', async () => {
    const w = await world({ sim: { cronofyRotation: 'always' } });
    try {
      const seen: string[] = [];
      w.baton.on('error', (e) => seen.push(JSON.stringify(e.toJSON()) + e.message + e.remediation));
      w.baton.on('needs_reauth', (_i, e) => seen.push(e.message + e.remediation));
      w.baton.on('refreshed', (i) => seen.push(JSON.stringify(i)));
      await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
      const key = apiKeyFor(w, 'checkfront', { company: 'acme' });
      await w.baton.connect({
        provider: 'checkfront',
        connectionId: 'acme',
        params: { company: 'acme' },
        credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
      });
      const planted = new Set<string>([key.apiKey, key.apiSecret ?? '']);
      for (const c of Object.values(w.profile.clients).flat())
        if (c.clientSecret) planted.add(c.clientSecret);
      const collect = async () => {
        const t = (await w.baton.reveal('alice')).tokens;
        if (t) {
          planted.add(t.accessToken);
          if (t.refreshToken) planted.add(t.refreshToken);
        }
      };
      await collect();
      w.sim.clock.advance(HOUR + 1000);
      w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'status', status: 500, count: 1 });
      await w.baton.getAccessToken('alice');
      await collect();
      w.sim.revokeGrants({ vendor: 'cronofy' });
      w.sim.clock.advance(HOUR + 1000);
      const errors = await Promise.all([
        w.baton.getAccessToken('alice').catch((e: unknown) => e),
        w.baton.getAccessToken('nobody').catch((e: unknown) => e),
      ]);
      for (const e of errors)
        seen.push(String((e as Error).message), String((e as { remediation?: string }).remediation));
      seen.push(JSON.stringify(await w.baton.list()));
      await w.baton.close();
      const bytes = [readFileSync(w.dbPath)];
      try {
        bytes.push(readFileSync(`${w.dbPath}-wal`));
      } catch {
        // no WAL left after close
      }
      const text = seen.join('\n');
      const db = Buffer.concat(bytes).toString('latin1');
      expect(planted.size).toBeGreaterThan(5);
      for (const secret of planted) {
        expect(text.includes(secret), 'secret in output').toBe(false);
        expect(db.includes(secret), 'secret in database bytes').toBe(false);
      }
    } finally {
      await w.close();
    }
  });
});
