import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../src/index.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { type World, world } from '../helpers/sim-baton.js';
import { Capture, call } from '../server/helpers.js';

/** Debian's chromium, installed by .ci/run with apt-get when missing; never a downloaded build. */
export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = 'test-results/connect';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM });
}

/** axe-core in the page (through the debugging protocol: the page's CSP allows no script). */
export async function accessible(page: Page, label: string): Promise<void> {
  await page.evaluate(axeSource);
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })`,
  )) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  const serious = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(serious, `axe on ${label}`).toEqual([]);
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** The application beside Baton: a return-URL landing page and a webhook receiver. */
export interface App {
  url: string;
  events: WebhookEvent[];
  /** Raw deliveries, for the signature checks. */
  deliveries: { body: string; signature: string | undefined; ok: boolean }[];
  /** The next this many deliveries are answered 503. */
  failNext: number;
  secret: string;
  close(): Promise<void>;
}

export async function appServer(): Promise<App> {
  const app: App = {
    url: '',
    events: [],
    deliveries: [],
    failNext: 0,
    secret: '',
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/hooks' && req.method === 'POST') {
        const signature = req.headers['baton-signature'] as string | undefined;
        if (app.failNext > 0) {
          app.failNext--;
          app.deliveries.push({ body, signature, ok: false });
          res.writeHead(503).end();
          return;
        }
        try {
          app.events.push(verifyWebhook({ body, signature, secret: app.secret }));
          app.deliveries.push({ body, signature, ok: true });
          res.writeHead(204).end();
        } catch {
          app.deliveries.push({ body, signature, ok: false });
          res.writeHead(400).end();
        }
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html lang="en"><title>App</title><main><h1>Back in the app</h1><p id="q">${url.search.replace(/[<>&"]/g, '')}</p></main></html>`,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  app.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return app;
}

export interface Stage {
  w: World;
  server: BatonServer;
  app: App;
  admin: string;
  logs: Capture;
  close(): Promise<void>;
}

/**
 * A simulator whose consent step is a real page (approve / deny), a Baton on SQLite whose
 * clients have no redirect URI of their own (so the server's /v1/callback is used), the server
 * with short webhook retries, and the application. `store`: another store for Baton and the
 * server than the SQLite file (a PostgreSQL URL with its own schema).
 */
export async function stage(options: { store?: string } = {}): Promise<Stage> {
  const w = await world({ sim: { consent: 'prompt' } });
  // null: no redirect URI in the clients (not the simulator's own callback page).
  const profile = simulatorProfile(w.sim.discovery() as unknown as SimulatorDiscovery, null);
  const store = options.store ?? `sqlite:${w.dbPath}`;
  const baton = await w.open({ providers: profile.providers, clients: profile.clients, store });
  const app = await appServer();
  const logs = new Capture();
  const server = await startServer({
    instance: baton,
    store,
    port: 0,
    keeper: false,
    logStream: logs,
    connect: { returnUrls: [`${app.url}/back`] },
    webhooks: { pollMs: 100, retry: { baseMs: 50, maxMs: 200, windowMs: 60_000 } },
  });
  const admin = (
    await createCallerKey(server.serverStore, { name: 'admin', allow: ['*'], ops: ['read', 'manage'] })
  ).key;
  const hook = await call(server.url, 'POST', '/v1/webhooks', admin, { url: `${app.url}/hooks` });
  expect(hook.status).toBe(201);
  app.secret = hook.json['secret'] as string;
  return {
    w,
    server,
    app,
    admin,
    logs,
    async close() {
      await server.close();
      await app.close();
      await w.close();
    },
  };
}

export async function waitFor<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
