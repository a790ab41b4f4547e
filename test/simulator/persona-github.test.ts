import { createHash } from 'node:crypto';
import { fetch } from 'undici';
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
const gh = () => {
  const d = vendor(sim, 'github');
  return { d, client: d.clients[0]! };
};
/** The token endpoint as a client calls it, asking for JSON unless told otherwise. */
const token = (fields: Record<string, string>, accept: string | null = 'application/json') => {
  const { d, client } = gh();
  const f = form({ client_id: client.clientId, client_secret: client.clientSecret, ...fields });
  return post(d.endpoints.token, f.body, { ...f.headers, ...(accept ? { accept } : {}) });
};
const exchange = async (extra: Record<string, string> = {}, verifier?: string) =>
  token({
    code: await code(sim, 'github', {}, extra),
    redirect_uri: CB,
    ...(verifier ? { code_verifier: verifier } : {}),
  });
const user = (t: string, scheme = 'Bearer') =>
  get(`${gh().d.endpoints.apiBase}user`, { authorization: `${scheme} ${t}` });
const removal = (what: 'grant' | 'token', accessToken: string, auth?: string) => {
  const { d, client } = gh();
  return fetch(`${d.endpoints.apiBase}applications/${client.clientId}/${what}`, {
    method: 'DELETE',
    headers: {
      'content-type': 'application/json',
      authorization: auth ?? basic(client.clientId, client.clientSecret),
    },
    body: JSON.stringify({ access_token: accessToken }),
  });
};

describe('GitHub persona', () => {
  it('publishes its endpoints and the expiring-tokens switch', () => {
    const { d, client } = gh();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/github/login/oauth/authorize`,
      token: `${sim.url}/github/login/oauth/access_token`,
      revoke: `${sim.url}/github/api/applications/${client.clientId}/grant`,
      apiBase: `${sim.url}/github/api/`,
    });
    expect(d.identityPath).toBe('user');
    expect(d.switches).toEqual({ expiringTokens: true });
  });

  it('authorizes without response_type; code → 8 h ghu_ token and 6-month ghr_ refresh token → GET /user', async () => {
    const { d, client } = gh();
    const auth = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&redirect_uri=${encodeURIComponent(CB)}&state=s`,
    );
    const c = new URL(auth.headers.get('location') as string).searchParams.get('code') as string;
    const t = await token({ code: c, redirect_uri: CB });
    expect(t.status).toBe(200);
    expect(t.json).toEqual({
      access_token: expect.stringMatching(/^ghu_/),
      expires_in: 28800,
      refresh_token: expect.stringMatching(/^ghr_/),
      refresh_token_expires_in: 15897600,
      scope: '',
      token_type: 'bearer',
    });
    const me = await user(t.json?.['access_token'] as string);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ login: 'octocat', type: 'User', id: expect.any(Number) });
    expect((await user(t.json?.['access_token'] as string, 'token')).status).toBe(200);
  });

  it('answers form-encoded unless Accept asks for JSON', async () => {
    const t = await token({ code: await code(sim, 'github', {}), redirect_uri: CB }, null);
    expect(t.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    const fields = new URLSearchParams(t.text);
    expect(fields.get('access_token')).toMatch(/^ghu_/);
    expect(fields.get('expires_in')).toBe('28800');
    expect(fields.get('token_type')).toBe('bearer');
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'token')
        .at(-1),
    ).toMatchObject({
      vendor: 'github',
      issuedAccessToken: fields.get('access_token'),
      issuedRefreshToken: fields.get('refresh_token'),
    });
  });

  it('replaces both tokens on refresh: the old refresh token and the old access token die', async () => {
    const t = (await exchange()).json as Record<string, string>;
    const r = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    expect(r.json).toMatchObject({ expires_in: 28800, refresh_token_expires_in: 15897600 });
    expect(r.json?.['refresh_token']).not.toBe(t['refresh_token']);
    expect((await user(t['access_token'] as string)).status).toBe(401);
    expect((await user(r.json?.['access_token'] as string)).status).toBe(200);
    const again = await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({
      error: 'bad_refresh_token',
      error_description: expect.any(String),
      error_uri: expect.stringContaining('docs.github.com'),
    });
    expect(sim.tokenStatus(t['refresh_token'] as string)).toBe('rotated');
  });

  it('expires access tokens after 8 hours and refresh tokens after 6 months', async () => {
    const t = (await exchange()).json as Record<string, string>;
    sim.clock.advance(8 * HOUR + 1000);
    const bad = await user(t['access_token'] as string);
    expect([bad.status, bad.json]).toEqual([401, expect.objectContaining({ message: 'Bad credentials' })]);
    const r = (await token({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string }))
      .json as Record<string, string>;
    expect((await user(r['access_token'] as string)).status).toBe(200);
    sim.clock.advance(15897600 * 1000 + 1000);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: r['refresh_token'] as string })).json,
    ).toMatchObject({ error: 'bad_refresh_token' });
  });

  it('puts every token endpoint error inside a 200 answer', async () => {
    const c = await code(sim, 'github', {});
    const wrong = await token({ code: c, client_secret: 'nope' });
    expect([wrong.status, wrong.json?.['error']]).toEqual([200, 'incorrect_client_credentials']);
    const mismatch = await token({ code: c, redirect_uri: 'http://127.0.0.1:9/elsewhere' });
    expect([mismatch.status, mismatch.json?.['error']]).toEqual([200, 'redirect_uri_mismatch']);
    expect((await token({ code: c, redirect_uri: CB })).json).toMatchObject({
      access_token: expect.any(String),
    });
    const used = await token({ code: c, redirect_uri: CB });
    expect([used.status, used.json?.['error']]).toEqual([200, 'bad_verification_code']);
    const asForm = await token({ code: 'nope' }, null);
    expect(asForm.status).toBe(200);
    expect(new URLSearchParams(asForm.text).get('error')).toBe('bad_verification_code');
    expect((await token({ grant_type: 'password' })).json?.['error']).toBe('unsupported_grant_type');
    // HTTP Basic is not the documented client authentication here.
    const { d, client } = gh();
    const f = form({ code: await code(sim, 'github', {}), redirect_uri: CB });
    const viaBasic = await post(d.endpoints.token, f.body, {
      ...f.headers,
      accept: 'application/json',
      authorization: basic(client.clientId, client.clientSecret),
    });
    expect(viaBasic.json?.['error']).toBe('incorrect_client_credentials');
  });

  it('verifies PKCE, S256 only', async () => {
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const s256 = { code_challenge: challenge, code_challenge_method: 'S256' };
    expect((await exchange(s256, verifier)).json).toMatchObject({ access_token: expect.any(String) });
    expect((await exchange(s256, 'w'.repeat(50))).json?.['error']).toBe('bad_verification_code');
    const { d, client } = gh();
    const plain = await get(
      `${d.endpoints.authorize}?client_id=${client.clientId}&redirect_uri=${encodeURIComponent(CB)}&code_challenge=abc&code_challenge_method=plain`,
    );
    expect(new URL(plain.headers.get('location') as string).searchParams.get('error')).toBe(
      'invalid_request',
    );
  });

  it('with expiring tokens off: a token that never expires, and no refresh token', async () => {
    sim.setSwitch('github', 'expiringTokens', false);
    try {
      const t = await exchange();
      expect(t.json).toEqual({
        access_token: expect.stringMatching(/^ghu_/),
        scope: '',
        token_type: 'bearer',
      });
      sim.clock.advance(365 * 24 * HOUR);
      expect((await user(t.json?.['access_token'] as string)).status).toBe(200);
    } finally {
      sim.setSwitch('github', 'expiringTokens', true);
    }
  });

  it('revokes a token or the whole grant with DELETE and Basic client credentials', async () => {
    const a = (await exchange()).json as Record<string, string>;
    const b = (await exchange()).json as Record<string, string>;
    const { client } = gh();
    expect(
      (await removal('token', a['access_token'] as string, basic(client.clientId, 'wrong'))).status,
    ).toBe(401);
    expect((await removal('token', a['access_token'] as string)).status).toBe(204);
    expect((await user(a['access_token'] as string)).status).toBe(401);
    expect((await user(b['access_token'] as string)).status).toBe(200);
    expect((await removal('grant', b['access_token'] as string)).status).toBe(204);
    expect((await user(b['access_token'] as string)).status).toBe(401);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: b['refresh_token'] as string })).json?.[
        'error'
      ],
    ).toBe('bad_refresh_token');
    expect((await removal('grant', b['access_token'] as string)).status).toBe(422);
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'revoke')
        .at(-2),
    ).toMatchObject({
      vendor: 'github',
      revokedToken: b['access_token'],
    });
  });
});
