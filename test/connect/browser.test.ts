import { spawn } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../cli/run.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { apiKeyFor } from '../helpers/sim-baton.js';
import { call } from '../server/helpers.js';
import { accessible, launch, type Stage, shot, stage, waitFor } from './harness.js';

/**
 * The connect pages in real Chromium (Debian's package, driven by playwright-core) against the
 * simulator, whose consent step is a real approve / deny page. Every page of ours passes
 * axe-core without serious or critical violations, in light and dark.
 */

let s: Stage;
let browser: Browser;
const planted: string[] = [];
/** What Chromium reported the pages' CSP blocked: nothing, since the pages load only their stylesheet. */
const cspViolations: string[] = [];

beforeAll(async () => {
  s = await stage();
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

async function session(body: Record<string, unknown>) {
  const res = await call(s.server.url, 'POST', '/v1/connect-sessions', s.admin, body);
  expect(res.status, res.text).toBe(201);
  planted.push(res.json['token'] as string);
  return res.json as { id: string; token: string; url: string; expiresAt: number };
}

/** A fresh browser (its own cookies), light or dark. */
async function open(url: string, dark = false, phone = false): Promise<Page> {
  const ctx = await browser.newContext({
    colorScheme: dark ? 'dark' : 'light',
    viewport: phone ? { width: 390, height: 844 } : { width: 900, height: 900 },
    ...(phone ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(url);
  return page;
}

/** The simulator's consent page: sign in as `account` and approve or deny. */
async function consent(page: Page, decision: 'approve' | 'deny', account?: string): Promise<void> {
  await page.waitForSelector('button[value=approve]');
  if (account) await page.selectOption('select[name=account]', account);
  await page.click(`button[value=${decision}]`);
}

describe('connect pages in Chromium', () => {
  it('OAuth2: picks Cronofy among three, data center de, approves, sees the account, returns connected', async () => {
    const made = await session({
      connectionId: 'alice-cal',
      providers: ['cronofy', 'checkfront', 'checkbook'],
      label: 'Alice at Acme',
      returnUrl: `${s.app.url}/back`,
    });
    const page = await open(made.url);
    // The token leaves the address bar at once.
    expect(page.url()).toMatch(/\/connect\/s\/cs_/);
    expect(page.url()).not.toContain(made.token);
    expect(await page.textContent('h1')).toBe('Connect an account');
    expect(await page.textContent('main')).toContain('Alice at Acme');
    await accessible(page, 'provider choice');
    await shot(page, 'choose-provider');
    await page.click('a.choice:has-text("Cronofy")');
    expect(await page.textContent('h1')).toBe('Connect Cronofy');
    await page.selectOption('#p-dataCenter', 'de');
    await accessible(page, 'cronofy form');
    await shot(page, 'cronofy-form');
    // Keyboard only: the form is reachable and sent with Enter.
    await page.focus('#p-dataCenter');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Continue to Cronofy');
    await Promise.all([page.waitForURL('**/oauth/authorize**'), page.keyboard.press('Enter')]);
    expect(new URL(page.url()).pathname).toBe('/cronofy/de/app/oauth/authorize');
    await consent(page, 'approve', 'alice');
    await page.waitForSelector('h1:has-text("Connected")');
    expect(await page.textContent('main')).toContain('alice@example.com');
    await accessible(page, 'connected');
    await shot(page, 'connected');
    const dark = await open(page.url(), true);
    // Another browser: the result belongs to the one that connected.
    expect(await dark.textContent('h1')).toBe('This link was already used');
    await dark.context().close();
    await page.emulateMedia({ colorScheme: 'dark' });
    await accessible(page, 'connected (dark)');
    await shot(page, 'connected-dark');
    await page.click('a:has-text("Return to")');
    const back = new URL(page.url());
    expect(back.pathname).toBe('/back');
    expect(Object.fromEntries(back.searchParams)).toEqual({
      outcome: 'connected',
      connectionId: 'alice-cal',
      session: made.id,
    });
    const info = await s.server.baton.get('alice-cal');
    expect(info).toMatchObject({ provider: 'cronofy', params: { dataCenter: 'de' }, status: 'active' });
    expect(info.account?.email).toBe('alice@example.com');
    await page.context().close();

    // Reused: the same link again, in a new browser, changes nothing.
    const again = await open(made.url);
    expect(await again.textContent('h1')).toBe('This link was already used');
    await accessible(again, 'already used');
    await shot(again, 'already-used');
    expect((await s.server.baton.get('alice-cal')).version).toBe(info.version);
    await again.context().close();

    const created = await waitFor('connection.created', () =>
      s.app.events.find((e) => e.type === 'connection.created' && e.data.connection.id === 'alice-cal'),
    );
    expect(created.data.connection.account?.email ?? created.data.connection.account?.id).toBeDefined();
  });

  it('OAuth2 Checkfront: a company name in plain words first, then the consent page', async () => {
    const made = await session({ connectionId: 'acme-cf', providers: ['checkfront'], authModes: ['oauth2'] });
    const page = await open(made.url, true, true);
    // One column on a phone: nothing wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(await page.textContent('h1')).toBe('Connect Checkfront');
    await page.fill('#p-company', 'Acme Corp!');
    await page.click('button:has-text("Continue to Checkfront")');
    expect(await page.textContent('.field-error')).toContain('is not a Checkfront company name');
    expect(await page.getAttribute('#p-company', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#p-company', 'aria-describedby')).toContain('p-company-error');
    await accessible(page, 'checkfront form with an error (dark)');
    await shot(page, 'checkfront-error-dark-phone');
    await page.fill('#p-company', 'acme');
    await page.click('button:has-text("Continue to Checkfront")');
    await consent(page, 'approve', 'staff');
    await page.waitForSelector('h1:has-text("Connected")');
    expect(await page.textContent('main')).toContain('You can close this window');
    expect((await s.server.baton.get('acme-cf')).params).toEqual({ company: 'acme' });
    await page.context().close();
  });

  it('Shopify: the shop typed on the page (a wrong one refused in plain words), the consent, connected', async () => {
    const made = await session({ connectionId: 'acme-shop', providers: ['shopify'] });
    const page = await open(made.url);
    expect(await page.textContent('h1')).toBe('Connect Shopify');
    expect(await page.textContent('label[for=p-shop]')).toBe('Shop');
    expect(await page.textContent('#p-shop-hint')).toBe(
      'The name in your shop’s admin address, as in https://name.myshopify.com.',
    );
    await page.fill('#p-shop', 'Acme Store!');
    await page.click('button:has-text("Continue to Shopify")');
    expect(await page.textContent('.field-error')).toContain(
      'is not a Shopify shop name. Use lower-case letters, digits and dashes',
    );
    await accessible(page, 'shopify form with an error');
    await page.fill('#p-shop', 'acme-store');
    await Promise.all([
      page.waitForURL('**/oauth/authorize**'),
      page.click('button:has-text("Continue to Shopify")'),
    ]);
    expect(new URL(page.url()).pathname).toBe('/shopify/acme-store/admin/oauth/authorize');
    await consent(page, 'approve', 'owner');
    await page.waitForSelector('h1:has-text("Connected")');
    await shot(page, 'shopify-connected');
    expect(await s.server.baton.get('acme-shop')).toMatchObject({
      provider: 'shopify',
      status: 'active',
      params: { shop: 'acme-store' },
    });
    await page.context().close();
  });

  it('Microsoft: the tenant prefilled with its default, changed to organizations, connected there', async () => {
    const made = await session({ connectionId: 'adele-graph', providers: ['microsoft'] });
    const page = await open(made.url);
    expect(await page.textContent('h1')).toBe('Connect Microsoft (Entra ID, Graph)');
    expect(await page.textContent('label[for=p-tenant]')).toBe('Tenant');
    expect(await page.textContent('#p-tenant-hint')).toMatch(/^common for any account; organizations for/);
    expect(await page.inputValue('#p-tenant')).toBe('common');
    await page.fill('#p-tenant', 'organizations');
    await accessible(page, 'microsoft form');
    await Promise.all([
      page.waitForURL('**/oauth2/v2.0/authorize**'),
      page.click('button:has-text("Continue to Microsoft")'),
    ]);
    expect(new URL(page.url()).pathname).toContain('/organizations/oauth2/v2.0/authorize');
    await consent(page, 'approve', 'adele@contoso.example');
    await page.waitForSelector('h1:has-text("Connected")');
    expect(await s.server.baton.get('adele-graph')).toMatchObject({
      provider: 'microsoft',
      status: 'active',
      params: { tenant: 'organizations' },
    });
    await page.context().close();
  });

  it('API key (Checkbook sandbox): a wrong key is refused in plain words and never shown back; the right one connects', async () => {
    const key = apiKeyFor(s.w, 'checkbook', { environment: 'sandbox' });
    planted.push(key.apiKey, key.apiSecret as string);
    const made = await session({
      connectionId: 'payouts',
      providers: ['checkbook'],
      authModes: ['api_key'],
      params: { environment: 'sandbox' },
    });
    const page = await open(made.url);
    expect(await page.textContent('dl.facts')).toContain('Sandbox (sandbox)');
    const wrong = 'wrong-key-5d1f9a7c2e';
    const wrongSecret = 'wrong-secret-8b3e6f0d41';
    planted.push(wrong, wrongSecret);
    await page.fill('#apiKey', wrong);
    await page.fill('#apiSecret', wrongSecret);
    await page.click('button:has-text("Check and connect")');
    expect(await page.textContent('[role=alert]')).toContain('Checkbook did not accept this key');
    const html = await page.content();
    expect(html).not.toContain(wrong);
    expect(html).not.toContain(wrongSecret);
    expect(await page.inputValue('#apiKey')).toBe('');
    await expect(s.server.baton.get('payouts')).rejects.toThrow(/No connection/);
    await accessible(page, 'wrong key');
    await shot(page, 'wrong-key');
    await page.fill('#apiKey', key.apiKey);
    await page.fill('#apiSecret', key.apiSecret as string);
    await page.click('button:has-text("Check and connect")');
    await page.waitForSelector('h1:has-text("Connected")');
    const info = await s.server.baton.get('payouts');
    expect(info).toMatchObject({
      provider: 'checkbook',
      authMode: 'api_key',
      params: { environment: 'sandbox' },
    });
    expect(await page.content()).not.toContain(key.apiKey);
    await page.context().close();
  });

  it('token pair (Checkfront): key and secret checked at the identity endpoint, then stored', async () => {
    const key = apiKeyFor(s.w, 'checkfront', { company: 'acme' });
    planted.push(key.apiKey, key.apiSecret as string);
    const made = await session({
      connectionId: 'acme-pair',
      providers: ['checkfront'],
      params: { company: 'acme' },
      returnUrl: `${s.app.url}/back/pair`,
    });
    const page = await open(made.url);
    // Two ways to connect Checkfront: choose one.
    await accessible(page, 'mode choice');
    await page.click('a.choice:has-text("Use an API key and secret")');
    await page.fill('#apiKey', key.apiKey);
    await page.fill('#apiSecret', key.apiSecret as string);
    await page.click('button:has-text("Check and connect")');
    await page.waitForSelector('h1:has-text("Connected")');
    expect(await s.server.baton.get('acme-pair')).toMatchObject({ authMode: 'token_pair', status: 'active' });
    await page.click('a:has-text("Return to")');
    expect(new URL(page.url()).searchParams.get('outcome')).toBe('connected');
    await page.context().close();
  });

  it('deny at the consent page: not connected, and the application hears denied', async () => {
    const made = await session({
      connectionId: 'bob-cal',
      providers: ['cronofy'],
      returnUrl: `${s.app.url}/back`,
    });
    const page = await open(made.url);
    await page.click('button:has-text("Continue to Cronofy")');
    await consent(page, 'deny');
    await page.waitForSelector('h1:has-text("Not connected")');
    expect(await page.textContent('main')).toContain('You declined access');
    await accessible(page, 'denied');
    await shot(page, 'denied');
    await page.click('a:has-text("Return to")');
    const q = new URL(page.url()).searchParams;
    expect([q.get('outcome'), q.get('code')]).toEqual(['denied', 'access_denied']);
    await expect(s.server.baton.get('bob-cal')).rejects.toThrow(/No connection/);
    const view = await call(s.server.url, 'GET', `/v1/connect-sessions/${made.id}`, s.admin);
    expect(view.json).toMatchObject({ status: 'denied', outcomeCode: 'access_denied' });
    await page.context().close();
  });

  it('an expired link and a tampered one get a clear page and change nothing', async () => {
    const made = await session({ connectionId: 'late', providers: ['cronofy'], ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1200));
    const page = await open(made.url);
    expect(await page.textContent('h1')).toBe('This link has expired');
    await accessible(page, 'expired');
    await shot(page, 'expired');
    const tampered = made.url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const res = await page.goto(tampered);
    expect(res?.status()).toBe(404);
    expect(await page.textContent('h1')).toBe('This link is not valid');
    await accessible(page, 'invalid');
    await expect(s.server.baton.get('late')).rejects.toThrow(/No connection/);
    await page.context().close();
  });

  it('reconnect after a revoke: the link from GET /v1/connections/{id} authorizes the same connection again', async () => {
    const revoked = await call(s.server.url, 'POST', '/v1/connections/alice-cal/revoke', s.admin);
    expect(revoked.status).toBe(200);
    const got = await call(s.server.url, 'GET', '/v1/connections/alice-cal', s.admin);
    expect(got.json['status']).toBe('revoked');
    const link = got.json['reconnectUrl'] as string;
    expect(link).toMatch(/\/connect\/cst_/);
    planted.push(link.split('/').pop() as string);
    const page = await open(link);
    expect(await page.textContent('h1')).toBe('Reconnect Cronofy');
    expect(await page.textContent('dl.facts')).toContain('Germany (de)');
    await accessible(page, 'reconnect');
    await shot(page, 'reconnect');
    await page.click('button:has-text("Continue to Cronofy")');
    await consent(page, 'approve', 'alice');
    await page.waitForSelector('h1:has-text("Reconnected")');
    expect(await s.server.baton.get('alice-cal')).toMatchObject({
      status: 'active',
      params: { dataCenter: 'de' },
    });
    await page.context().close();
    const reconnected = await waitFor('connection.reconnected', () =>
      s.app.events.find((e) => e.type === 'connection.reconnected' && e.data.connection.id === 'alice-cal'),
    );
    expect(reconnected.data.previousStatus).toBe('revoked');
    const revokedEvent = s.app.events.find((e) => e.type === 'connection.revoked');
    expect(revokedEvent?.data.reconnect?.url).toMatch(/\/connect\/cst_/);
  });

  it('the CLI’s loopback page has the same look and names the connection and the account', async () => {
    const { dir, cleanup } = tempDir();
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--simulator',
        s.w.sim.url,
        'connect',
        'cronofy',
        '--id',
        'loop-cal',
        '--no-browser',
        '--timeout',
        '30',
      ],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          BATON_HOME: dir,
          BATON_SECRET_KEY: randomKey(),
          NO_COLOR: '1',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      const url = await waitFor(
        'the authorization URL',
        () => /(http:\/\/\S+\/oauth\/authorize\S+)/.exec(err)?.[1],
      );
      const page = await open(url);
      await consent(page, 'approve', 'bob');
      await page.waitForSelector('h1:has-text("Connected")');
      const text = await page.textContent('main');
      expect(text).toContain('loop-cal');
      expect(text).toContain('bob@example.com');
      await accessible(page, 'CLI loopback page');
      await shot(page, 'cli-loopback');
      await page.context().close();
      expect(await exited).toBe(0);
    } finally {
      child.kill();
      cleanup();
    }
  });

  it('logs and audit rows never carry a page token, key or secret; no CSP violation was reported', async () => {
    expect(cspViolations).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    const audit = JSON.stringify(await s.server.serverStore.audit({ limit: 10_000 }));
    expect(audit).toContain('connect_page');
    for (const p of planted) {
      expect(s.logs.text).not.toContain(p);
      expect(audit).not.toContain(p);
    }
    // Webhook bodies carry reconnect links by design, never a key or secret.
    const keys = planted.filter((p) => !p.startsWith('cst_'));
    for (const d of s.app.deliveries) for (const p of keys) expect(d.body).not.toContain(p);
  });
});
