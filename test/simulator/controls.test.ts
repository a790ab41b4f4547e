import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiscovery, type Simulator, startSimulator } from '../../src/simulator/index.js';
import { VENDORS } from '../../src/simulator/types.js';
import { basic, CB, code, form, get, post, url, vendor } from './helpers.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const issuing = () => {
  const d = vendor(sim, 'checkissuing');
  const c = d.clients.find((x) => x.params['environment'] === 'sandbox')!;
  const f = form({ grant_type: 'client_credentials' });
  return {
    request: () =>
      post(url(d.endpoints.token, { environment: 'sandbox' }), f.body, {
        ...f.headers,
        authorization: basic(c.clientId, c.clientSecret),
      }),
    api: url(d.endpoints.apiBase, { environment: 'sandbox' }),
    client: c,
  };
};
const admin = (path: string, body?: unknown) =>
  body === undefined
    ? get(`${sim.url}/_sim/${path}`)
    : post(`${sim.url}/_sim/${path}`, JSON.stringify(body), { 'content-type': 'application/json' });

describe('discovery', () => {
  it('lists every vendor with URL templates, clients, keys and accounts', async () => {
    const res = await get(`${sim.url}/.well-known/baton-simulator`);
    expect(res.json).toEqual(JSON.parse(JSON.stringify(sim.discovery())));
    const d = sim.discovery();
    expect(d).toMatchObject({
      simulator: 'baton-simulator',
      version: 1,
      origin: sim.url,
      migrationOrigin: sim.migrationUrl,
      admin: `${sim.url}/_sim/`,
    });
    expect(Object.keys(d.vendors).sort()).toEqual([...VENDORS].sort());
    expect(d.vendors.cronofy.params['dataCenter']).toEqual(['us', 'au', 'ca', 'de', 'sg', 'uk']);
    expect(d.vendors.checkfront.endpoints.token).toBe(`${sim.url}/checkfront/{company}/oauth/token/`);
    expect(d.vendors.checkbook.clients.map((c) => c.params['environment']).sort()).toEqual([
      'production',
      'sandbox',
    ]);
    expect(formatDiscovery(d)).toContain(`${sim.url}/cronofy/{dataCenter}/api/oauth/token`);
  });
});

describe('faults', () => {
  it('fails the next N matching requests with each kind, then serves normally, changing no state', async () => {
    const { request } = issuing();
    const cases: [Parameters<Simulator['failNext']>[0], (r: Awaited<ReturnType<typeof request>>) => void][] =
      [
        [
          { vendor: 'checkissuing', endpoint: 'token', kind: 'status', status: 503, count: 2 },
          (r) => expect(r.status).toBe(503),
        ],
        [
          { vendor: 'checkissuing', endpoint: 'token', kind: 'html' },
          (r) => expect([r.status, r.headers.get('content-type')]).toEqual([502, 'text/html; charset=utf-8']),
        ],
        [
          { vendor: 'checkissuing', endpoint: 'token', kind: 'malformed-json' },
          (r) => expect([r.status, r.json]).toEqual([200, null]),
        ],
        [
          { vendor: 'checkissuing', endpoint: 'token', kind: 'empty' },
          (r) => expect([r.status, r.text]).toEqual([200, '']),
        ],
        [
          { vendor: 'checkissuing', endpoint: 'token', kind: 'rate-limit', retryAfter: 7 },
          (r) => expect([r.status, r.headers.get('retry-after')]).toEqual([429, '7']),
        ],
      ];
    for (const [fault, check] of cases) {
      sim.failNext(fault);
      for (let i = 0; i < (fault.count ?? 1); i++) check(await request());
      expect((await request()).status).toBe(200);
    }
  });

  it('drops the connection, and delays', async () => {
    const { request } = issuing();
    sim.failNext({ vendor: 'checkissuing', endpoint: 'token', kind: 'drop' });
    await expect(request()).rejects.toThrow();
    sim.failNext({ vendor: 'checkissuing', endpoint: 'token', kind: 'delay', delayMs: 150 });
    const t0 = performance.now();
    expect((await request()).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('applies only to the named vendor and endpoint', async () => {
    sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'status', status: 500 });
    expect((await issuing().request()).status).toBe(200);
    sim.failNext({ vendor: 'checkissuing', endpoint: 'api', kind: 'status', status: 500 });
    expect((await issuing().request()).status).toBe(200);
    expect((await get(`${issuing().api}v1/account`)).status).toBe(500);
    // Clear the cronofy fault so other tests are unaffected.
    const d = vendor(sim, 'cronofy');
    await post(url(d.endpoints.token, { dataCenter: 'us' }), '{}', { 'content-type': 'application/json' });
  });
});

describe('controls', () => {
  it('counts token calls by vendor, grant and client, and API and revoke calls', async () => {
    sim.resetCounters();
    const { request, client, api } = issuing();
    await request();
    await request();
    await get(`${api}v1/account`);
    const c = sim.counters();
    expect(c.token.checkissuing).toEqual({
      total: 2,
      byGrant: { client_credentials: 2 },
      byClient: { [client.clientId]: 2 },
    });
    expect(c.api.checkissuing).toBe(1);
    expect(c.token.cronofy.total).toBe(0);
    expect(c.revoke.cronofy).toBe(0);
  });

  it('moves the clock, expires access tokens and revokes grants', async () => {
    const { request, api } = issuing();
    const t = (await request()).json?.['access_token'] as string;
    const auth = { authorization: `Bearer ${t}` };
    expect((await get(`${api}v1/account`, auth)).status).toBe(200);
    sim.clock.advance(3_599_000);
    expect((await get(`${api}v1/account`, auth)).status).toBe(200);
    sim.clock.advance(2_000);
    expect((await get(`${api}v1/account`, auth)).status).toBe(401);
    const t2 = (await request()).json?.['access_token'] as string;
    expect(sim.expireAccessTokens({ vendor: 'checkissuing' })).toBeGreaterThan(0);
    expect((await get(`${api}v1/account`, { authorization: `Bearer ${t2}` })).status).toBe(401);
    const t3 = (await request()).json?.['access_token'] as string;
    expect(sim.revokeGrants({ vendor: 'checkissuing', clientId: issuing().client.clientId })).toBeGreaterThan(
      0,
    );
    expect((await get(`${api}v1/account`, { authorization: `Bearer ${t3}` })).status).toBe(401);
  });

  it('offers every control over the admin HTTP API, and says what is wrong with bad input', async () => {
    const now = sim.clock.now();
    expect((await admin('clock/advance', { ms: 60_000 })).json?.['now']).toBeGreaterThanOrEqual(now + 60_000);
    expect((await admin('clock/set', { now })).status).toBe(200);
    expect(Math.abs(sim.clock.now() - now)).toBeLessThan(1000);
    expect((await admin('clock/advance', { ms: 'soon' })).status).toBe(400);
    expect(
      (await admin('fail', { vendor: 'checkissuing', endpoint: 'token', kind: 'status', status: 418 }))
        .status,
    ).toBe(200);
    expect((await issuing().request()).status).toBe(418);
    expect((await admin('fail', { vendor: 'nope', endpoint: 'token', kind: 'status' })).json).toMatchObject({
      error: 'invalid_request',
    });
    const t = (await issuing().request()).json?.['access_token'] as string;
    expect(
      (await admin('expire-access-tokens', { vendor: 'checkissuing' })).json?.['expired'],
    ).toBeGreaterThan(0);
    expect((await get(`${issuing().api}v1/account`, { authorization: `Bearer ${t}` })).status).toBe(401);
    await issuing().request();
    expect((await admin('revoke', { vendor: 'checkissuing' })).json?.['revoked']).toBeGreaterThan(0);
    expect((await admin('revoke', {})).status).toBe(400);
    expect((await admin('cronofy-rotation', { mode: 'never' })).status).toBe(200);
    expect((await admin('cronofy-rotation', { mode: 'daily' })).status).toBe(400);
    await admin('cronofy-rotation', { mode: 'always' });
    expect((await admin('reset-counters', {})).status).toBe(200);
    expect((await admin('counters')).json).toMatchObject({ token: { checkissuing: { total: 0 } } });
    expect((await admin('checkfront/migrate', { company: 'acme', region: 'eu1' })).status).toBe(200);
    expect(
      (
        await get(`${url(vendor(sim, 'checkfront').endpoints.apiBase, { company: 'acme' })}api/3.0/ping`)
      ).headers.get('location'),
    ).toContain('/eu1/acme/');
    expect(Array.isArray((await admin('requests')).json)).toBe(true);
    expect(
      (await post(`${sim.url}/_sim/clock/advance`, '{oops', { 'content-type': 'application/json' })).json,
    ).toMatchObject({ error: 'invalid_json' });
    expect((await admin('nothing-here')).status).toBe(404);
  });

  it('keeps a request log that holds no secret', async () => {
    const planted: string[] = [];
    const { request, client } = issuing();
    planted.push(client.clientSecret, (await request()).json?.['access_token'] as string);
    const cr = vendor(sim, 'cronofy');
    const c = await code(sim, 'cronofy', { dataCenter: 'us' });
    planted.push(c, cr.clients[0]!.clientSecret);
    const t = await post(
      url(cr.endpoints.token, { dataCenter: 'us' }),
      JSON.stringify({
        client_id: cr.clients[0]!.clientId,
        client_secret: cr.clients[0]!.clientSecret,
        grant_type: 'authorization_code',
        code: c,
        redirect_uri: CB,
      }),
      { 'content-type': 'application/json' },
    );
    const access = t.json?.['access_token'] as string;
    planted.push(access, t.json?.['refresh_token'] as string);
    await get(
      `${url(vendor(sim, 'checkfront').endpoints.apiBase, { company: 'globex' })}api/3.0/ping?access_token=${access}`,
    );
    const log = JSON.stringify(sim.requestLog()) + (await admin('requests')).text;
    for (const secret of planted) expect(log).not.toContain(secret);
    expect(log).toContain('access_token=[redacted]');
    expect(
      sim.requestLog().some((e) => e.vendor === 'cronofy' && e.endpoint === 'token' && e.status === 200),
    ).toBe(true);
  });

  it('answers unknown paths with a pointer to discovery', async () => {
    const res = await get(`${sim.url}/nowhere`);
    expect(res.status).toBe(404);
    expect(res.text).toMatch(/baton-simulator/);
  });
});

describe('consent page', () => {
  it('asks in prompt mode and completes on a form post; denial comes back as access_denied', async () => {
    const prompt = await startSimulator({ consent: 'prompt' });
    try {
      const d = prompt.discovery().vendors.cronofy;
      const u = `${url(d.endpoints.authorize as string, { dataCenter: 'us' })}?client_id=${d.clients[0]?.clientId}&response_type=code&redirect_uri=${encodeURIComponent(CB)}&state=xyz`;
      const page = await get(u);
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/Approve/);
      const approve = await fetch(u, {
        method: 'POST',
        body: 'decision=approve&account=bob',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        redirect: 'manual',
      });
      const back = new URL(approve.headers.get('location') as string);
      expect(back.searchParams.get('state')).toBe('xyz');
      expect(back.searchParams.get('code')).toBeTruthy();
      const deny = await get(`${u}&sim_decision=deny`);
      expect(new URL(deny.headers.get('location') as string).searchParams.get('error')).toBe('access_denied');
      const noType = await get(u.replace('response_type=code', 'response_type=token'));
      expect(new URL(noType.headers.get('location') as string).searchParams.get('error')).toBe(
        'unsupported_response_type',
      );
      const badRedirect = await get(u.replace(encodeURIComponent(CB), 'not-a-url'));
      expect(badRedirect.status).toBe(400);
    } finally {
      await prompt.close();
    }
  });
});
