import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, code, form, get, post, vendor } from './helpers.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const MINUTE = 60_000;
const hs = () => {
  const d = vendor(sim, 'hubspot');
  const client = d.clients[0]!;
  return { d, client, creds: { client_id: client.clientId, client_secret: client.clientSecret } };
};
/** A v3 token request: everything in the form body. */
const token = (fields: Record<string, string>, path = 'oauth/v3/token') => {
  const f = form({ ...hs().creds, ...fields });
  return post(`${hs().d.endpoints.apiBase}${path}`, f.body, f.headers);
};
const exchange = async (scope = 'oauth crm.objects.contacts.read') =>
  token({
    grant_type: 'authorization_code',
    code: await code(sim, 'hubspot', {}, { scope }),
    redirect_uri: CB,
  });
const details = (t: string) =>
  get(`${hs().d.endpoints.apiBase}account-info/v3/details`, { authorization: `Bearer ${t}` });

describe('HubSpot persona', () => {
  it('publishes the v3 token endpoint, the revoke endpoint and the v1 sunset switch', () => {
    const { d } = hs();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/hubspot/app/oauth/authorize`,
      token: `${sim.url}/hubspot/api/oauth/v3/token`,
      revoke: `${sim.url}/hubspot/api/oauth/2026-03/token/revoke`,
      apiBase: `${sim.url}/hubspot/api/`,
    });
    expect(d.identityPath).toBe('account-info/v3/details');
    expect(d.switches).toEqual({ v1Sunset: false });
    expect(d.scopes).toContain('oauth');
  });

  it('installs without response_type; code → 30 min token with hub_id and scopes → account details', async () => {
    const { d, client } = hs();
    const page = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&redirect_uri=${encodeURIComponent(CB)}&scope=${encodeURIComponent('oauth content')}&state=s`,
    );
    const c = new URL(page.headers.get('location') as string).searchParams.get('code') as string;
    const t = await token({ grant_type: 'authorization_code', code: c, redirect_uri: CB });
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({
      token_type: 'bearer',
      expires_in: 1800,
      hub_id: expect.any(Number),
      user_id: expect.any(Number),
      scopes: ['oauth', 'content'],
      refresh_token: expect.stringMatching(/^na1-/),
    });
    const me = await details(t.json?.['access_token'] as string);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ portalId: t.json?.['hub_id'], accountType: 'STANDARD' });
    const noOauth = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&redirect_uri=${encodeURIComponent(CB)}&scope=content`,
    );
    expect(new URL(noOauth.headers.get('location') as string).searchParams.get('error')).toBe(
      'invalid_scope',
    );
  });

  it('returns the same refresh token on every refresh, and expires access tokens after 30 minutes', async () => {
    const t = (await exchange()).json as Record<string, string>;
    sim.clock.advance(30 * MINUTE + 1000);
    const expired = await details(t['access_token'] as string);
    expect(expired.status).toBe(401);
    expect(expired.json).toMatchObject({ status: 'error', category: 'EXPIRED_AUTHENTICATION' });
    const r1 = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    const r2 = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    expect(r1.json?.['refresh_token']).toBe(t['refresh_token']);
    expect(r2.json?.['refresh_token']).toBe(t['refresh_token']);
    expect(r2.json?.['access_token']).not.toBe(r1.json?.['access_token']);
    expect((await details(r1.json?.['access_token'] as string)).status).toBe(200);
    expect((await details('not-a-token')).json).toMatchObject({ category: 'INVALID_AUTHENTICATION' });
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'token')
        .at(-1),
    ).toMatchObject({ rotated: false });
  });

  it('refuses v3 parameters in the query, and answers errors with both RFC 6749 and HubSpot fields', async () => {
    const { d, creds } = hs();
    const q = new URLSearchParams({ ...creds, grant_type: 'refresh_token', refresh_token: 'x' });
    const inQuery = await post(`${d.endpoints.token}?${q}`, '', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(inQuery.status).toBe(400);
    expect(inQuery.json).toMatchObject({ error: 'invalid_request' });
    const bad = await token({ grant_type: 'refresh_token', refresh_token: 'na1-nope' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.any(String),
      status: 'BAD_REFRESH_TOKEN',
      message: expect.any(String),
      correlationId: expect.any(String),
    });
    expect(
      (await token({ grant_type: 'authorization_code', code: 'nope', redirect_uri: CB })).json,
    ).toMatchObject({
      status: 'BAD_AUTH_CODE',
    });
    expect(
      (await token({ grant_type: 'refresh_token', client_secret: 'nope', refresh_token: 'x' })).json,
    ).toMatchObject({
      error: 'invalid_client',
      status: 'BAD_CLIENT_SECRET',
    });
    // The date-versioned path is the same endpoint.
    const c = await code(sim, 'hubspot', {}, { scope: 'oauth' });
    expect(
      (await token({ grant_type: 'authorization_code', code: c, redirect_uri: CB }, 'oauth/2026-03/token'))
        .json,
    ).toMatchObject({ expires_in: 1800 });
  });

  it('introspects access and refresh tokens', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const intro = (tok: string) => token({ token: tok }, 'oauth/v3/token/introspect');
    expect((await intro(t['access_token'] as string)).json).toMatchObject({
      active: true,
      token_use: 'access_token',
      hub_id: t['hub_id'],
      client_id: hs().client.clientId,
      expires_in: 1800,
    });
    expect((await intro(t['refresh_token'] as string)).json).toMatchObject({
      active: true,
      token_use: 'refresh_token',
    });
    expect((await intro('nope')).json).toEqual({ active: false });
  });

  it('revokes the refresh token only: its access tokens keep working', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const f = form({ ...hs().creds, token: t['refresh_token'] as string });
    const res = await post(hs().d.endpoints.revoke as string, f.body, f.headers);
    expect(res.status).toBe(200);
    expect((await details(t['access_token'] as string)).status).toBe(200);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string })).json,
    ).toMatchObject({
      status: 'BAD_REFRESH_TOKEN',
    });
    expect(sim.tokenStatus(t['refresh_token'] as string)).toBe('revoked');
  });

  it('keeps the deprecated v1 endpoints working, tokens in the path kept out of the request log, until the sunset switch', async () => {
    const { d, creds } = hs();
    const c = await code(sim, 'hubspot', {}, { scope: 'oauth' });
    const q = new URLSearchParams({ ...creds, grant_type: 'authorization_code', code: c, redirect_uri: CB });
    const t = await post(`${d.endpoints.apiBase}oauth/v1/token?${q}`, '', {});
    expect(t.json).toMatchObject({ expires_in: 1800, refresh_token: expect.any(String) });
    const access = t.json?.['access_token'] as string;
    const refresh = t.json?.['refresh_token'] as string;
    expect((await get(`${d.endpoints.apiBase}oauth/v1/access-tokens/${access}`)).json).toMatchObject({
      token: access,
      hub_id: t.json?.['hub_id'],
      expires_in: 1800,
    });
    expect((await get(`${d.endpoints.apiBase}oauth/v1/refresh-tokens/${refresh}`)).json).toMatchObject({
      token: refresh,
      client_id: hs().client.clientId,
    });
    const del = await fetch(`${d.endpoints.apiBase}oauth/v1/refresh-tokens/${refresh}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await details(access)).status).toBe(200);
    const logged = sim
      .requestLog()
      .map((e) => e.path)
      .join('\n');
    expect(logged).not.toContain(refresh);
    expect(logged).not.toContain(access);
    expect(logged).toContain('/hubspot/api/oauth/v1/refresh-tokens/[redacted]');

    sim.setSwitch('hubspot', 'v1Sunset', true);
    try {
      const gone = await post(
        `${d.endpoints.apiBase}oauth/v1/token`,
        form({ ...creds, grant_type: 'refresh_token', refresh_token: refresh }).body,
        {
          'content-type': 'application/x-www-form-urlencoded',
        },
      );
      expect(gone.status).toBe(404);
      expect(String(gone.json?.['message'])).toContain('v3');
    } finally {
      sim.setSwitch('hubspot', 'v1Sunset', false);
    }
  });
});
