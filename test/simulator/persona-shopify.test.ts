import { createHmac } from 'node:crypto';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { get, post, url, vendor } from './helpers.js';
import { codeOf, consent, DAY, MINUTE } from './persona-flow.js';

/** The Shopify persona: per-shop URLs, the signed callback, offline tokens with and without expiry. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'shopify');
const client = () => d().clients[0]!;
const SCOPE = 'read_products,read_orders';

async function exchange(shop: string, extra: Record<string, string> = {}) {
  const callback = await consent(sim, 'shopify', { shop }, { scope: SCOPE, response_type: '' });
  const res = await post(
    url(d().endpoints.token, { shop }),
    JSON.stringify({
      client_id: client().clientId,
      client_secret: client().clientSecret,
      code: codeOf(callback),
      ...extra,
    }),
    { 'content-type': 'application/json' },
  );
  return { callback, res };
}
const refresh = (shop: string, rt: string) =>
  post(
    url(d().endpoints.token, { shop }),
    JSON.stringify({
      client_id: client().clientId,
      client_secret: client().clientSecret,
      grant_type: 'refresh_token',
      refresh_token: rt,
    }),
    { 'content-type': 'application/json' },
  );
const shopJson = (shop: string, headers: Record<string, string>) =>
  get(`${url(d().endpoints.apiBase, { shop })}shop.json`, headers);

describe('Shopify persona', () => {
  it('signs the callback: code, hmac, host, shop, state, timestamp; the hmac is HMAC-SHA256 over the rest with the secret', async () => {
    const { callback } = await exchange('acme-store');
    const params = Object.fromEntries(callback.searchParams);
    expect(Object.keys(params).sort()).toEqual(['code', 'hmac', 'host', 'shop', 'state', 'timestamp']);
    expect(params['shop']).toBe('acme-store.myshopify.com');
    const message = Object.keys(params)
      .filter((k) => k !== 'hmac')
      .sort()
      .map((k) => `${k}=${params[k]}`)
      .join('&');
    expect(params['hmac']).toBe(createHmac('sha256', client().clientSecret).update(message).digest('hex'));
    expect(params['hmac']).not.toBe(createHmac('sha256', 'another secret').update(message).digest('hex'));
  });

  it('without expiring=1 grants a non-expiring offline token, the same one on every authorization', async () => {
    const { res } = await exchange('globex-store');
    expect(res.json).toEqual({ access_token: expect.stringMatching(/^shpat_/), scope: SCOPE });
    const token = res.json?.['access_token'] as string;
    const shop = await shopJson('globex-store', { 'x-shopify-access-token': token });
    expect(shop.status).toBe(200);
    expect(shop.json).toMatchObject({ shop: { myshopify_domain: 'globex-store.myshopify.com' } });
    // An Authorization header is not how the Admin API takes tokens.
    const bearer = await shopJson('globex-store', { authorization: `Bearer ${token}` });
    expect(bearer.status).toBe(401);
    expect(bearer.json).toEqual({
      errors: '[API] Invalid API key or access token (unrecognized login or wrong password)',
    });
    // Another shop does not know the token.
    expect((await shopJson('acme-store', { 'x-shopify-access-token': token })).status).toBe(401);
    sim.clock.advance(400 * DAY);
    expect((await shopJson('globex-store', { 'x-shopify-access-token': token })).status).toBe(200);
    expect((await exchange('globex-store')).res.json?.['access_token']).toBe(token);
  });

  it('with expiring=1 grants a 60-minute token and a 90-day rotating refresh token', async () => {
    const { res } = await exchange('acme-store', { expiring: '1' });
    expect(res.json).toEqual({
      access_token: expect.any(String),
      scope: SCOPE,
      expires_in: 3600,
      refresh_token: expect.stringMatching(/^shprt_/),
      refresh_token_expires_in: 7776000,
    });
    const at = res.json?.['access_token'] as string;
    expect((await shopJson('acme-store', { 'x-shopify-access-token': at })).status).toBe(200);
    sim.clock.advance(61 * MINUTE);
    expect((await shopJson('acme-store', { 'x-shopify-access-token': at })).status).toBe(401);
    const r = await refresh('acme-store', res.json?.['refresh_token'] as string);
    expect(r.status).toBe(200);
    expect(r.json?.['refresh_token']).not.toBe(res.json?.['refresh_token']);
    expect(
      (await shopJson('acme-store', { 'x-shopify-access-token': r.json?.['access_token'] as string })).status,
    ).toBe(200);
  });

  it('keeps the replaced refresh token until the new access token is used', async () => {
    const rt0 = (await exchange('acme-store', { expiring: '1' })).res.json?.['refresh_token'] as string;
    const first = await refresh('acme-store', rt0);
    // The answer was "lost": the stored rt0 still works, and answers a new pair.
    const retry = await refresh('acme-store', rt0);
    expect(retry.status).toBe(200);
    const rt2 = retry.json?.['refresh_token'] as string;
    await shopJson('acme-store', { 'x-shopify-access-token': retry.json?.['access_token'] as string });
    expect((await refresh('acme-store', rt0)).json).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh('acme-store', first.json?.['refresh_token'] as string)).json).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await refresh('acme-store', rt2)).status).toBe(200);
  });

  it('keeps the replaced refresh token until the new refresh token is used, for at most 30 days', async () => {
    const rtA = (await exchange('acme-store', { expiring: '1' })).res.json?.['refresh_token'] as string;
    const rtB = (await refresh('acme-store', rtA)).json?.['refresh_token'] as string;
    const rtC = (await refresh('acme-store', rtB)).json?.['refresh_token'] as string;
    expect((await refresh('acme-store', rtA)).json).toMatchObject({ error: 'invalid_grant' });
    sim.clock.advance(31 * DAY);
    // rtB was replaced by rtC, which was never used: still, 30 days is the most it keeps.
    expect((await refresh('acme-store', rtB)).json).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh('acme-store', rtC)).status).toBe(200);
  });

  it('revokes the shop’s tokens when the app is uninstalled', async () => {
    const t = (await exchange('acme-store', { expiring: '1' })).res.json as Record<string, string>;
    const res = await fetch(
      `${url(d().endpoints.apiBase, { shop: 'acme-store' }).replace(/api\/[^/]+\/$/, '')}api_permissions/current.json`,
      {
        method: 'DELETE',
        headers: { 'x-shopify-access-token': t['access_token'] as string },
      },
    );
    expect(res.status).toBe(200);
    await res.text();
    expect(
      (await shopJson('acme-store', { 'x-shopify-access-token': t['access_token'] as string })).status,
    ).toBe(401);
    expect((await refresh('acme-store', t['refresh_token'] as string)).json).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('refuses a reused code, a wrong secret and an unknown shop', async () => {
    const callback = await consent(
      sim,
      'shopify',
      { shop: 'acme-store' },
      { scope: SCOPE, response_type: '' },
    );
    const body = (secret: string) =>
      JSON.stringify({ client_id: client().clientId, client_secret: secret, code: codeOf(callback) });
    const h = { 'content-type': 'application/json' };
    const tokenUrl = url(d().endpoints.token, { shop: 'acme-store' });
    expect((await post(tokenUrl, body('wrong'), h)).status).toBe(401);
    expect((await post(tokenUrl, body(client().clientSecret), h)).status).toBe(200);
    expect((await post(tokenUrl, body(client().clientSecret), h)).json).toMatchObject({
      error: 'invalid_request',
    });
    expect((await get(url(d().endpoints.authorize as string, { shop: 'nowhere' }))).status).toBe(404);
  });
});
