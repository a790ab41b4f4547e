import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { basic, CB, get, post, url, vendor } from './helpers.js';
import { codeOf, consent, DAY, HOUR, tokenRequest } from './persona-flow.js';

/** The QuickBooks (Intuit) persona: realmId on the callback, a refresh-token value that changes daily, 100-day rolling and 5-year hard expiry. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'quickbooks');
const clientOf = (environment: string) => d().clients.find((c) => c.params['environment'] === environment)!;
const ACCOUNTING = 'com.intuit.quickbooks.accounting';
const ROLLING_S = 100 * 24 * 3600;

async function connect(environment = 'sandbox', scope = ACCOUNTING) {
  const callback = await consent(sim, 'quickbooks', {}, { scope }, clientOf(environment));
  const res = await tokenRequest(
    d().endpoints.token,
    { grant_type: 'authorization_code', code: codeOf(callback), redirect_uri: CB },
    clientOf(environment),
    'basic',
  );
  expect(res.status).toBe(200);
  return { callback, token: res.json as Record<string, unknown> };
}
const refresh = (rt: string, environment = 'sandbox') =>
  tokenRequest(
    d().endpoints.token,
    { grant_type: 'refresh_token', refresh_token: rt },
    clientOf(environment),
    'basic',
  );
const companyApi = (environment: string, realmId: string, path: string, at: string) =>
  get(`${url(d().endpoints.apiBase, { environment, realmId })}${path}`, { authorization: `Bearer ${at}` });

describe('QuickBooks persona', () => {
  it('sends realmId on the callback only; the API under /v3/company/{realmId}/ on the environment’s host', async () => {
    const { callback, token } = await connect('sandbox');
    const realmId = callback.searchParams.get('realmId') as string;
    expect(realmId).toMatch(/^\d{16}$/);
    expect(token).toEqual({
      token_type: 'bearer',
      expires_in: 3600,
      refresh_token: expect.any(String),
      x_refresh_token_expires_in: ROLLING_S,
      access_token: expect.any(String),
    });
    expect(JSON.stringify(token)).not.toContain(realmId);
    const at = token['access_token'] as string;
    const info = await companyApi('sandbox', realmId, `companyinfo/${realmId}`, at);
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ CompanyInfo: { Id: realmId } });
    expect((await companyApi('sandbox', realmId, 'preferences', at)).status).toBe(200);
    // A development (sandbox) key's token is unknown to the production host.
    const prod = await companyApi('production', realmId, 'preferences', at);
    expect(prod.status).toBe(401);
    expect(prod.json).toMatchObject({ fault: { type: 'AUTHENTICATION', error: [{ code: '3200' }] } });
    // Another company's realm answers 403.
    const other = await companyApi('sandbox', '1234567890123456', 'preferences', at);
    expect(other.status).toBe(403);
    expect(other.json).toMatchObject({ fault: { type: 'AUTHORIZATION', error: [{ code: '3100' }] } });
    // An OpenID-only consent connects no company.
    expect((await connect('production', 'openid email')).callback.searchParams.has('realmId')).toBe(false);
  });

  it('takes the client only by HTTP Basic', async () => {
    const callback = await consent(sim, 'quickbooks', {}, { scope: ACCOUNTING }, clientOf('production'));
    const inBody = await tokenRequest(
      d().endpoints.token,
      { grant_type: 'authorization_code', code: codeOf(callback), redirect_uri: CB },
      clientOf('production'),
      'body',
    );
    expect(inBody.status).toBe(401);
    expect(inBody.json).toEqual({ error: 'invalid_client' });
  });

  it('answers the same refresh-token value within 24 hours, a new one after; the rolling expiry restarts', async () => {
    const rt0 = (await connect()).token['refresh_token'] as string;
    sim.clock.advance(10 * HOUR);
    const same = await refresh(rt0);
    expect(same.json).toMatchObject({ refresh_token: rt0, x_refresh_token_expires_in: ROLLING_S });
    sim.clock.advance(15 * HOUR);
    const changed = await refresh(rt0);
    const rt1 = changed.json?.['refresh_token'] as string;
    expect(rt1).not.toBe(rt0);
    // The replaced value stops working unless the switch keeps it.
    expect((await refresh(rt0)).json).toEqual({ error: 'invalid_grant' });
    expect((await refresh(rt1)).json?.['refresh_token']).toBe(rt1);
  });

  it('keeps the previous value for previousRefreshTokenUsableHours', async () => {
    sim.setSwitch('quickbooks', 'previousRefreshTokenUsableHours', 24);
    try {
      const rt0 = (await connect()).token['refresh_token'] as string;
      sim.clock.advance(25 * HOUR);
      const rt1 = (await refresh(rt0)).json?.['refresh_token'] as string;
      expect(rt1).not.toBe(rt0);
      sim.clock.advance(23 * HOUR);
      // The previous value still refreshes, and answers the current one.
      expect((await refresh(rt0)).json?.['refresh_token']).toBe(rt1);
      sim.clock.advance(2 * HOUR);
      expect((await refresh(rt0)).json).toEqual({ error: 'invalid_grant' });
      expect(sim.discovery().vendors.quickbooks.switches).toEqual({ previousRefreshTokenUsableHours: 24 });
    } finally {
      sim.setSwitch('quickbooks', 'previousRefreshTokenUsableHours', 0);
    }
  });

  it('lets a refresh token unused for 100 days die', async () => {
    const rt = (await connect()).token['refresh_token'] as string;
    sim.clock.advance(101 * DAY);
    const res = await refresh(rt);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_grant' });
  });

  it('caps the chain five years after consent: x_refresh_token_expires_in shrinks, then invalid_grant', async () => {
    let rt = (await connect()).token['refresh_token'] as string;
    let last = ROLLING_S;
    for (let day = 90; day < 5 * 365; day += 90) {
      sim.clock.advance(90 * DAY);
      const res = await refresh(rt);
      expect(res.status).toBe(200);
      rt = res.json?.['refresh_token'] as string;
      last = res.json?.['x_refresh_token_expires_in'] as number;
    }
    expect(last).toBeLessThan(ROLLING_S);
    expect(last).toBeGreaterThan(0);
    sim.clock.advance(last * 1000 + 1000);
    expect((await refresh(rt)).json).toEqual({ error: 'invalid_grant' });
  });

  it('revokes the grant by either token (JSON body, HTTP Basic)', async () => {
    const { callback, token } = await connect('production');
    const c = clientOf('production');
    const res = await post(d().endpoints.revoke as string, JSON.stringify({ token: token['access_token'] }), {
      'content-type': 'application/json',
      authorization: basic(c.clientId, c.clientSecret),
    });
    expect(res.status).toBe(200);
    expect((await refresh(token['refresh_token'] as string, 'production')).json).toEqual({
      error: 'invalid_grant',
    });
    const realmId = callback.searchParams.get('realmId') as string;
    expect(
      (await companyApi('production', realmId, 'preferences', token['access_token'] as string)).status,
    ).toBe(401);
  });

  it('answers userinfo for an openid consent', async () => {
    const { token } = await connect('sandbox', `${ACCOUNTING} openid email`);
    const u = url(d().endpoints.userinfo as string, { environment: 'sandbox' });
    const res = await get(u, { authorization: `Bearer ${token['access_token']}` });
    expect(res.json).toMatchObject({ email: 'owner@example.com', emailVerified: true });
    const noOpenid = (await connect()).token['access_token'] as string;
    expect((await get(u, { authorization: `Bearer ${noOpenid}` })).status).toBe(401);
  });
});
