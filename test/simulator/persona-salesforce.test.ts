import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, form, get, post, url, vendor } from './helpers.js';
import { codeOf, consent, MINUTE, tokenRequest } from './persona-flow.js';

/** The Salesforce persona: no expires_in, instance_url per org, sessions that time out, optional rotation. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'salesforce');
const clientOf = (environment: string) => d().clients.find((c) => c.params['environment'] === environment)!;
const tokenUrl = (environment: string) => url(d().endpoints.token, { environment });
const INVALID_SESSION = [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }];

async function connect(environment = 'production', scope = 'api refresh_token id') {
  const c = codeOf(await consent(sim, 'salesforce', { environment }, { scope }, clientOf(environment)));
  const res = await tokenRequest(
    tokenUrl(environment),
    { grant_type: 'authorization_code', code: c, redirect_uri: CB },
    clientOf(environment),
    'body',
  );
  expect(res.status).toBe(200);
  return res.json as Record<string, string>;
}
const refresh = (rt: string, environment = 'production') =>
  tokenRequest(
    tokenUrl(environment),
    { grant_type: 'refresh_token', refresh_token: rt },
    clientOf(environment),
    'body',
  );
const data = (t: Record<string, string>, path: string, scheme = 'Bearer') =>
  get(`${t['instance_url']}/services/data/v62.0/${path}`, {
    authorization: `${scheme} ${t['access_token']}`,
  });

describe('Salesforce persona', () => {
  it('answers instance_url, id, issued_at and signature, and no expires_in; the REST API lives under instance_url', async () => {
    const t = await connect();
    expect(Object.keys(t).sort()).toEqual(
      [
        'access_token',
        'id',
        'instance_url',
        'issued_at',
        'refresh_token',
        'scope',
        'signature',
        'token_type',
      ].sort(),
    );
    expect(t['instance_url']).toBe(`${sim.url}/salesforce/instances/acme`);
    expect(t['id']).toMatch(new RegExp(`^${sim.url}/salesforce/production/id/00D\\w+/005\\w+$`));
    expect(Number(t['issued_at'])).toBeGreaterThan(0);
    const signature = createHmac('sha256', clientOf('production').clientSecret)
      .update(`${t['id']}${t['issued_at']}`)
      .digest('base64');
    expect(t['signature']).toBe(signature);
    expect((await data(t, 'sobjects')).json).toMatchObject({ sobjects: [{ name: 'Account' }] });
    expect((await data(t, 'limits', 'OAuth')).status).toBe(200);
    const who = await get(`${t['instance_url']}/services/oauth2/userinfo`, {
      authorization: `Bearer ${t['access_token']}`,
    });
    expect(who.json).toMatchObject({ sub: t['id'], preferred_username: 'admin@acme.example' });
  });

  it('ends a session after two idle hours: 401 with INVALID_SESSION_ID; each use extends it', async () => {
    const busy = await connect();
    const idle = await connect();
    sim.clock.advance(100 * MINUTE);
    expect((await data(busy, 'sobjects')).status).toBe(200);
    sim.clock.advance(100 * MINUTE);
    expect((await data(busy, 'sobjects')).status).toBe(200);
    const expired = await data(idle, 'sobjects');
    expect(expired.status).toBe(401);
    expect(expired.json).toEqual(INVALID_SESSION);
    // A refresh answers a new session and, by default, no refresh token: the old one stays.
    const r = await refresh(idle['refresh_token'] as string);
    expect(r.json?.['refresh_token']).toBeUndefined();
    expect(r.json?.['expires_in']).toBeUndefined();
    expect((await data(r.json as Record<string, string>, 'sobjects')).status).toBe(200);
    expect((await refresh(idle['refresh_token'] as string)).status).toBe(200);
  });

  it('follows the sessionTimeoutMinutes switch', async () => {
    sim.setSwitch('salesforce', 'sessionTimeoutMinutes', 15);
    try {
      const t = await connect();
      sim.clock.advance(16 * MINUTE);
      expect((await data(t, 'sobjects')).json).toEqual(INVALID_SESSION);
    } finally {
      sim.setSwitch('salesforce', 'sessionTimeoutMinutes', 120);
    }
  });

  it('rotates refresh tokens when the connected app says so (the rotation switch, over the admin API)', async () => {
    const t = await connect();
    const on = await post(
      `${sim.url}/_sim/switch`,
      JSON.stringify({ vendor: 'salesforce', name: 'rotation', value: true }),
      {
        'content-type': 'application/json',
      },
    );
    expect(on.status).toBe(200);
    try {
      const r = await refresh(t['refresh_token'] as string);
      const rt1 = r.json?.['refresh_token'] as string;
      expect(rt1).toBeTruthy();
      expect(rt1).not.toBe(t['refresh_token']);
      const old = await refresh(t['refresh_token'] as string);
      expect(old.status).toBe(400);
      expect(old.json).toEqual({ error: 'invalid_grant', error_description: 'expired access/refresh token' });
      expect((await refresh(rt1)).status).toBe(200);
    } finally {
      sim.setSwitch('salesforce', 'rotation', false);
    }
    const bad = await post(
      `${sim.url}/_sim/switch`,
      JSON.stringify({ vendor: 'salesforce', name: 'rotation', value: 'yes' }),
      {
        'content-type': 'application/json',
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.json?.['message']).toMatch(/true or false/);
    expect(() => sim.setSwitch('salesforce', 'nope', 1)).toThrow(/rotation, sessionTimeoutMinutes/);
  });

  it('keeps production (login) and sandbox (test) apart, each org on its own instance', async () => {
    const sandbox = await connect('sandbox');
    expect(sandbox['instance_url']).toBe(`${sim.url}/salesforce/instances/acme--dev`);
    expect((await data(sandbox, 'sobjects')).status).toBe(200);
    const prod = await connect('production');
    const elsewhere = await get(`${sandbox['instance_url']}/services/data/v62.0/sobjects`, {
      authorization: `Bearer ${prod['access_token']}`,
    });
    expect(elsewhere.json).toEqual(INVALID_SESSION);
    const wrongKey = await tokenRequest(
      tokenUrl('sandbox'),
      { grant_type: 'refresh_token', refresh_token: sandbox['refresh_token'] as string },
      clientOf('production'),
      'body',
    );
    expect(wrongKey.json).toEqual({
      error: 'invalid_client_id',
      error_description: 'client identifier invalid',
    });
  });

  it('gives a refresh token only for the refresh_token or offline_access scope', async () => {
    expect((await connect('production', 'api id'))['refresh_token']).toBeUndefined();
    expect((await connect('production', 'api offline_access'))['refresh_token']).toBeTruthy();
  });

  it('revokes a refresh token with its sessions, or one access token', async () => {
    const revokeUrl = url(d().endpoints.revoke as string, { environment: 'production' });
    const t = await connect();
    const f = form({ token: t['refresh_token'] as string });
    expect((await post(revokeUrl, f.body, f.headers)).status).toBe(200);
    expect((await refresh(t['refresh_token'] as string)).status).toBe(400);
    expect((await data(t, 'sobjects')).json).toEqual(INVALID_SESSION);
    const u = await connect();
    const g = form({ token: u['access_token'] as string });
    expect((await post(revokeUrl, g.body, g.headers)).status).toBe(200);
    expect((await data(u, 'sobjects')).status).toBe(401);
    expect((await refresh(u['refresh_token'] as string)).status).toBe(200);
    const unknown = form({ token: 'nope' });
    expect((await post(revokeUrl, unknown.body, unknown.headers)).json).toMatchObject({
      error: 'unsupported_token_type',
    });
  });
});
