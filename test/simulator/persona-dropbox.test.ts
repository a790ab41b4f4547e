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
const dbx = () => {
  const d = vendor(sim, 'dropbox');
  return { d, client: d.clients[0]! };
};
const token = (fields: Record<string, string>, auth: string | null = null) => {
  const { d, client } = dbx();
  const f = form(fields);
  return post(d.endpoints.token, f.body, {
    ...f.headers,
    authorization: auth ?? basic(client.clientId, client.clientSecret),
  });
};
const exchange = async (extra: Record<string, string> = {}) =>
  token({ grant_type: 'authorization_code', code: await code(sim, 'dropbox', {}, extra), redirect_uri: CB });
/** An RPC call as the SDKs make it: POST, bearer token, no body. */
const rpc = (name: string, t: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
  post(`${dbx().d.endpoints.apiBase}${name}`, init.body ?? '', {
    authorization: `Bearer ${t}`,
    ...init.headers,
  });

describe('Dropbox persona', () => {
  it('publishes its endpoints', () => {
    const { d } = dbx();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/dropbox/oauth2/authorize`,
      token: `${sim.url}/dropbox/api/oauth2/token`,
      revoke: `${sim.url}/dropbox/api/2/auth/token/revoke`,
      apiBase: `${sim.url}/dropbox/api/2/`,
    });
    expect(d.identityPath).toBe('users/get_current_account');
  });

  it('offline: a four-hour token and a refresh token that does not rotate', async () => {
    const t = await exchange({ token_access_type: 'offline' });
    expect(t.status).toBe(200);
    expect(t.json).toEqual({
      access_token: expect.stringMatching(/^sl\./),
      expires_in: 14400,
      token_type: 'bearer',
      scope: expect.any(String),
      refresh_token: expect.any(String),
      account_id: expect.stringMatching(/^dbid:/),
      uid: expect.any(String),
    });
    const account = await rpc('users/get_current_account', t.json?.['access_token'] as string);
    expect(account.status).toBe(200);
    expect(account.json).toMatchObject({ account_id: t.json?.['account_id'], email: 'franz@example.com' });

    sim.clock.advance(4 * HOUR);
    const expired = await rpc('users/get_current_account', t.json?.['access_token'] as string);
    expect([expired.status, expired.json]).toEqual([
      401,
      { error_summary: 'expired_access_token/.', error: { '.tag': 'expired_access_token' } },
    ]);
    const r = await token({
      grant_type: 'refresh_token',
      refresh_token: t.json?.['refresh_token'] as string,
    });
    expect(r.json).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 14400 });
    const r2 = await token({
      grant_type: 'refresh_token',
      refresh_token: t.json?.['refresh_token'] as string,
    });
    expect(r2.status).toBe(200);
    expect((await rpc('users/get_current_account', r2.json?.['access_token'] as string)).status).toBe(200);
  });

  it('online or no token_access_type: no refresh token', async () => {
    const online = await exchange({ token_access_type: 'online' });
    expect(online.json).toMatchObject({ expires_in: 14400 });
    expect(online.json).not.toHaveProperty('refresh_token');
    const absent = await exchange();
    expect(absent.json).not.toHaveProperty('refresh_token');
    const { d, client } = dbx();
    const bad = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&response_type=code&redirect_uri=${encodeURIComponent(CB)}&token_access_type=forever`,
    );
    expect(new URL(bad.headers.get('location') as string).searchParams.get('error')).toBe('invalid_request');
  });

  it('lets a PKCE client exchange and refresh with the app key alone', async () => {
    const verifier = 'd'.repeat(64);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const { client } = dbx();
    const c = await code(
      sim,
      'dropbox',
      {},
      {
        code_challenge: challenge,
        code_challenge_method: 'S256',
        token_access_type: 'offline',
      },
    );
    const f = form({
      grant_type: 'authorization_code',
      code: c,
      redirect_uri: CB,
      client_id: client.clientId,
      code_verifier: verifier,
    });
    const t = await post(dbx().d.endpoints.token, f.body, f.headers);
    expect(t.json).toMatchObject({ refresh_token: expect.any(String) });
    const noPkce = await code(sim, 'dropbox', {});
    const g = form({
      grant_type: 'authorization_code',
      code: noPkce,
      redirect_uri: CB,
      client_id: client.clientId,
    });
    expect((await post(dbx().d.endpoints.token, g.body, g.headers)).json).toMatchObject({
      error: 'invalid_client',
    });
  });

  it('answers token errors with 400 and RFC 6749 codes', async () => {
    const { client } = dbx();
    expect((await token({ grant_type: 'refresh_token', refresh_token: 'nope' })).json).toEqual({
      error: 'invalid_grant',
      error_description: 'refresh token is invalid or revoked',
    });
    const used = await token({ grant_type: 'authorization_code', code: 'nope', redirect_uri: CB });
    expect([used.status, used.json?.['error']]).toEqual([400, 'invalid_grant']);
    const wrong = await token(
      { grant_type: 'refresh_token', refresh_token: 'x' },
      basic(client.clientId, 'nope'),
    );
    expect(wrong.json?.['error']).toBe('invalid_client');
    expect((await token({ grant_type: 'password' })).json?.['error']).toBe('unsupported_grant_type');
  });

  it('holds RPC calls to POST with no body or JSON', async () => {
    const t = (await exchange()).json?.['access_token'] as string;
    const base = dbx().d.endpoints.apiBase;
    const viaGet = await get(`${base}users/get_current_account`, { authorization: `Bearer ${t}` });
    expect(viaGet.status).toBe(400);
    expect(viaGet.headers.get('content-type')).toMatch(/^text\/plain/);
    const formBody = await rpc('users/get_current_account', t, {
      body: 'a=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(formBody.status).toBe(400);
    expect(formBody.text).toContain('Content-Type');
    const emptyJson = await rpc('users/get_current_account', t, {
      headers: { 'content-type': 'application/json' },
    });
    expect(emptyJson.status).toBe(400);
    const nullJson = await rpc('users/get_current_account', t, {
      body: 'null',
      headers: { 'content-type': 'application/json' },
    });
    expect(nullJson.status).toBe(200);
    expect((await rpc('users/get_current_account', 'nope')).json).toMatchObject({
      error: { '.tag': 'invalid_access_token' },
    });
  });

  it('revokes with the bearer token: the refresh token and every access token of it die', async () => {
    const t = (await exchange({ token_access_type: 'offline' })).json as Record<string, string>;
    const r = (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string }))
      .json as Record<string, string>;
    const res = await rpc('auth/token/revoke', r['access_token'] as string);
    expect([res.status, res.text]).toEqual([200, 'null']);
    expect((await rpc('users/get_current_account', t['access_token'] as string)).status).toBe(401);
    expect((await rpc('users/get_current_account', r['access_token'] as string)).status).toBe(401);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string })).json,
    ).toMatchObject({
      error: 'invalid_grant',
    });
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'revoke')
        .at(-1),
    ).toMatchObject({
      vendor: 'dropbox',
      revokedToken: r['access_token'],
    });
  });
});
