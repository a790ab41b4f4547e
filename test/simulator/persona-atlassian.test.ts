import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, get, vendor } from './helpers.js';
import { codeOf, consent, DAY, MINUTE, tokenRequest } from './persona-flow.js';

/** The Atlassian persona: audience and prompt on authorize, cloud ids, rotation with a 10-minute leeway and family revocation. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'atlassian');
const SCOPE = 'read:jira-work read:jira-user offline_access';
const AUTHORIZE = { audience: 'api.atlassian.com', prompt: 'consent' };

async function connect(scope = SCOPE, account = 'alice') {
  const c = codeOf(await consent(sim, 'atlassian', {}, { ...AUTHORIZE, scope, sim_account: account }));
  const res = await tokenRequest(
    d().endpoints.token,
    { grant_type: 'authorization_code', code: c, redirect_uri: CB },
    d().clients[0]!,
    'json',
  );
  expect(res.status).toBe(200);
  return res.json as Record<string, string>;
}
const refresh = (rt: string) =>
  tokenRequest(
    d().endpoints.token,
    { grant_type: 'refresh_token', refresh_token: rt },
    d().clients[0]!,
    'json',
  );
const call = (at: string, path: string) =>
  get(`${d().endpoints.apiBase}${path}`, { authorization: `Bearer ${at}` });
const INVALID = { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' };

describe('Atlassian persona', () => {
  it('requires audience=api.atlassian.com and prompt=consent on authorize', async () => {
    const noAudience = await consent(sim, 'atlassian', {}, { prompt: 'consent', scope: SCOPE });
    expect(noAudience.searchParams.get('error')).toBe('invalid_request');
    const noPrompt = await consent(sim, 'atlassian', {}, { audience: 'api.atlassian.com', scope: SCOPE });
    expect(noPrompt.searchParams.get('error')).toBe('invalid_request');
    expect(codeOf(await consent(sim, 'atlassian', {}, { ...AUTHORIZE, scope: SCOPE }))).toBeTruthy();
  });

  it('connects: JSON token request → cloud id from accessible-resources → /ex/jira/{cloudid}/ → refresh', async () => {
    const t = await connect();
    expect(t).toMatchObject({ expires_in: 3600, token_type: 'Bearer', scope: SCOPE });
    const sites = (await call(t['access_token'] as string, 'oauth/token/accessible-resources'))
      .json as unknown as {
      id: string;
      url: string;
      name: string;
      scopes: string[];
    }[];
    expect(sites.map((s) => s.url)).toEqual([
      'https://acme.atlassian.net',
      'https://acme-labs.atlassian.net',
    ]);
    expect(sites[0]?.scopes).toEqual(['read:jira-work', 'read:jira-user']);
    expect(sites[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    const me = await call(t['access_token'] as string, `ex/jira/${sites[0]?.id}/rest/api/3/myself`);
    expect(me.json).toMatchObject({ emailAddress: 'alice@example.com', active: true });
    const bobSite = (
      (
        await call(
          (
            await connect(SCOPE, 'bob')
          )['access_token'] as string,
          'oauth/token/accessible-resources',
        )
      ).json as unknown as { id: string }[]
    )[0]?.id;
    expect((await call(t['access_token'] as string, `ex/jira/${bobSite}/rest/api/3/myself`)).status).toBe(
      404,
    );
    const r = await refresh(t['refresh_token'] as string);
    expect(r.status).toBe(200);
    expect(r.json?.['refresh_token']).not.toBe(t['refresh_token']);
  });

  it('gives a refresh token only with offline_access, and refuses calls outside the granted scopes', async () => {
    const t = await connect('read:jira-work');
    expect(t['refresh_token']).toBeUndefined();
    const site = (
      (await call(t['access_token'] as string, 'oauth/token/accessible-resources')).json as unknown as {
        id: string;
      }[]
    )[0]?.id;
    const me = await call(t['access_token'] as string, `ex/jira/${site}/rest/api/3/myself`);
    expect(me.status).toBe(401);
    expect(me.json).toEqual({ code: 401, message: 'Unauthorized; scope does not match' });
    expect(
      (await call(t['access_token'] as string, `ex/jira/${site}/rest/api/3/project/search`)).status,
    ).toBe(200);
  });

  it('honours a replaced refresh token and its access token for the 10-minute leeway', async () => {
    const t = await connect();
    const rt0 = t['refresh_token'] as string;
    const at0 = t['access_token'] as string;
    const rt1 = (await refresh(rt0)).json?.['refresh_token'] as string;
    sim.clock.advance(9 * MINUTE);
    expect((await call(at0, 'oauth/token/accessible-resources')).status).toBe(200);
    const retry = await refresh(rt0);
    expect(retry.status).toBe(200);
    expect(retry.json?.['refresh_token']).not.toBe(rt1);
    sim.clock.advance(2 * MINUTE);
    expect((await call(at0, 'oauth/token/accessible-resources')).status).toBe(401);
  });

  it('revokes every refresh token of the grant when a replaced one is reused after the leeway', async () => {
    const t = await connect();
    const rt0 = t['refresh_token'] as string;
    const first = await refresh(rt0);
    const rt1 = first.json?.['refresh_token'] as string;
    const rt2 = (await refresh(rt1)).json?.['refresh_token'] as string;
    const info = sim.tokenInfo(rt2);
    const grantId = info.kind === 'refresh' ? info.grantId : '';
    sim.clock.advance(11 * MINUTE);
    const reuse = await refresh(rt0);
    expect(reuse.status).toBe(403);
    expect(reuse.json).toEqual(INVALID);
    // The family is gone: the newest token, never reused, is refused too.
    expect((await refresh(rt2)).json).toEqual(INVALID);
    expect(sim.grantStatus(grantId)?.revoked).toBe(true);
    expect(sim.tokenStatus(rt2)).toBe('revoked');
  });

  it('lets a refresh token die after 90 idle days, and every one 365 days after consent', async () => {
    const idle = (await connect())['refresh_token'] as string;
    let rt = (await connect())['refresh_token'] as string;
    for (let i = 0; i < 4; i++) {
      sim.clock.advance(80 * DAY);
      const res = await refresh(rt);
      expect(res.status).toBe(200);
      rt = res.json?.['refresh_token'] as string;
    }
    expect((await refresh(idle)).json).toEqual(INVALID);
    // Day 320: the newest token was issued today, but the grant is 366 days old on day 366.
    sim.clock.advance(46 * DAY);
    const late = await refresh(rt);
    expect(late.status).toBe(403);
    expect(sim.tokenStatus(rt)).toBe('expired');
  });

  it('publishes accessibleResources and no revocation endpoint', () => {
    expect(d().endpoints).toEqual({
      authorize: `${sim.url}/atlassian/auth/authorize`,
      token: `${sim.url}/atlassian/auth/oauth/token`,
      apiBase: `${sim.url}/atlassian/api/`,
      accessibleResources: `${sim.url}/atlassian/api/oauth/token/accessible-resources`,
    });
  });
});
