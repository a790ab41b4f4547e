import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { basic, CB, code, form, get, post, url, vendor } from './helpers.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto', cronofyRateLimit: { tokenRequestsPerMinute: 1000 } });
});
afterAll(async () => {
  await sim.close();
});

describe('Checkbook simulator', () => {
  const env = (environment: string) => {
    const d = vendor(sim, 'checkbook');
    const client = d.clients.find((c) => c.params['environment'] === environment);
    const key = d.apiKeys.find((k) => k.params['environment'] === environment);
    return {
      d,
      client: client!,
      key: key!,
      token: url(d.endpoints.token, { environment }),
      api: url(d.endpoints.apiBase, { environment }),
    };
  };
  const exchange = async (environment: string, scope: string, creds = env(environment).client) => {
    const c = await code(sim, 'checkbook', { environment }, { scope });
    const f = form({
      client_id: creds.clientId,
      grant_type: 'authorization_code',
      scope,
      code: c,
      redirect_uri: CB,
      client_secret: creds.clientSecret,
    });
    return post(env(environment).token, f.body, f.headers);
  };

  it('takes exactly one documented scope at authorize', async () => {
    const { d, client } = env('sandbox');
    const u = `${url(d.endpoints.authorize as string, { environment: 'sandbox' })}?client_id=${client.clientId}&response_type=code&redirect_uri=${CB}&state=s&scope=check%20check_receive`;
    const res = await get(u);
    expect(new URL(res.headers.get('location') as string).searchParams.get('error')).toBe('invalid_scope');
  });

  it('exchanges a code with form-body credentials for a 15552000 s token and refreshes it', async () => {
    const t = await exchange('sandbox', 'check');
    expect(t.json).toMatchObject({ token_type: 'Bearer', expires_in: 15552000, scope: 'check' });
    const { client, token, api } = env('sandbox');
    const f = form({
      client_id: client.clientId,
      grant_type: 'refresh_token',
      refresh_token: t.json?.['refresh_token'] as string,
      client_secret: client.clientSecret,
    });
    const r = await post(token, f.body, f.headers);
    expect(r.status).toBe(200);
    expect((await get(`${api}v3/user`, { authorization: `bearer ${r.json?.['access_token']}` })).status).toBe(
      200,
    );
    expect((await post(token, f.body, f.headers)).json).toMatchObject({ error: 'invalid_grant' });
  });

  it('rejects JSON bodies and wrong credentials, and keeps sandbox and production apart', async () => {
    const { token, client } = env('sandbox');
    expect(
      (
        await post(token, JSON.stringify({ grant_type: 'refresh_token' }), {
          'content-type': 'application/json',
        })
      ).json,
    ).toMatchObject({ error: 'invalid_request' });
    const prodCreds = env('production').client;
    const wrongEnv = await exchange('sandbox', 'check', prodCreds);
    expect(wrongEnv.status).toBe(401);
    expect(wrongEnv.json).toMatchObject({ error: 'invalid_client' });
    const t = (await exchange('sandbox', 'check')).json?.['access_token'] as string;
    expect((await get(`${env('production').api}v3/user`, { authorization: `Bearer ${t}` })).status).toBe(401);
    expect(client.clientId).not.toBe(prodCreds.clientId);
  });

  it('accepts the key:secret API-key header and lets a single-use token work once', async () => {
    const { key, api } = env('production');
    expect((await get(`${api}v3/user`, { authorization: `${key.apiKey}:${key.apiSecret}` })).status).toBe(
      200,
    );
    expect((await get(`${api}v3/user`, { authorization: `${key.apiKey}:wrong` })).status).toBe(401);
    const once = (await exchange('production', 'single-use')).json?.['access_token'] as string;
    expect((await get(`${api}v3/user`, { authorization: `Bearer ${once}` })).status).toBe(200);
    expect((await get(`${api}v3/user`, { authorization: `Bearer ${once}` })).status).toBe(401);
  });
});

describe('Checkissuing simulator', () => {
  const env = (environment: string) => {
    const d = vendor(sim, 'checkissuing');
    return {
      client: d.clients.find((c) => c.params['environment'] === environment)!,
      token: url(d.endpoints.token, { environment }),
      api: url(d.endpoints.apiBase, { environment }),
    };
  };
  const cc = form({ grant_type: 'client_credentials' });

  it('grants client_credentials by HTTP Basic: 3600 s, no refresh token', async () => {
    const { client, token, api } = env('sandbox');
    const t = await post(token, cc.body, {
      ...cc.headers,
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(t.json).toEqual({ token_type: 'Bearer', expires_in: 3600, access_token: expect.any(String) });
    expect(
      (await get(`${api}v1/account`, { authorization: `Bearer ${t.json?.['access_token']}` })).status,
    ).toBe(200);
  });

  it('answers every failure with {"status":0,"errors":["Access Denied"]}', async () => {
    const { client, token, api } = env('sandbox');
    const denied = { status: 0, errors: ['Access Denied'] };
    const inBody = form({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    expect((await post(token, inBody.body, inBody.headers)).json).toEqual(denied);
    const prod = env('production').client;
    expect(
      (await post(token, cc.body, { ...cc.headers, authorization: basic(prod.clientId, prod.clientSecret) }))
        .json,
    ).toEqual(denied);
    const wrongGrant = form({ grant_type: 'refresh_token' });
    expect(
      (
        await post(token, wrongGrant.body, {
          ...wrongGrant.headers,
          authorization: basic(client.clientId, client.clientSecret),
        })
      ).status,
    ).toBe(401);
    const bad = await get(`${api}v1/account`, { authorization: 'Bearer nope' });
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual(denied);
  });
});

describe('Cronofy simulator', () => {
  const dc = (dataCenter: string) => {
    const d = vendor(sim, 'cronofy');
    return {
      client: d.clients[0]!,
      token: url(d.endpoints.token, { dataCenter }),
      revoke: url(d.endpoints.revoke as string, { dataCenter }),
      api: url(d.endpoints.apiBase, { dataCenter }),
    };
  };
  const exchangeJson = async (dataCenter: string, extra: Record<string, string> = {}, verifier?: string) => {
    const c = await code(sim, 'cronofy', { dataCenter }, extra);
    const { client, token } = dc(dataCenter);
    return post(
      token,
      JSON.stringify({
        client_id: client.clientId,
        client_secret: client.clientSecret,
        grant_type: 'authorization_code',
        code: c,
        redirect_uri: CB,
        ...(verifier ? { code_verifier: verifier } : {}),
      }),
      { 'content-type': 'application/json; charset=utf-8', authorization: 'Basic bm9wZTpub3Bl' },
    );
  };
  const refresh = (dataCenter: string, rt: string) => {
    const { client, token } = dc(dataCenter);
    const f = form({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      grant_type: 'refresh_token',
      refresh_token: rt,
    });
    return post(token, f.body, f.headers);
  };

  it('answers as documented: lower-case bearer, 32-char tokens, account fields, no-store; Authorization header ignored', async () => {
    const t = await exchangeJson('de', { scope: 'read_events create_event' });
    expect(t.status).toBe(200);
    expect(t.headers.get('cache-control')).toBe('no-store');
    expect(t.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(t.json).toMatchObject({
      token_type: 'bearer',
      expires_in: 3600,
      scope: 'read_events create_event',
      account_id: expect.any(String),
      sub: expect.any(String),
      linking_profile: expect.any(Object),
    });
    expect(String(t.json?.['access_token'])).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(String(t.json?.['refresh_token'])).toHaveLength(32);
    const who = await get(`${dc('de').api}v1/userinfo`, {
      authorization: `Bearer ${t.json?.['access_token']}`,
    });
    expect(who.json).toMatchObject({ sub: t.json?.['sub'] });
    expect(
      (await get(`${dc('de').api}v1/account`, { authorization: `Bearer ${t.json?.['access_token']}` }))
        .status,
    ).toBe(200);
  });

  it('keeps data centers apart', async () => {
    const t = (await exchangeJson('au')).json as Record<string, string>;
    expect(
      (await get(`${dc('uk').api}v1/userinfo`, { authorization: `Bearer ${t['access_token']}` })).status,
    ).toBe(401);
    expect((await refresh('uk', t['refresh_token'] as string)).json).toEqual({ error: 'invalid_grant' });
  });

  it('verifies PKCE', async () => {
    const verifier = 'v'.repeat(43);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    expect(
      (await exchangeJson('us', { code_challenge: challenge, code_challenge_method: 'S256' }, verifier))
        .status,
    ).toBe(200);
    expect(
      (await exchangeJson('us', { code_challenge: challenge, code_challenge_method: 'S256' }, 'w'.repeat(43)))
        .json,
    ).toEqual({ error: 'invalid_grant' });
  });

  it('rotates refresh tokens never, always or sometimes', async () => {
    const rt0 = (await exchangeJson('ca')).json?.['refresh_token'] as string;
    sim.setCronofyRotation('never');
    expect((await refresh('ca', rt0)).json?.['refresh_token']).toBe(rt0);
    sim.setCronofyRotation('always');
    const rt1 = (await refresh('ca', rt0)).json?.['refresh_token'] as string;
    expect(rt1).not.toBe(rt0);
    expect((await refresh('ca', rt0)).json).toEqual({ error: 'invalid_grant' });
    sim.setCronofyRotation('sometimes');
    const seen = [rt1];
    for (let i = 0; i < 4; i++)
      seen.push((await refresh('ca', seen.at(-1) as string)).json?.['refresh_token'] as string);
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect(new Set(seen).size).toBeLessThan(seen.length);
    sim.setCronofyRotation('always');
  });

  it('answers invalid_client as 400 and revokes a grant by token or refresh_token (RFC 7009)', async () => {
    const { token, revoke, client, api } = dc('sg');
    const bad = await post(
      token,
      JSON.stringify({
        client_id: client.clientId,
        client_secret: 'x',
        grant_type: 'refresh_token',
        refresh_token: 'y',
      }),
      { 'content-type': 'application/json' },
    );
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'invalid_client' });
    const t = (await exchangeJson('sg')).json as Record<string, string>;
    const r = form({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      token: t['refresh_token'] as string,
    });
    expect((await post(revoke, r.body, r.headers)).status).toBe(200);
    expect((await refresh('sg', t['refresh_token'] as string)).json).toEqual({ error: 'invalid_grant' });
    expect((await get(`${api}v1/userinfo`, { authorization: `Bearer ${t['access_token']}` })).status).toBe(
      401,
    );
    const t2 = (await exchangeJson('sg')).json as Record<string, string>;
    const r2 = form({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      refresh_token: t2['refresh_token'] as string,
    });
    expect((await post(revoke, r2.body, r2.headers)).status).toBe(200);
    expect((await refresh('sg', t2['refresh_token'] as string)).json).toEqual({ error: 'invalid_grant' });
    const unknown = form({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      token: 'unknown',
    });
    expect((await post(revoke, unknown.body, unknown.headers)).status).toBe(200);
  });
});

describe('Cronofy rate limit', () => {
  it('answers 429 with Retry-After past the limit, until the virtual minute is over', async () => {
    const limited = await startSimulator({ cronofyRateLimit: { tokenRequestsPerMinute: 2 } });
    try {
      const d = limited.discovery().vendors.cronofy;
      const body = JSON.stringify({
        client_id: d.clients[0]?.clientId,
        client_secret: d.clients[0]?.clientSecret,
        grant_type: 'refresh_token',
        refresh_token: 'x',
      });
      const t = url(d.endpoints.token, { dataCenter: 'us' });
      const h = { 'content-type': 'application/json' };
      expect((await post(t, body, h)).status).toBe(400);
      expect((await post(t, body, h)).status).toBe(400);
      const third = await post(t, body, h);
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      limited.clock.advance(61_000);
      expect((await post(t, body, h)).status).toBe(400);
    } finally {
      await limited.close();
    }
  });
});
