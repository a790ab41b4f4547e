import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, get, url, vendor } from './helpers.js';
import { codeOf, consent, DAY, HOUR, tokenRequest } from './persona-flow.js';

/** The Microsoft Entra ID persona: tenants in the path, scope on every refresh, old refresh tokens left alive, AADSTS errors. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'microsoft');
const client = () => d().clients[0]!;
const SCOPE = 'openid offline_access User.Read';
const tokenUrl = (tenant: string) => url(d().endpoints.token, { tenant });

async function connect(tenant = 'common', account = 'adele@contoso.example', scope = SCOPE) {
  const c = codeOf(await consent(sim, 'microsoft', { tenant }, { scope, sim_account: account }));
  const res = await tokenRequest(
    tokenUrl(tenant),
    { grant_type: 'authorization_code', code: c, redirect_uri: CB },
    client(),
    'body',
  );
  expect(res.status).toBe(200);
  return res.json as Record<string, unknown>;
}
const refresh = (rt: string, tenant = 'common', scope: string | null = 'User.Read offline_access') =>
  tokenRequest(
    tokenUrl(tenant),
    { grant_type: 'refresh_token', refresh_token: rt, ...(scope ? { scope } : {}) },
    client(),
    'body',
  );
const me = (at: unknown) => get(`${d().endpoints.apiBase}v1.0/me`, { authorization: `Bearer ${String(at)}` });
const codeOfError = (res: { json: Record<string, unknown> | null }) =>
  (res.json?.['error_codes'] as number[] | undefined)?.[0];

describe('Microsoft persona', () => {
  it('connects through /common: 60–90 minute tokens, ext_expires_in, the scope without offline_access; Graph /me', async () => {
    const t = await connect();
    expect(t).toMatchObject({ token_type: 'Bearer', scope: 'openid User.Read' });
    expect(t['expires_in']).toBeGreaterThanOrEqual(3600);
    expect(t['expires_in']).toBeLessThanOrEqual(5400);
    expect(t['ext_expires_in']).toBe(t['expires_in']);
    expect(t['refresh_token']).toBeTruthy();
    expect((await me(t['access_token'])).json).toMatchObject({
      userPrincipalName: 'adele@contoso.example',
      displayName: 'Adele Vance',
    });
    const info = await get(d().endpoints.userinfo as string, {
      authorization: `Bearer ${t['access_token']}`,
    });
    expect(info.json).toMatchObject({ email: 'adele@contoso.example' });
    const dead = await me('nope');
    expect(dead.status).toBe(401);
    expect(dead.json).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
    expect(d().endpoints.revoke).toBeUndefined();
  });

  it('requires scope on a refresh: invalid_request with AADSTS900144 in the documented error shape', async () => {
    const t = await connect();
    const res = await refresh(t['refresh_token'] as string, 'common', null);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(
        /^AADSTS900144: The request body must contain the following parameter: 'scope'\.\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
      ),
      error_codes: [900144],
      timestamp: expect.any(String),
      trace_id: expect.any(String),
      correlation_id: expect.any(String),
      error_uri: 'https://login.microsoftonline.com/error?code=900144',
    });
  });

  it('answers a new refresh token on every refresh and leaves the old one working', async () => {
    const rt0 = (await connect())['refresh_token'] as string;
    const r1 = await refresh(rt0);
    const rt1 = r1.json?.['refresh_token'] as string;
    expect(rt1).not.toBe(rt0);
    const again = await refresh(rt0);
    expect(again.status).toBe(200);
    expect((await refresh(rt1)).status).toBe(200);
    expect((await me(again.json?.['access_token'])).status).toBe(200);
  });

  it('lets each refresh token die 90 days after it was issued', async () => {
    const rt0 = (await connect())['refresh_token'] as string;
    sim.clock.advance(80 * DAY);
    const rt1 = (await refresh(rt0)).json?.['refresh_token'] as string;
    sim.clock.advance(11 * DAY);
    const old = await refresh(rt0);
    expect(old.json).toMatchObject({ error: 'invalid_grant' });
    expect(codeOfError(old)).toBe(700082);
    expect((await refresh(rt1)).status).toBe(200);
  });

  it('gives single-page-app registrations a fixed 24-hour refresh token chain (the spa switch)', async () => {
    sim.setSwitch('microsoft', 'spa', true);
    try {
      const rt0 = (await connect())['refresh_token'] as string;
      sim.clock.advance(23 * HOUR);
      const rt1 = (await refresh(rt0)).json?.['refresh_token'] as string;
      expect(rt1).toBeTruthy();
      sim.clock.advance(2 * HOUR);
      const late = await refresh(rt1);
      expect(late.json).toMatchObject({ error: 'invalid_grant' });
      expect(codeOfError(late)).toBe(700084);
    } finally {
      sim.setSwitch('microsoft', 'spa', false);
    }
  });

  it('routes by tenant: consumers signs in personal accounts, a tenant id its own users, organizations no personal ones', async () => {
    const personal = await connect('consumers', 'adele@contoso.example');
    // Only personal accounts sign in through /consumers: the consent fell to one.
    expect((await me(personal['access_token'])).json).toMatchObject({
      userPrincipalName: 'alex@outlook.example',
    });
    const wrongTenant = await refresh(personal['refresh_token'] as string, 'organizations');
    expect(codeOfError(wrongTenant)).toBe(50020);
    expect((await refresh(personal['refresh_token'] as string, 'consumers')).status).toBe(200);
    const tenants = d().params['tenant'] as string[];
    const fabrikam = tenants[4] as string;
    const own = await connect(fabrikam, 'megan@fabrikam.example');
    expect((await me(own['access_token'])).json).toMatchObject({
      userPrincipalName: 'megan@fabrikam.example',
    });
    // A code from /common may be redeemed at the user's own tenant.
    const c = codeOf(
      await consent(
        sim,
        'microsoft',
        { tenant: 'common' },
        { scope: SCOPE, sim_account: 'megan@fabrikam.example' },
      ),
    );
    const atHome = await tokenRequest(
      tokenUrl(fabrikam),
      { grant_type: 'authorization_code', code: c, redirect_uri: CB },
      client(),
      'basic',
    );
    expect(atHome.status).toBe(200);
    const unknown = await refresh('x', '00000000-0000-0000-0000-000000000000');
    expect(codeOfError(unknown)).toBe(90002);
  });

  it('gives no refresh token without offline_access, and answers AADSTS errors for a bad secret or a reused code', async () => {
    expect(
      (await connect('common', 'adele@contoso.example', 'openid User.Read'))['refresh_token'],
    ).toBeUndefined();
    const c = codeOf(await consent(sim, 'microsoft', { tenant: 'common' }, { scope: SCOPE }));
    const fields = { grant_type: 'authorization_code', code: c, redirect_uri: CB };
    const badSecret = await tokenRequest(
      tokenUrl('common'),
      fields,
      { ...client(), clientSecret: 'nope' },
      'body',
    );
    expect(badSecret.status).toBe(401);
    expect(codeOfError(badSecret)).toBe(7000215);
    expect((await tokenRequest(tokenUrl('common'), fields, client(), 'body')).status).toBe(200);
    const reused = await tokenRequest(tokenUrl('common'), fields, client(), 'body');
    expect(reused.json).toMatchObject({ error: 'invalid_grant' });
    expect(codeOfError(reused)).toBe(54005);
  });
});
