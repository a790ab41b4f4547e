import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, form, get, post, vendor } from './helpers.js';
import { codeOf, consent, DAY, tokenRequest } from './persona-flow.js';

/** The Google persona: offline access and re-consent, Testing-status expiry, idle expiry, a cap on live refresh tokens. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'google');
const client = () => d().clients[0]!;
const SCOPE = 'openid email https://www.googleapis.com/auth/drive.readonly';

async function connect(query: Record<string, string>, account = 'alice', verifier?: string) {
  const c = codeOf(await consent(sim, 'google', {}, { scope: SCOPE, sim_account: account, ...query }));
  return tokenRequest(
    d().endpoints.token,
    {
      grant_type: 'authorization_code',
      code: c,
      redirect_uri: CB,
      ...(verifier ? { code_verifier: verifier } : {}),
    },
    client(),
    'body',
  );
}
const refresh = (rt: string) =>
  tokenRequest(d().endpoints.token, { grant_type: 'refresh_token', refresh_token: rt }, client(), 'body');
const EXPIRED = { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' };
const OFFLINE = { access_type: 'offline', prompt: 'consent' };

describe('Google persona', () => {
  it('gives a refresh token only for access_type=offline; access tokens live an hour; refreshes do not rotate', async () => {
    const online = await connect({}, 'bob');
    expect(online.json).toEqual({
      access_token: expect.any(String),
      expires_in: 3599,
      scope: SCOPE,
      token_type: 'Bearer',
    });
    const offline = await connect(OFFLINE, 'bob');
    const rt = offline.json?.['refresh_token'] as string;
    expect(rt).toBeTruthy();
    const r = await refresh(rt);
    expect(r.status).toBe(200);
    expect(r.json?.['refresh_token']).toBeUndefined();
    const who = await get(d().endpoints.userinfo as string, {
      authorization: `Bearer ${r.json?.['access_token']}`,
    });
    expect(who.json).toMatchObject({ email: 'bob@example.com', email_verified: true });
    const about = await get(`${d().endpoints.apiBase}drive/v3/about`, {
      authorization: `Bearer ${r.json?.['access_token']}`,
    });
    expect(about.json).toMatchObject({ user: { emailAddress: 'bob@example.com' } });
    const dead = await get(`${d().endpoints.apiBase}oauth2/v3/userinfo`, { authorization: 'Bearer nope' });
    expect(dead.status).toBe(401);
    expect(dead.json).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
    expect(dead.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('on a second consent gives no refresh token unless prompt=consent; the first keeps working', async () => {
    const first = (await connect({ access_type: 'offline' }, 'alice')).json?.['refresh_token'] as string;
    expect(first).toBeTruthy();
    const again = await connect({ access_type: 'offline' }, 'alice');
    expect(again.status).toBe(200);
    expect(again.json?.['refresh_token']).toBeUndefined();
    expect((await refresh(first)).status).toBe(200);
    const forced = (await connect(OFFLINE, 'alice')).json?.['refresh_token'] as string;
    expect(forced).toBeTruthy();
    expect(forced).not.toBe(first);
    expect((await refresh(first)).status).toBe(200);
  });

  it('lets refresh tokens of an app in Testing status die 7 days after issue (the testing switch)', async () => {
    const on = await post(
      `${sim.url}/_sim/switch`,
      JSON.stringify({ vendor: 'google', name: 'testing', value: true }),
      {
        'content-type': 'application/json',
      },
    );
    expect(on.status).toBe(200);
    try {
      expect(sim.discovery().vendors.google.switches).toMatchObject({ testing: true });
      const rt = (await connect(OFFLINE, 'bob')).json?.['refresh_token'] as string;
      sim.clock.advance(6 * DAY);
      expect((await refresh(rt)).status).toBe(200);
      sim.clock.advance(2 * DAY);
      const late = await refresh(rt);
      expect(late.status).toBe(400);
      expect(late.json).toEqual(EXPIRED);
    } finally {
      sim.setSwitch('google', 'testing', false);
    }
  });

  it('lets a refresh token unused for six months die; use keeps it alive', async () => {
    const used = (await connect(OFFLINE, 'bob')).json?.['refresh_token'] as string;
    const idle = (await connect(OFFLINE, 'bob')).json?.['refresh_token'] as string;
    sim.clock.advance(120 * DAY);
    expect((await refresh(used)).status).toBe(200);
    sim.clock.advance(70 * DAY);
    expect((await refresh(idle)).json).toEqual(EXPIRED);
    expect((await refresh(used)).status).toBe(200);
  });

  it('silently invalidates the oldest refresh token past the cap of live ones per account and client', async () => {
    sim.setSwitch('google', 'refreshTokenCap', 3);
    try {
      const rts: string[] = [];
      for (let i = 0; i < 4; i++)
        rts.push((await connect(OFFLINE, 'alice')).json?.['refresh_token'] as string);
      expect((await refresh(rts[0] as string)).json).toEqual(EXPIRED);
      for (const rt of rts.slice(1)) expect((await refresh(rt)).status).toBe(200);
      // Another account has its own count.
      expect((await refresh((await connect(OFFLINE, 'bob')).json?.['refresh_token'] as string)).status).toBe(
        200,
      );
      expect((await refresh(rts[1] as string)).status).toBe(200);
    } finally {
      sim.setSwitch('google', 'refreshTokenCap', 100);
    }
  });

  it('revokes a grant by its access token; an unknown token answers invalid_token', async () => {
    const t = (await connect(OFFLINE, 'bob')).json as Record<string, string>;
    const f = form({ token: t['access_token'] as string });
    expect((await post(d().endpoints.revoke as string, f.body, f.headers)).status).toBe(200);
    expect((await refresh(t['refresh_token'] as string)).json).toEqual(EXPIRED);
    const again = await post(d().endpoints.revoke as string, f.body, f.headers);
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ error: 'invalid_token' });
  });

  it('verifies PKCE, and takes the client by HTTP Basic too', async () => {
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pkce = { code_challenge: challenge, code_challenge_method: 'S256' };
    expect((await connect(pkce, 'bob', verifier)).status).toBe(200);
    expect((await connect(pkce, 'bob', 'w'.repeat(50))).json).toMatchObject({ error: 'invalid_grant' });
    const c = codeOf(await consent(sim, 'google', {}, { scope: SCOPE }));
    const viaBasic = await tokenRequest(
      d().endpoints.token,
      { grant_type: 'authorization_code', code: c, redirect_uri: CB },
      client(),
      'basic',
    );
    expect(viaBasic.status).toBe(200);
    expect(
      (await consent(sim, 'google', {}, { scope: SCOPE, access_type: 'forever' })).searchParams.get('error'),
    ).toBe('invalid_request');
  });
});
