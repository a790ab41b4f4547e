import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { PRESET_CASES } from '../helpers/preset-cases.js';
import { storeEngines } from '../store/pg.js';
import { type Ran, run, simulatorSecrets, start, transcript, waitFor } from './run.js';

/**
 * Every OAuth preset connected from the command line (README, "Providers"), against the
 * simulator's persona of the same vendor, over loopback HTTP: `baton connect` with the params
 * the preset takes, the browser step done by following the authorization URL's redirects to the
 * CLI's loopback listener, then `baton token` and one API call with `baton request`. What each
 * vendor hands over while connecting (Xero's tenant, QuickBooks' realmId, Atlassian's cloud id,
 * Salesforce's instance URL, Shopify's shop) is stored with the connection.
 */

/** SQLite and PostgreSQL: the presets' stores (memory is not a store a CLI or server keeps). */
const ENGINES = storeEngines().filter((e) => e.name !== 'memory');

let sim: Simulator;
let dir: string;
const secrets = new Set<string>();

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-presets-'));
  for (const s of simulatorSecrets(sim)) secrets.add(s);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

/**
 * Runs a connect that opens the loopback listener, and does what the browser would: opens the
 * authorization URL (the persona consents at once) and follows its redirects until the CLI's
 * loopback callback has answered.
 */
async function connectThroughBrowser(args: string[], env: Record<string, string>): Promise<Ran> {
  const p = start(args, env, undefined, 20_000);
  let next: string | undefined = (await waitFor(p, /Open this URL to authorize \S+:\n\s+(\S+)/))[1];
  for (let hop = 0; next && hop < 5; hop++) {
    const res = await fetch(next, { redirect: 'manual' });
    await res.text();
    const location = res.headers.get('location');
    next = location ? new URL(location, next).toString() : undefined;
  }
  const ran = await p.done;
  if (ran.timedOut) throw new Error(`baton ${args.join(' ')} did not exit:\n${ran.stderr}`);
  return ran;
}

describe.each(ENGINES)('baton connect for every OAuth preset ($name)', (engine) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;

  beforeAll(() => {
    const store = engine.store();
    drop = store.drop;
    env = {
      BATON_HOME: join(dir, `home-${engine.name}`),
      ...(store.spec ? { BATON_STORE: store.spec } : {}),
      BATON_SECRET_KEY: randomBytes(32).toString('base64'),
      BATON_SIMULATOR: sim.url,
      BROWSER: 'true',
    };
    secrets.add(env['BATON_SECRET_KEY'] as string);
  });
  afterAll(async () => {
    await drop?.();
  });

  it.each(PRESET_CASES)(
    '$provider: connect, token, an API call; the captured params are stored',
    async (c) => {
      const id = `${c.provider}-cli`;
      const connected = await connectThroughBrowser(
        [
          'connect',
          c.provider,
          '--id',
          id,
          ...(c.env ? ['--env', c.env] : []),
          ...Object.entries(c.given).flatMap(([k, v]) => ['-p', `${k}=${v}`]),
          '--no-browser',
        ],
        env,
      );
      expect(connected.code, connected.stderr).toBe(0);
      const shown = json((await run(['show', id, '--json'], env)).stdout);
      const origin = sim.discovery().origin;
      expect(shown).toMatchObject({ provider: c.provider, authMode: 'oauth2', status: 'active' });
      expect(shown['params']).toEqual(c.params(origin));
      const params = shown['params'] as Record<string, string>;
      // The confirmation names what was captured, as `show` does.
      for (const [k, v] of Object.entries(params)) expect(connected.stdout).toContain(`${k}=${v}`);
      expect(connected.stdout).toMatch(new RegExp(`✓ Connected ${id} \\(`));

      const token = await run(['token', id], env);
      // `token` prints the access token by design: kept out of the scan, and scanned for elsewhere.
      transcript.splice(transcript.length - 2, 2);
      expect(token.code, token.stderr).toBe(0);
      const accessToken = token.stdout.trim();
      expect(accessToken.length).toBeGreaterThan(8);
      secrets.add(accessToken);
      expect(sim.tokenStatus(accessToken)).toBe('live');

      const method = c.method ?? 'GET';
      const path = c.call?.(params) ?? sim.discovery().vendors[c.provider as 'xero']?.identityPath;
      const api = await run(['request', id, path as string, '-X', method], env);
      expect(api.code, `${path}: ${api.stderr}${api.stdout}`).toBe(0);
      expect(() => JSON.parse(api.stdout)).not.toThrow();
    },
  );

  it('Shopify: a callback whose hmac does not match reaches the loopback and is refused; nothing is stored', async () => {
    const p = start(
      ['connect', 'shopify', '--id', 'shop-forged', '-p', 'shop=acme-store', '--no-browser'],
      env,
    );
    const url = (await waitFor(p, /Open this URL to authorize \S+:\n\s+(\S+)/))[1] as string;
    const consent = await fetch(url, { redirect: 'manual' });
    await consent.text();
    const callback = new URL(consent.headers.get('location') as string);
    callback.searchParams.set('hmac', '0'.repeat(64));
    const page = await fetch(callback);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('Not connected');
    const ran = await p.done;
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(
      /The callback's hmac signature does not match its parameters under the client secret\.\n→ The callback's signature did not verify .*Check the client secret, then start the authorization again\./,
    );
    expect((await run(['show', 'shop-forged'], env)).code).toBe(1);
  });

  it("Zoom server-to-server: the account's client takes account_credentials; another account's id reaches the user app's client and says which client to configure", async () => {
    const accountId = sim.discovery().vendors.zoom?.params?.['accountId']?.[0] as string;
    const s2s = ['connect', 'zoom', '--mode', 'client_credentials', '--id', 'zoom-s2s'];
    const ok = await run([...s2s, '-p', `accountId=${accountId}`], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`✓ Connected zoom-s2s (Zoom, accountId=${accountId}, client_credentials)`);
    const shown = json((await run(['show', 'zoom-s2s', '--json'], env)).stdout);
    expect(shown).toMatchObject({ authMode: 'client_credentials', status: 'active' });
    const api = await run(['request', 'zoom-s2s', 'v2/users/me'], env);
    expect(api.code, api.stderr).toBe(0);
    expect(json(api.stdout)['account_id']).toBe(accountId);

    const other = await run(
      [...s2s.slice(0, -1), 'zoom-other', '-p', 'accountId=NotTheAccount0000000000'],
      env,
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /Zoom does not take the client credentials grant from the client Baton sent\.\n→ Configure the client Zoom issued for this grant .* the connection's params must match them exactly\./,
    );
    expect((await run(['show', 'zoom-other'], env)).code).toBe(1);
  });

  it('a param the preset needs and was not given is a usage error, before anything listens', async () => {
    const shop = await run(['connect', 'shopify', '--id', 'no-shop'], env);
    expect(shop.code).toBe(2);
    expect(shop.stderr).toMatch(
      /Shopify needs the param shop \(the shop’s subdomain, as in https:\/\/\{shop\}\.myshopify\.com\), and this is not a terminal to ask on\.\n→ Pass --param shop=<value>\./,
    );
    const env2 = await run(['connect', 'quickbooks', '--id', 'no-env'], env);
    expect(env2.code).toBe(2);
    expect(env2.stderr).toMatch(
      /QuickBooks Online needs an environment .*\n→ Pass --env production or --env sandbox\./,
    );
    const bad = await run(['connect', 'shopify', '--id', 'bad-shop', '-p', 'shop=Not_A_Shop'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/shop/);
    const tenant = await run(['connect', 'microsoft', '--id', 'bad-tenant', '-p', 'tenant=a/b'], env);
    expect(tenant.code).toBe(2);
    for (const id of ['no-shop', 'no-env', 'bad-shop', 'bad-tenant'])
      expect((await run(['show', id], env)).code).toBe(1);
  });
});

it('nothing printed a secret', () => {
  const all = transcript.join('\n');
  expect(all.length).toBeGreaterThan(1000);
  for (const s of secrets) expect(all).not.toContain(s);
});
