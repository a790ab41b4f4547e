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
const slack = () => {
  const d = vendor(sim, 'slack');
  const client = d.clients[0]!;
  return { d, client, auth: basic(client.clientId, client.clientSecret) };
};
/** `oauth.v2.access` as a client calls it: a form body, the client by HTTP Basic. */
const access = (fields: Record<string, string>, auth = slack().auth) => {
  const f = form(fields);
  return post(slack().d.endpoints.token, f.body, { ...f.headers, authorization: auth });
};
const install = async (extra: Record<string, string>) =>
  access({ code: await code(sim, 'slack', {}, extra), redirect_uri: CB });
/** A Web API method with a bearer token. */
const method = (name: string, token: string, fields: Record<string, string> = {}) => {
  const f = form(fields);
  return post(`${slack().d.endpoints.apiBase}${name}`, f.body, {
    ...f.headers,
    authorization: `Bearer ${token}`,
  });
};

describe('Slack persona', () => {
  it('publishes its endpoints, scopes and the token rotation switch', () => {
    const { d } = slack();
    expect(d.endpoints).toEqual({
      authorize: `${sim.url}/slack/oauth/v2/authorize`,
      token: `${sim.url}/slack/api/oauth.v2.access`,
      revoke: `${sim.url}/slack/api/auth.revoke`,
      apiBase: `${sim.url}/slack/api/`,
    });
    expect(d.identityPath).toBe('auth.test');
    expect(d.switches).toEqual({ tokenRotation: true });
    expect(d.scopes).toEqual(expect.arrayContaining(['chat:write', 'search:read']));
  });

  it('authorizes without response_type, and needs scope or user_scope', async () => {
    const { d, client } = slack();
    const base = `${d.endpoints.authorize}?client_id=${client.clientId}&redirect_uri=${encodeURIComponent(CB)}&state=s`;
    const good = new URL((await get(`${base}&scope=chat:write`)).headers.get('location') as string);
    expect(good.searchParams.get('code')).toBeTruthy();
    const none = new URL((await get(base)).headers.get('location') as string);
    expect(none.searchParams.get('error')).toBe('invalid_scope');
  });

  it('with rotation: bot token at the top, user token under authed_user, 12 h tokens, single-use refresh tokens', async () => {
    const t = await install({ scope: 'chat:write,channels:read', user_scope: 'search:read' });
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({
      ok: true,
      token_type: 'bot',
      scope: 'chat:write,channels:read',
      expires_in: 43200,
      bot_user_id: expect.any(String),
      app_id: expect.any(String),
      team: { id: expect.any(String), name: expect.any(String) },
      authed_user: {
        id: expect.any(String),
        scope: 'search:read',
        token_type: 'user',
        expires_in: 43200,
      },
    });
    const bot = t.json as Record<string, string>;
    const user = t.json?.['authed_user'] as Record<string, string>;
    expect(bot['access_token']).toMatch(/^xoxe\.xoxb-/);
    expect(bot['refresh_token']).toMatch(/^xoxe-1-/);
    expect(user['access_token']).toMatch(/^xoxe\.xoxp-/);
    expect(user['refresh_token']).toMatch(/^xoxe-1-/);

    expect((await method('auth.test', bot['access_token'] as string)).json).toMatchObject({
      ok: true,
      user_id: bot['bot_user_id'],
      bot_id: expect.any(String),
    });
    expect((await method('auth.test', user['access_token'] as string)).json).toMatchObject({
      ok: true,
      user_id: user['id'],
    });

    const r = await access({ grant_type: 'refresh_token', refresh_token: bot['refresh_token'] as string });
    expect(r.json).toMatchObject({ ok: true, token_type: 'bot', expires_in: 43200 });
    expect(r.json?.['refresh_token']).not.toBe(bot['refresh_token']);
    const again = await access({
      grant_type: 'refresh_token',
      refresh_token: bot['refresh_token'] as string,
    });
    expect([again.status, again.json]).toEqual([200, { ok: false, error: 'invalid_refresh_token' }]);

    const ru = await access({ grant_type: 'refresh_token', refresh_token: user['refresh_token'] as string });
    expect(ru.json).toMatchObject({ ok: true, token_type: 'user', user_id: user['id'] });
    expect((await method('auth.test', ru.json?.['access_token'] as string)).json).toMatchObject({ ok: true });
  });

  it('answers an expired token with 200 ok:false token_expired, and a refresh brings it back', async () => {
    const t = (await install({ scope: 'chat:write' })).json as Record<string, string>;
    sim.clock.advance(12 * HOUR + 1000);
    const expired = await method('auth.test', t['access_token'] as string);
    expect([expired.status, expired.json]).toEqual([200, { ok: false, error: 'token_expired' }]);
    const r = (await access({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string }))
      .json as Record<string, string>;
    expect((await method('auth.test', r['access_token'] as string)).json).toMatchObject({ ok: true });
    const log = sim.tokenLog().filter((e) => e.vendor === 'slack' && e.endpoint === 'api');
    expect(log.at(-2)).toMatchObject({ accessToken: t['access_token'], accepted: false, status: 200 });
    expect(log.at(-1)).toMatchObject({ accessToken: r['access_token'], accepted: true });
  });

  it('without rotation: tokens that never expire and no refresh token', async () => {
    sim.setSwitch('slack', 'tokenRotation', false);
    try {
      const t = await install({ scope: 'chat:write', user_scope: 'users:read' });
      expect(t.json).toMatchObject({ ok: true, token_type: 'bot' });
      expect(t.json?.['access_token']).toMatch(/^xoxb-/);
      expect(t.json).not.toHaveProperty('refresh_token');
      expect(t.json).not.toHaveProperty('expires_in');
      const user = t.json?.['authed_user'] as Record<string, unknown>;
      expect(user['access_token']).toMatch(/^xoxp-/);
      expect(user).not.toHaveProperty('refresh_token');
      sim.clock.advance(400 * 24 * HOUR);
      expect((await method('auth.test', t.json?.['access_token'] as string)).json).toMatchObject({
        ok: true,
      });
      expect(sim.discovery().vendors.slack.switches).toEqual({ tokenRotation: false });
    } finally {
      sim.setSwitch('slack', 'tokenRotation', true);
    }
  });

  it('answers every token endpoint error with 200 and ok:false', async () => {
    const { client } = slack();
    const c = await code(sim, 'slack', {}, { scope: 'chat:write' });
    const cases: [Promise<Awaited<ReturnType<typeof access>>>, string][] = [
      [access({ code: c, redirect_uri: CB }, basic(client.clientId, 'wrong')), 'bad_client_secret'],
      [access({ code: c, redirect_uri: CB }, basic('1.2', client.clientSecret)), 'invalid_client_id'],
      [access({ code: c, redirect_uri: 'http://127.0.0.1:9/other' }), 'bad_redirect_uri'],
      [access({ code: 'nope', redirect_uri: CB }), 'invalid_code'],
      [access({ grant_type: 'password' }), 'invalid_grant_type'],
      [access({ grant_type: 'refresh_token', refresh_token: 'xoxe-1-nope' }), 'invalid_refresh_token'],
    ];
    for (const [pending, error] of cases) {
      const res = await pending;
      expect([res.status, res.json]).toEqual([200, { ok: false, error }]);
    }
    // The code survived the attempts that failed before reading it; its redirect mismatch spent it.
    expect((await access({ code: c, redirect_uri: CB })).json).toEqual({ ok: false, error: 'invalid_code' });
  });

  it('takes the client in the body too, and the Web API errors are 200 as well', async () => {
    const { client, d } = slack();
    const f = form({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      code: await code(sim, 'slack', {}, { scope: 'chat:write' }),
    });
    expect((await post(d.endpoints.token, f.body, f.headers)).json).toMatchObject({ ok: true });
    const none = await post(`${d.endpoints.apiBase}auth.test`, '', {});
    expect([none.status, none.json]).toEqual([200, { ok: false, error: 'not_authed' }]);
    expect((await method('auth.test', 'xoxb-not-a-token')).json).toEqual({
      ok: false,
      error: 'invalid_auth',
    });
    const t = (await install({ scope: 'chat:write' })).json?.['access_token'] as string;
    expect((await method('chat.nothing', t)).json).toEqual({ ok: false, error: 'unknown_method' });
    expect((await get(`${d.endpoints.apiBase}auth.test?token=${t}`)).json).toMatchObject({ ok: true });
  });

  it('revokes with auth.revoke (test=1 only pretends): the token and its refresh token die', async () => {
    const t = (await install({ scope: 'chat:write' })).json as Record<string, string>;
    const token = t['access_token'] as string;
    expect((await method('auth.revoke', token, { test: '1' })).json).toEqual({ ok: true, revoked: false });
    expect((await method('auth.test', token)).json).toMatchObject({ ok: true });
    expect((await method('auth.revoke', token)).json).toEqual({ ok: true, revoked: true });
    expect((await method('auth.test', token)).json).toEqual({ ok: false, error: 'token_revoked' });
    expect(
      (await access({ grant_type: 'refresh_token', refresh_token: t['refresh_token'] as string })).json,
    ).toEqual({ ok: false, error: 'invalid_refresh_token' });
    expect(
      sim
        .tokenLog()
        .filter((e) => e.endpoint === 'revoke')
        .at(-1),
    ).toMatchObject({
      vendor: 'slack',
      revokedToken: token,
    });
    expect(sim.tokenStatus(t['refresh_token'] as string)).toBe('revoked');
  });

  it('turns the switch from the admin API and at start, and refuses a bad value', async () => {
    const bad = await post(
      `${sim.url}/_sim/switch`,
      JSON.stringify({ vendor: 'slack', name: 'tokenRotation', value: 'no' }),
      {
        'content-type': 'application/json',
      },
    );
    expect(bad.status).toBe(400);
    expect(() => sim.setSwitch('slack', 'nope', true)).toThrow(/tokenRotation/);
    const set = await post(
      `${sim.url}/_sim/switch`,
      JSON.stringify({ vendor: 'slack', name: 'tokenRotation', value: false }),
      { 'content-type': 'application/json' },
    );
    expect(set.status).toBe(200);
    expect(sim.discovery().vendors.slack.switches).toEqual({ tokenRotation: false });
    sim.setSwitch('slack', 'tokenRotation', true);
    const other = await startSimulator({ switches: { slack: { tokenRotation: false } } });
    try {
      expect(other.discovery().vendors.slack.switches).toEqual({ tokenRotation: false });
    } finally {
      await other.close();
    }
    await expect(startSimulator({ switches: { slack: { tokenRotation: 1 } } })).rejects.toThrow(RangeError);
  });
});
