/**
 * `connection.expiring` as a webhook (README, "Webhooks"): written to the outbox with the write
 * that notes it, delivered with the grant's ends and a reconnect link — like the needs_reauth
 * events, but for a connection that still works — and never a secret.
 */
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import type { WebhookEvent } from '../../src/core/outbox.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { authorize, type World, world } from '../helpers/sim-baton.js';
import { Capture, call } from '../server/helpers.js';
import { type HookReceiver, hookReceiver } from './receiver.js';

const DAY = 86_400_000;

describe('connection.expiring webhook', () => {
  let w: World;
  let baton: Baton;
  let server: BatonServer;
  let hooks: HookReceiver;
  let bodies: string[] = [];
  const logs = new Capture();

  beforeAll(async () => {
    w = await world();
    baton = await w.open({
      providers: {
        ...w.profile.providers,
        // Checkfront's 14 days unused, capped here at 10 days from the authorization.
        checkfront: {
          ...w.profile.providers['checkfront'],
          refreshTokenLifetime: { seconds: 14 * 86_400, sliding: true, absoluteSeconds: 10 * 86_400 },
        },
      },
    });
    hooks = await hookReceiver();
    bodies = hooks.bodies;
    server = await startServer({
      instance: baton,
      store: `sqlite:${w.dbPath}`,
      port: 0,
      keeper: false,
      logStream: logs,
      webhooks: { pollMs: 100 },
    });
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await hooks?.close();
    await w?.close();
  });

  it('is delivered once, with the grant’s ends and a reconnect link for the still-active connection', async () => {
    const { key } = await createCallerKey(server.serverStore, {
      name: 'app',
      allow: ['*'],
      ops: ['read', 'manage'],
    });
    const endpoint = await call(server.url, 'POST', '/v1/webhooks', key, {
      url: hooks.url,
      events: ['connection.expiring'],
    });
    expect(endpoint.status).toBe(201);
    await authorize(w, { provider: 'checkfront', connectionId: 'acme', params: { company: 'acme' } }, baton);
    // The first refresh finds the absolute end within 14 days (the default), and notes it.
    await baton.refresh('acme', { force: true });
    await baton.refresh('acme', { force: true });
    const end = Date.now() + 15_000;
    while (bodies.length < 1) {
      if (Date.now() > end) throw new Error(`no delivery:\n${logs.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const event = JSON.parse(bodies[0] as string) as WebhookEvent;
    const lifetime = await baton.lifetime('acme');
    expect(event.type).toBe('connection.expiring');
    expect(event.data.connection).toMatchObject({ id: 'acme', status: 'active' });
    expect(event.data.lifetime?.absoluteExpiresAt).toBe(lifetime?.absoluteExpiresAt);
    expect(event.data.lifetime?.absoluteExpiresAt).toBe((lifetime?.authorizedAt as number) + 10 * DAY);
    expect(event.data.reconnect?.url).toMatch(/\/connect\/cst_/);
    const page = await fetch(event.data.reconnect?.url as string, { redirect: 'manual' });
    await page.text();
    expect([200, 303]).toContain(page.status);
    const secrets = await baton.reveal('acme');
    for (const s of [secrets.tokens?.accessToken, secrets.tokens?.refreshToken])
      expect(bodies[0]).not.toContain(s as string);
    // Once per grant: the second refresh wrote no second event.
    const deliveries = await call(server.url, 'GET', '/v1/webhooks/deliveries', key);
    expect(JSON.stringify(deliveries.json).match(/connection\.expiring/g)?.length).toBe(1);
  }, 30_000);
});
