import { createHash } from 'node:crypto';
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

const HOUR = 3600_000;
const zoom = () => {
  const d = vendor(sim, 'zoom');
  const accountId = d.params['accountId']?.[0] as string;
  const app = d.clients.find((c) => Object.keys(c.params).length === 0)!;
  const s2s = d.clients.find((c) => c.params['accountId'] === accountId)!;
  return { d, accountId, app, s2s };
};
const token = (fields: Record<string, string>, client = zoom().app, query = '') => {
  const f = form(fields);
  return post(`${zoom().d.endpoints.token}${query}`, f.body, {
    ...f.headers,
    authorization: basic(client.clientId, client.clientSecret),
  });
};
const exchange = async (extra: Record<string, string> = {}, verifier?: string) =>
  token({
    grant_type: 'authorization_code',
    code: await code(sim, 'zoom', {}, extra),
    redirect_uri: CB,
    ...(verifier ? { code_verifier: verifier } : {}),
  });
const me = (t: string) => get(`${zoom().d.endpoints.apiBase}v2/users/me`, { authorization: `Bearer ${t}` });

describe('Zoom persona', () => {
  it('publishes its endpoints, the accountId param and both apps', () => {
    const { d, accountId, s2s } = zoom();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/zoom/oauth/authorize`,
      token: `${sim.url}/zoom/oauth/token`,
      revoke: `${sim.url}/zoom/oauth/revoke`,
      apiBase: `${sim.url}/zoom/api/`,
    });
    expect(d.identityPath).toBe('v2/users/me');
    expect(accountId).toMatch(/^[A-Za-z0-9]+$/);
    expect(s2s.params).toEqual({ accountId });
    expect(d.clients).toHaveLength(2);
  });

  it('code → one-hour token with a refresh token and api_url → GET /v2/users/me', async () => {
    const t = await exchange();
    expect(t.status).toBe(200);
    expect(t.json).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      refresh_token: expect.any(String),
      expires_in: 3599,
      scope: expect.stringContaining('user:read'),
      api_url: `${sim.url}/zoom/api`,
    });
    const who = await me(t.json?.['access_token'] as string);
    expect(who.status).toBe(200);
    expect(who.json).toMatchObject({ email: 'host@example.com', account_id: zoom().accountId });
  });

  it('rotates the refresh token on every use: the old one is invalid_grant', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const r = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    expect(r.json).toMatchObject({ expires_in: 3599, refresh_token: expect.any(String) });
    expect(r.json?.['refresh_token']).not.toBe(t['refresh_token']);
    const again = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    expect([again.status, again.json]).toEqual([400, { reason: 'Invalid Token!', error: 'invalid_grant' }]);
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'token' && e.status === 200)
        .at(-1),
    ).toMatchObject({
      vendor: 'zoom',
      rotated: true,
    });
    const r2 = await token({
      grant_type: 'refresh_token',
      refresh_token: r.json?.['refresh_token'] as string,
    });
    expect(r2.status).toBe(200);
  });

  it('expires access tokens after an hour and refresh tokens after 90 days', async () => {
    const t = (await exchange()).json as Record<string, string>;
    sim.clock.advance(HOUR);
    const expired = await me(t['access_token'] as string);
    expect([expired.status, expired.json]).toEqual([401, { code: 124, message: 'Access token is expired.' }]);
    expect((await me('nope')).json).toEqual({ code: 124, message: 'Invalid access token.' });
    sim.clock.advance(90 * 24 * HOUR);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string })).json,
    ).toEqual({
      reason: 'Invalid Token!',
      error: 'invalid_grant',
    });
  });

  it('takes the client by HTTP Basic only', async () => {
    const { app } = zoom();
    const f = form({
      grant_type: 'authorization_code',
      code: await code(sim, 'zoom', {}),
      redirect_uri: CB,
      client_id: app.clientId,
      client_secret: app.clientSecret,
    });
    const res = await post(zoom().d.endpoints.token, f.body, f.headers);
    expect([res.status, res.json]).toEqual([
      401,
      { reason: 'Invalid client_id or client_secret', error: 'invalid_client' },
    ]);
  });

  it('server-to-server: account_credentials with account_id (in the query), no refresh token', async () => {
    const { s2s, accountId, app } = zoom();
    const q = `?grant_type=account_credentials&account_id=${accountId}`;
    const t = await token({}, s2s, q);
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({ token_type: 'bearer', expires_in: 3599, scope: expect.any(String) });
    expect(t.json).not.toHaveProperty('refresh_token');
    expect((await me(t.json?.['access_token'] as string)).status).toBe(200);
    const second = await token({ grant_type: 'account_credentials', account_id: accountId }, s2s);
    expect(second.json?.['access_token']).not.toBe(t.json?.['access_token']);
    expect((await me(t.json?.['access_token'] as string)).status).toBe(200);
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'token')
        .at(-2),
    ).toMatchObject({
      grantType: 'account_credentials',
    });
    const wrongAccount = await token({ grant_type: 'account_credentials', account_id: 'other' }, s2s);
    expect([wrongAccount.status, wrongAccount.json?.['error']]).toEqual([400, 'invalid_request']);
    const userApp = await token({ grant_type: 'account_credentials', account_id: accountId }, app);
    expect(userApp.json?.['error']).toBe('unsupported_grant_type');
    const s2sCode = await token({ grant_type: 'authorization_code', code: 'x', redirect_uri: CB }, s2s);
    expect(s2sCode.json?.['error']).toBe('unsupported_grant_type');
  });

  it('verifies PKCE and the redirect URI', async () => {
    const verifier = 'z'.repeat(48);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pkce = { code_challenge: challenge, code_challenge_method: 'S256' };
    expect((await exchange(pkce, verifier)).status).toBe(200);
    expect((await exchange(pkce, 'y'.repeat(48))).status).toBe(400);
    const c = await code(sim, 'zoom', {});
    const mismatch = await token({
      grant_type: 'authorization_code',
      code: c,
      redirect_uri: 'http://127.0.0.1:9/x',
    });
    expect([mismatch.status, mismatch.json?.['error']]).toEqual([400, 'invalid_request']);
  });

  it('revokes with POST /oauth/revoke: the whole authorization dies', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const f = form({ token: t['access_token'] as string });
    const { app, d } = zoom();
    const res = await post(d.endpoints.revoke as string, f.body, {
      ...f.headers,
      authorization: basic(app.clientId, app.clientSecret),
    });
    expect([res.status, res.json]).toEqual([200, { status: 'success' }]);
    expect((await me(t['access_token'] as string)).status).toBe(401);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string })).status,
    ).toBe(400);
    expect(sim.tokenStatus(t['refresh_token'] as string)).toBe('revoked');
  });
});
