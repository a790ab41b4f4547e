import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { basic, CB, code, form, get, post, vendor } from './helpers.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const VERSION = { 'notion-version': '2022-06-28' };
const nt = () => {
  const d = vendor(sim, 'notion');
  const client = d.clients[0]!;
  return { d, client, auth: basic(client.clientId, client.clientSecret) };
};
/** An OAuth request as Notion documents it: HTTP Basic and a JSON body. */
const oauth = (path: string, body: Record<string, string>, auth = nt().auth) =>
  post(`${nt().d.endpoints.apiBase}oauth/${path}`, JSON.stringify(body), {
    'content-type': 'application/json',
    authorization: auth,
  });
const exchange = async () =>
  oauth('token', {
    grant_type: 'authorization_code',
    code: await code(sim, 'notion', {}, { owner: 'user' }),
    redirect_uri: CB,
  });
const me = (t: string, headers: Record<string, string> = VERSION) =>
  get(`${nt().d.endpoints.apiBase}users/me`, { authorization: `Bearer ${t}`, ...headers });

describe('Notion persona', () => {
  it('publishes its endpoints and the legacy-tokens switch', () => {
    const { d } = nt();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/notion/v1/oauth/authorize`,
      token: `${sim.url}/notion/v1/oauth/token`,
      revoke: `${sim.url}/notion/v1/oauth/revoke`,
      apiBase: `${sim.url}/notion/v1/`,
    });
    expect(d.identityPath).toBe('users/me');
    expect(d.switches).toEqual({ legacyTokens: false });
  });

  it('needs owner=user at authorize', async () => {
    const { d, client } = nt();
    const res = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&response_type=code&redirect_uri=${encodeURIComponent(CB)}`,
    );
    expect(new URL(res.headers.get('location') as string).searchParams.get('error')).toBe('invalid_request');
  });

  it('code with Basic + JSON → workspace, bot and owner fields → GET /v1/users/me with Notion-Version', async () => {
    const t = await exchange();
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({
      access_token: expect.stringMatching(/^ntn_/),
      token_type: 'bearer',
      refresh_token: expect.any(String),
      bot_id: expect.any(String),
      workspace_id: expect.any(String),
      workspace_name: expect.any(String),
      owner: { type: 'user', user: { object: 'user', id: expect.any(String) } },
      request_id: expect.any(String),
    });
    expect(t.json).not.toHaveProperty('expires_in');
    const who = await me(t.json?.['access_token'] as string);
    expect(who.status).toBe(200);
    expect(who.json).toMatchObject({ object: 'user', type: 'bot', id: t.json?.['bot_id'] });
  });

  it('answers 400 missing_version without the Notion-Version header, 401 unauthorized for a bad token', async () => {
    const t = (await exchange()).json?.['access_token'] as string;
    const missing = await me(t, {});
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ object: 'error', status: 400, code: 'missing_version' });
    const bad = await me('ntn_nope');
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ object: 'error', status: 401, code: 'unauthorized' });
  });

  it('refresh answers a new access token and a new refresh token; the old refresh token is invalid_grant', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const r = await oauth('token', {
      grant_type: 'refresh_token',
      refresh_token: t['refresh_token'] as string,
    });
    expect(r.status).toBe(200);
    expect(r.json?.['access_token']).not.toBe(t['access_token']);
    expect(r.json?.['refresh_token']).not.toBe(t['refresh_token']);
    expect(r.json).toMatchObject({ bot_id: t['bot_id'], workspace_id: t['workspace_id'] });
    const again = await oauth('token', {
      grant_type: 'refresh_token',
      refresh_token: t['refresh_token'] as string,
    });
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ object: 'error', code: 'invalid_grant' });
    expect((await me(r.json?.['access_token'] as string)).status).toBe(200);
  });

  it('takes the client by HTTP Basic only, and the body as JSON only', async () => {
    const { client, d } = nt();
    const c = await code(sim, 'notion', {}, { owner: 'user' });
    const inBody = await post(
      d.endpoints.token,
      JSON.stringify({
        grant_type: 'authorization_code',
        code: c,
        redirect_uri: CB,
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }),
      { 'content-type': 'application/json' },
    );
    expect([inBody.status, inBody.json?.['code']]).toEqual([401, 'unauthorized']);
    const f = form({ grant_type: 'authorization_code', code: c, redirect_uri: CB });
    const asForm = await post(d.endpoints.token, f.body, { ...f.headers, authorization: nt().auth });
    expect([asForm.status, asForm.json?.['code']]).toEqual([400, 'invalid_request']);
    const broken = await post(d.endpoints.token, '{"grant_type":', {
      'content-type': 'application/json',
      authorization: nt().auth,
    });
    expect([broken.status, broken.json?.['code']]).toEqual([400, 'invalid_json']);
    // Neither attempt spent the code.
    expect(
      (await oauth('token', { grant_type: 'authorization_code', code: c, redirect_uri: CB })).status,
    ).toBe(200);
  });

  it('honours a lifetime a test sets, with expires_in', async () => {
    sim.setAccessTokenLifetime('notion', 3600);
    try {
      const t = await exchange();
      expect(t.json).toMatchObject({ expires_in: 3600 });
      sim.clock.advance(3600_000);
      expect((await me(t.json?.['access_token'] as string)).status).toBe(401);
    } finally {
      sim.setAccessTokenLifetime('notion', null);
    }
  });

  it('legacy tokens: one access token that never expires, no refresh token', async () => {
    sim.setSwitch('notion', 'legacyTokens', true);
    try {
      const t = await exchange();
      expect(t.json).not.toHaveProperty('refresh_token');
      sim.clock.advance(5 * 365 * 24 * 3600_000);
      expect((await me(t.json?.['access_token'] as string)).status).toBe(200);
    } finally {
      sim.setSwitch('notion', 'legacyTokens', false);
    }
  });

  it('introspects and revokes with Basic + JSON', async () => {
    const t = (await exchange()).json as Record<string, string>;
    expect((await oauth('introspect', { token: t['access_token'] as string })).json).toMatchObject({
      active: true,
    });
    const res = await oauth('revoke', { token: t['access_token'] as string });
    expect(res.status).toBe(200);
    expect((await me(t['access_token'] as string)).status).toBe(401);
    expect((await oauth('introspect', { token: t['refresh_token'] as string })).json).toMatchObject({
      active: false,
    });
    expect(
      (await oauth('token', { grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string }))
        .json,
    ).toMatchObject({ code: 'invalid_grant' });
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'revoke')
        .at(-1),
    ).toMatchObject({
      vendor: 'notion',
      revokedToken: t['access_token'],
    });
  });
});
