import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { basic, CB, code, form, get, post, url, vendor } from './helpers.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
});
afterAll(async () => {
  await sim.close();
});

const acme = () => {
  const d = vendor(sim, 'checkfront');
  const client = d.clients.find((c) => c.params['company'] === 'acme');
  const pair = d.apiKeys.find((k) => k.params['company'] === 'acme');
  if (!client || !pair) throw new Error('no acme credentials');
  return {
    d,
    client,
    pair,
    token: url(d.endpoints.token, { company: 'acme' }),
    api: url(d.endpoints.apiBase, { company: 'acme' }),
  };
};

async function exchange(c: string, how: 'basic' | 'body' = 'basic') {
  const { client, token } = acme();
  const fields = { grant_type: 'authorization_code', code: c, redirect_uri: CB };
  if (how === 'basic') {
    const f = form(fields);
    return post(token, f.body, { ...f.headers, authorization: basic(client.clientId, client.clientSecret) });
  }
  const f = form({ ...fields, client_id: client.clientId, client_secret: client.clientSecret });
  return post(token, f.body, f.headers);
}

describe('Checkfront simulator', () => {
  it('issues a code on consent and exchanges it with HTTP Basic or body credentials', async () => {
    const viaBasic = await exchange(await code(sim, 'checkfront', { company: 'acme' }));
    expect(viaBasic.status).toBe(200);
    expect(viaBasic.json).toMatchObject({ expires_in: 14000, token_type: 'Bearer' });
    expect(typeof viaBasic.json?.['refresh_token']).toBe('string');
    const viaBody = await exchange(await code(sim, 'checkfront', { company: 'acme' }), 'body');
    expect(viaBody.status).toBe(200);
  });

  it('shows the code on a page for redirect_uri=oob', async () => {
    const { client, d } = acme();
    const res = await get(
      `${url(d.endpoints.authorize as string, { company: 'acme' })}?client_id=${client.clientId}&response_type=code&redirect_uri=oob`,
    );
    expect(res.status).toBe(200);
    const shown = /<code id="code">([^<]+)<\/code>/.exec(res.text)?.[1];
    expect(shown).toBeTruthy();
    const f = form({ grant_type: 'authorization_code', code: shown as string, redirect_uri: 'oob' });
    const t = await post(acme().token, f.body, {
      ...f.headers,
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(t.status).toBe(200);
  });

  it('kills codes after 60 s and after one use', async () => {
    const c = await code(sim, 'checkfront', { company: 'acme' });
    sim.clock.advance(61_000);
    const late = await exchange(c);
    expect(late.status).toBe(400);
    expect(late.json).toMatchObject({ error: 'invalid_grant' });
    const c2 = await code(sim, 'checkfront', { company: 'acme' });
    expect((await exchange(c2)).status).toBe(200);
    const again = await exchange(c2);
    expect(again.json).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/already been used/),
    });
  });

  it('rejects a bad client, an unknown client at authorize, and an unsupported grant', async () => {
    const { token, d } = acme();
    const f = form({ grant_type: 'authorization_code', code: 'x', redirect_uri: CB });
    const bad = await post(token, f.body, { ...f.headers, authorization: basic('nope', 'nope') });
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ error: 'invalid_client' });
    const page = await get(
      `${url(d.endpoints.authorize as string, { company: 'acme' })}?client_id=nope&response_type=code&redirect_uri=${CB}`,
    );
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    const { client } = acme();
    const g = form({ grant_type: 'password' });
    expect(
      (
        await post(token, g.body, {
          ...g.headers,
          authorization: basic(client.clientId, client.clientSecret),
        })
      ).json,
    ).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('replaces the whole pair on every refresh: old access and refresh tokens die', async () => {
    const first = (await exchange(await code(sim, 'checkfront', { company: 'acme' }))).json as Record<
      string,
      string
    >;
    const { client, token, api } = acme();
    const refresh = (rt: string) => {
      const f = form({ grant_type: 'refresh_token', refresh_token: rt });
      return post(token, f.body, {
        ...f.headers,
        authorization: basic(client.clientId, client.clientSecret),
      });
    };
    const second = (await refresh(first['refresh_token'] as string)).json as Record<string, string>;
    expect(second['refresh_token']).not.toBe(first['refresh_token']);
    expect((await refresh(first['refresh_token'] as string)).json).toMatchObject({ error: 'invalid_grant' });
    expect(
      (await get(`${api}api/3.0/ping`, { authorization: `Bearer ${first['access_token']}` })).status,
    ).toBe(401);
    expect(
      (await get(`${api}api/3.0/ping`, { authorization: `Bearer ${second['access_token']}` })).status,
    ).toBe(200);
    // 14-day refresh tokens.
    sim.clock.advance(15 * 86_400_000);
    expect((await refresh(second['refresh_token'] as string)).json).toMatchObject({ error: 'invalid_grant' });
  });

  it('accepts bearer in any case, the access_token query parameter and token pairs; rejects consumer credentials at /api/', async () => {
    const t = (await exchange(await code(sim, 'checkfront', { company: 'acme' }))).json?.[
      'access_token'
    ] as string;
    const { api, pair, client } = acme();
    for (const scheme of ['Bearer', 'BEARER', 'bearer']) {
      expect((await get(`${api}api/3.0/ping`, { authorization: `${scheme} ${t}` })).status).toBe(200);
    }
    expect((await get(`${api}api/3.0/booking?access_token=${t}`)).json).toHaveProperty(['booking/index']);
    const viaPair = await get(`${api}api/3.0/booking`, {
      authorization: basic(pair.apiKey, pair.apiSecret as string),
    });
    expect(viaPair.status).toBe(200);
    const consumer = await get(`${api}api/3.0/ping`, {
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(consumer.status).toBe(401);
    expect(consumer.text).toMatch(/only accepted at \/oauth\/token\//);
    expect((await get(`${api}api/3.0/ping`)).status).toBe(401);
  });

  it('answers a dead or foreign token exactly as the forum thread shows', async () => {
    const t = (await exchange(await code(sim, 'checkfront', { company: 'acme' }))).json?.[
      'access_token'
    ] as string;
    const globex = url(vendor(sim, 'checkfront').endpoints.apiBase, { company: 'globex' });
    const foreign = await get(`${globex}api/3.0/ping`, { authorization: `Bearer ${t}` });
    expect(foreign.status).toBe(401);
    expect(foreign.json).toEqual({
      error: 'invalid_grant',
      error_description: 'The access token provided is invalid.',
    });
    sim.clock.advance(14_001_000);
    expect((await get(`${acme().api}api/3.0/ping`, { authorization: `Bearer ${t}` })).json).toEqual({
      error: 'invalid_grant',
      error_description: 'The access token provided is invalid.',
    });
  });

  it('moves a migrated company: 301 for API and token requests, and the new host serves the same data', async () => {
    const pair = vendor(sim, 'checkfront').apiKeys.find((k) => k.params['company'] === 'globex');
    const base = url(vendor(sim, 'checkfront').endpoints.apiBase, { company: 'globex' });
    const auth = { authorization: basic(pair?.apiKey as string, pair?.apiSecret as string) };
    const before = await get(`${base}api/3.0/booking`, auth);
    sim.migrateCheckfront('globex', 'eu1');
    const moved = await get(`${base}api/3.0/booking?limit=5`, auth);
    expect(moved.status).toBe(301);
    const location = moved.headers.get('location') as string;
    expect(location).toBe(`${sim.migrationUrl}/eu1/globex/api/3.0/booking?limit=5`);
    const there = await get(location, auth);
    expect(there.status).toBe(200);
    expect(there.json?.['booking/index']).toEqual(before.json?.['booking/index']);
    const tokenUrl = url(vendor(sim, 'checkfront').endpoints.token, { company: 'globex' });
    const t = await post(tokenUrl, 'grant_type=refresh_token', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(t.status).toBe(301);
    expect(t.headers.get('location')).toBe(`${sim.migrationUrl}/eu1/globex/oauth/token/`);
    expect((await get(`${sim.migrationUrl}/na1/globex/api/3.0/ping`, auth)).status).toBe(404);
  });
});
