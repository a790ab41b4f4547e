import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presets } from '../../src/providers/presets/index.js';
import { esc } from '../../src/server/connect/page.js';
import { PRESET_CASES } from '../helpers/preset-cases.js';
import { call } from '../server/helpers.js';
import { storeEngines } from '../store/pg.js';
import { type Stage, stage } from './harness.js';

/**
 * Every OAuth preset connected through the server's connect page (README, "Connect pages"),
 * over plain HTTP against the simulator's persona: the page shows the preset's params with the
 * labels and hints its spec gives them, the form starts the authorization, the persona
 * consents, the callback completes it, and the connection is active with what the vendor handed
 * over while connecting (Xero's tenant, QuickBooks' realmId, Atlassian's cloud id, Salesforce's
 * instance URL, Shopify's shop).
 */

/** SQLite and PostgreSQL: the presets' stores (memory is not a store a CLI or server keeps). */
const ENGINES = storeEngines().filter((e) => e.name !== 'memory');

describe.each(ENGINES)('connect pages for every OAuth preset ($name)', (engine) => {
  let s: Stage;
  let drop: () => Promise<void>;
  const planted: string[] = [];

  beforeAll(async () => {
    const store = engine.store();
    drop = store.drop;
    s = await stage(store.spec ? { store: store.spec } : {});
    for (const v of Object.values(s.w.sim.discovery().vendors))
      for (const c of v.clients) planted.push(c.clientSecret);
  }, 30_000);
  afterAll(async () => {
    await s?.close();
    await drop?.();
  });

  async function get(url: string, cookie?: string) {
    const res = await request(url.startsWith('http') ? url : `${s.server.url}${url}`, {
      headers: cookie ? { cookie } : {},
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  it.each(PRESET_CASES)(
    '$provider: the page shows its params, the flow completes, the params are stored',
    async (c) => {
      const spec = presets[c.provider];
      if (!spec) throw new Error(`no preset ${c.provider}`);
      const id = `${c.provider}-page`;
      const made = await call(s.server.url, 'POST', '/v1/connect-sessions', s.admin, {
        connectionId: id,
        providers: [c.provider],
      });
      expect(made.status, made.text).toBe(201);
      planted.push(made.json['token'] as string);
      const first = await get(new URL(made.json['url'] as string).pathname);
      expect(first.status).toBe(303);
      const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
      const path = first.headers['location'] as string;
      const form = await get(`${path}?provider=${c.provider}&mode=oauth2`, cookie);
      expect(form.status, form.text).toBe(200);
      expect(form.text).toContain(`Connect ${esc(spec.displayName)}`);
      // Each param as its spec words it: the label, the hint under it, the values' labels.
      for (const [name, p] of Object.entries(spec.params)) {
        expect(form.text).toContain(`name="param.${name}"`);
        expect(form.text).toContain(`<label for="p-${name}">${esc(p.label as string)}`);
        expect(form.text).toContain(`<p class="hint" id="p-${name}-hint">${esc(p.hint as string)}</p>`);
        // An optional param (Zoom's accountId, server-to-server apps only) may be left empty.
        if (p.optional) {
          expect(form.text).toContain(`<label for="p-${name}">${esc(p.label as string)} (optional)</label>`);
          expect(form.text).not.toMatch(new RegExp(`name="param.${name}"[^>]* required`));
        }
        for (const [v, l] of Object.entries(p.valueLabels ?? {}))
          expect(form.text).toMatch(new RegExp(`<option value="${v}"[^>]*>${l}`));
      }
      const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1] as string;
      const fields: Record<string, string> = { csrf, provider: c.provider, mode: 'oauth2' };
      for (const name of Object.keys(spec.params)) {
        const value = name === spec.environmentParam ? c.env : c.given[name];
        fields[`param.${name}`] = value ?? spec.params[name]?.default ?? '';
      }
      const go = await request(`${s.server.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie,
          origin: new URL(s.server.url).origin,
        },
        body: new URLSearchParams(fields).toString(),
      });
      const goText = await go.body.text();
      expect(go.statusCode, goText).toBe(303);
      // The persona's consent page, answered as a person approving would.
      const authorize = new URL(go.headers['location'] as string);
      authorize.searchParams.set('sim_decision', 'approve');
      const back = await request(authorize, { method: 'GET' });
      await back.body.dump();
      const callback = new URL(back.headers['location'] as string);
      expect(`${callback.origin}${callback.pathname}`).toBe(`${s.server.url}/v1/callback`);
      const done = await get(`${callback.pathname}${callback.search}`, cookie);
      expect(done.status, done.text).toBe(303);
      const result = await get(done.headers['location'] as string, cookie);
      expect(result.text).toContain('<h1>Connected</h1>');
      const info = await s.server.baton.get(id);
      expect(info).toMatchObject({ provider: c.provider, authMode: 'oauth2', status: 'active' });
      expect(info.params).toEqual(c.params(s.w.sim.discovery().origin));
      const view = await call(s.server.url, 'GET', `/v1/connect-sessions/${made.json['id']}`, s.admin);
      expect(view.json).toMatchObject({ status: 'connected' });
      // One API call with the stored connection.
      const res = await s.server.baton.fetch(
        id,
        c.call?.(info.params) ?? (s.w.sim.discovery().vendors[c.provider as 'xero']?.identityPath as string),
        {
          method: c.method ?? 'GET',
        },
      );
      expect(res.status, await res.clone().text()).toBe(200);
      await res.text();
    },
  );

  it('Shopify: a callback whose hmac was altered is refused on the page, and nothing is stored', async () => {
    const made = await call(s.server.url, 'POST', '/v1/connect-sessions', s.admin, {
      connectionId: 'shop-forged',
      providers: ['shopify'],
      params: { shop: 'acme-store' },
    });
    planted.push(made.json['token'] as string);
    const first = await get(new URL(made.json['url'] as string).pathname);
    const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
    const path = first.headers['location'] as string;
    const form = await get(path, cookie);
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1] as string;
    const go = await request(`${s.server.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie,
        origin: new URL(s.server.url).origin,
      },
      body: new URLSearchParams({ csrf, provider: 'shopify', mode: 'oauth2' }).toString(),
    });
    await go.body.dump();
    const authorize = new URL(go.headers['location'] as string);
    authorize.searchParams.set('sim_decision', 'approve');
    const back = await request(authorize, { method: 'GET' });
    await back.body.dump();
    const callback = new URL(back.headers['location'] as string);
    callback.searchParams.set('timestamp', '1');
    const done = await get(`${callback.pathname}${callback.search}`, cookie);
    const result = await get(done.headers['location'] as string, cookie);
    expect(result.text).toContain('Not connected');
    await expect(s.server.baton.get('shop-forged')).rejects.toThrow(/No connection/);
    const view = await call(s.server.url, 'GET', `/v1/connect-sessions/${made.json['id']}`, s.admin);
    expect(view.json).toMatchObject({ outcomeCode: 'authorization_bad_signature' });
  });

  it('logs and audit rows carry no page token or client secret', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const audit = JSON.stringify(await s.server.serverStore.audit({ limit: 10_000 }));
    expect(audit).toContain('connect_page');
    for (const p of planted) {
      expect(s.logs.text).not.toContain(p);
      expect(audit).not.toContain(p);
    }
  });
});
