import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallerKey } from '../../src/server/keys.js';
import { call } from '../server/helpers.js';
import { type Stage, stage, waitFor } from './harness.js';

/** The pages' defences over plain HTTP: CSP, CSRF, cookie binding, Origin, and the session API's checks. */

let s: Stage;
beforeAll(async () => {
  s = await stage();
}, 30_000);
afterAll(async () => {
  await s?.close();
});

async function get(path: string, cookie?: string) {
  const res = await request(`${s.server.url}${path}`, { headers: cookie ? { cookie } : {} });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await request(`${s.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Opens a session's link like a browser: returns its cookie, page path and CSRF token. */
async function opened(body: Record<string, unknown>) {
  const made = await call(s.server.url, 'POST', '/v1/connect-sessions', s.admin, body);
  expect(made.status, made.text).toBe(201);
  const first = await get(new URL(made.json['url'] as string).pathname);
  expect(first.status).toBe(303);
  const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
  expect(String(first.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Lax/);
  const path = first.headers['location'] as string;
  const page = await get(path, cookie);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] as string;
  return { made: made.json, cookie, path, page, csrf };
}

describe('connect pages over HTTP', () => {
  it('every page has a strict CSP with no script, no referrer, no caching, no framing', async () => {
    const { page } = await opened({ connectionId: 'h-1', providers: ['cronofy'] });
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src/);
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    // The OAuth form may be answered by a redirect to the provider's authorize page, and no further.
    expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:\d+/);
    // same-origin: browsers then send the page's real Origin with its forms (README, "Connect pages").
    expect(page.headers['referrer-policy']).toBe('same-origin');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.text).not.toMatch(/<script|\son[a-z]+=/i);
    const css = await get('/connect/assets/baton.css');
    expect(css.headers['content-type']).toContain('text/css');
    const bad = await get('/connect/cst_not-a-real-token');
    expect(bad.status).toBe(404);
    expect(bad.headers['content-security-policy']).toBeDefined();
  });

  it('a form without the CSRF token, with another one, or from another origin changes nothing', async () => {
    const { made, cookie, path, csrf } = await opened({ connectionId: 'h-2', providers: ['cronofy'] });
    const form = { provider: 'cronofy', mode: 'oauth2', 'param.dataCenter': 'us' };
    for (const [body, headers] of [
      [form, { cookie }],
      [{ ...form, csrf: `${csrf}x` }, { cookie }],
      [
        { ...form, csrf },
        { cookie, origin: 'https://evil.example' },
      ],
      // Origin: null names no site: refused like a foreign origin, even with the right token.
      [
        { ...form, csrf },
        { cookie, origin: 'null' },
      ],
    ] as [Record<string, string>, Record<string, string>][]) {
      const res = await post(path, body, headers);
      expect(res.status).toBe(403);
      expect(res.text).toContain('This form expired');
    }
    const cancel = await post(`${path}/cancel`, {}, { cookie });
    expect(cancel.status).toBe(403);
    const view = await call(s.server.url, 'GET', `/v1/connect-sessions/${made['id']}`, s.admin);
    expect(view.json['status']).toBe('open');
    // The right token from this server's own origin starts the authorization.
    const ok = await post(path, { ...form, csrf }, { cookie, origin: new URL(s.server.url).origin });
    expect(ok.status).toBe(303);
    expect(ok.headers['location']).toContain('/cronofy/us/app/oauth/authorize');
  });

  it('a session opened in one browser cannot be used from another; without cookies the page says so', async () => {
    const { made, path, csrf } = await opened({ connectionId: 'h-3', providers: ['cronofy'] });
    const token = new URL(made['url'] as string).pathname;
    const other = await get(token, 'baton_connect=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(other.status).toBe(409);
    expect(other.text).toContain('open in another browser');
    const noCookie = await get(path);
    expect(noCookie.status).toBe(400);
    expect(noCookie.text).toContain('Cookies are needed');
    const stolen = await post(path, { csrf, provider: 'cronofy', mode: 'oauth2' });
    expect(stolen.status).toBe(400);
  });

  it('an OAuth callback for a session, arriving in another browser, completes nothing', async () => {
    const { cookie, path, csrf } = await opened({ connectionId: 'h-4', providers: ['cronofy'] });
    const go = await post(
      path,
      { csrf, provider: 'cronofy', mode: 'oauth2', 'param.dataCenter': 'us' },
      { cookie },
    );
    const authorize = new URL(go.headers['location'] as string);
    authorize.searchParams.set('sim_decision', 'approve');
    const back = await request(authorize, { method: 'GET' });
    await back.body.dump();
    const callback = new URL(back.headers['location'] as string);
    const elsewhere = await get(
      `${callback.pathname}${callback.search}`,
      'baton_connect=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
    );
    expect(elsewhere.status).toBe(409);
    await expect(s.server.baton.get('h-4')).rejects.toThrow(/No connection/);
    // The same callback in the browser that started it completes it, once.
    const mine = await get(`${callback.pathname}${callback.search}`, cookie);
    expect(mine.status).toBe(303);
    expect((await s.server.baton.get('h-4')).status).toBe('active');
    const replay = await get(`${callback.pathname}${callback.search}`, cookie);
    // Its state is spent: no session owns it any more, and the core refuses it as unknown.
    expect(replay.status).toBe(400);
    expect(replay.text).toContain('unknown_state');
  });

  it('the session API refuses what it cannot honour, in problem documents', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ connectionId: 'x-1' }, 400, 'invalid_request'],
      [{ connectionId: 'x-1', providers: ['nope'] }, 400, 'config_error'],
      [{ connectionId: 'x-1', providers: ['checkissuing'] }, 400, 'invalid_request'],
      [
        { connectionId: 'x-1', providers: ['cronofy'], params: { dataCenter: 'mars' } },
        400,
        'invalid_request',
      ],
      [{ connectionId: 'x-1', providers: ['cronofy'], params: { company: 'acme' } }, 400, 'invalid_request'],
      [
        { connectionId: 'x-1', providers: ['cronofy'], returnUrl: 'https://evil.example/back' },
        400,
        'return_url_not_allowed',
      ],
      [{ connectionId: 'alice cal', providers: ['cronofy'] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call(s.server.url, 'POST', '/v1/connect-sessions', s.admin, body);
      expect([res.status, res.json['code']], JSON.stringify(body)).toEqual([status, code]);
    }
    const narrow = await createCallerKey(s.server.serverStore, {
      name: 'narrow',
      allow: ['acme-*'],
      ops: ['manage'],
    });
    const out = await call(s.server.url, 'POST', '/v1/connect-sessions', narrow.key, {
      connectionId: 'globex-1',
      providers: ['cronofy'],
    });
    expect([out.status, out.json['code']]).toEqual([403, 'forbidden']);
  });

  it('a delivery that keeps failing is retried with every attempt logged; a manual redelivery sends it', async () => {
    s.app.failNext = 1_000;
    const dead = await call(s.server.url, 'POST', '/v1/webhooks', s.admin, {
      url: `${s.app.url}/hooks`,
      events: ['connection.removed'],
    });
    expect(dead.status).toBe(201);
    expect(dead.json['secret']).toMatch(/^whsec_/);
    const listed = await call(s.server.url, 'GET', '/v1/webhooks', s.admin);
    expect(listed.text).not.toContain(dead.json['secret'] as string);
    await s.server.baton.connect({
      provider: 'checkbook',
      connectionId: 'doomed',
      params: { environment: 'sandbox' },
      credentials: { apiKey: 'k-0123456789', apiSecret: 's-0123456789' },
      verify: false,
    });
    await s.server.baton.remove('doomed');
    const pending = await waitFor('failing attempts', async () => {
      const items = (
        await call(s.server.url, 'GET', `/v1/webhooks/deliveries?endpoint=${dead.json['id']}`, s.admin)
      ).json['items'] as { id: string; attempts: number; status: string; eventId: string }[];
      return items[0] && items[0].attempts >= 2 ? items[0] : undefined;
    });
    expect(pending.status).toBe('pending');
    const detail = await call(s.server.url, 'GET', `/v1/webhooks/deliveries/${pending.id}`, s.admin);
    expect((detail.json['log'] as { status: number }[]).every((a) => a.status === 503)).toBe(true);
    s.app.failNext = 0;
    const again = await call(
      s.server.url,
      'POST',
      `/v1/webhooks/deliveries/${pending.eventId}/redeliver`,
      s.admin,
    );
    expect(again.status).toBe(200);
    await waitFor('delivered', () =>
      s.app.events.find((e) => e.id === pending.eventId && e.type === 'connection.removed'),
    );
    const removedEndpoint = await call(s.server.url, 'DELETE', `/v1/webhooks/${dead.json['id']}`, s.admin);
    expect(removedEndpoint.json).toEqual({ deleted: true });
  });
});
