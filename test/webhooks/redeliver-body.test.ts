/**
 * A redelivered webhook carries the same body as its first delivery (README, "Webhooks"): the
 * body, with its reconnect link, is fixed when the delivery is written, and the link stays
 * valid for the retry window — on every engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { apiKeyFor, type World, world } from '../helpers/sim-baton.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { Capture, call } from '../server/helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';
import { type HookReceiver, hookReceiver } from './receiver.js';

const ENGINES = PG_URL ? (['memory', 'sqlite', 'postgres'] as const) : (['memory', 'sqlite'] as const);

describe.each(ENGINES)('on %s', (engine) => {
  let w: World;
  let baton: Baton;
  let server: BatonServer;
  let hooks: HookReceiver;
  let schema = '';
  let bodies: string[] = [];
  const logs = new Capture();

  beforeAll(async () => {
    w = await world();
    let spec = `sqlite:${w.dbPath}`;
    if (engine === 'memory') spec = 'memory:';
    if (engine === 'postgres') {
      schema = uniqueSchema();
      spec = `${PG_URL}${(PG_URL as string).includes('?') ? '&' : '?'}schema=${schema}`;
    }
    baton = engine === 'sqlite' ? w.baton : await w.open({ store: spec });
    hooks = await hookReceiver();
    bodies = hooks.bodies;
    server = await startServer({
      instance: baton,
      store: spec,
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
    if (engine === 'postgres') await dropSchema(schema);
  });

  it('a manual redelivery sends the first delivery’s bytes, reconnect link included, valid for the retry window', async () => {
    const { key } = await createCallerKey(server.serverStore, {
      name: 'app',
      allow: ['*'],
      ops: ['read', 'manage'],
    });
    const endpoint = await call(server.url, 'POST', '/v1/webhooks', key, {
      url: hooks.url,
      events: ['connection.revoked'],
    });
    expect(endpoint.status).toBe(201);
    const cf = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const made = await call(server.url, 'POST', '/v1/connections', key, {
      id: 'acme-cf',
      provider: 'checkfront',
      params: { company: 'acme' },
      credentials: { apiKey: cf.apiKey, apiSecret: cf.apiSecret },
    });
    expect(made.status).toBe(201);
    const before = Date.now();
    expect((await call(server.url, 'POST', '/v1/connections/acme-cf/revoke', key)).status).toBe(200);
    const arrived = async (n: number) => {
      const end = Date.now() + 15_000;
      while (bodies.length < n) {
        if (Date.now() > end) throw new Error(`${bodies.length} deliveries arrived, not ${n}:\n${logs.text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await arrived(1);
    const first = JSON.parse(bodies[0] as string) as {
      id: string;
      data: { reconnect?: { url: string; expiresAt: number } };
    };
    expect(first.data.reconnect?.url).toMatch(/\/connect\/cst_/);
    // Valid for the retry window (24 h by default), the event's lifetime.
    expect(first.data.reconnect?.expiresAt).toBeGreaterThanOrEqual(before + 86_400_000 - 60_000);
    const again = await call(server.url, 'POST', `/v1/webhooks/deliveries/${first.id}/redeliver`, key);
    expect(again.status).toBe(200);
    await arrived(2);
    expect(bodies[1]).toBe(bodies[0]);
    // The link still opens its page.
    const page = await fetch(first.data.reconnect?.url as string, { redirect: 'manual' });
    await page.text();
    expect([200, 303]).toContain(page.status);
  }, 30_000);
});

describe.runIf(PG_URL)('on postgres, cut off from its store', () => {
  it('an event written while the replica cannot reach the store is delivered once it can; the replica keeps serving', async () => {
    const w = await world();
    const schema = uniqueSchema();
    const target = new URL(PG_URL as string);
    const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
    const direct = `${PG_URL}${(PG_URL as string).includes('?') ? '&' : '?'}schema=${schema}`;
    const via = new URL(direct);
    via.host = `127.0.0.1:${proxy.port}`;
    const hooks = await hookReceiver();
    const bodies = hooks.bodies;
    const logs = new Capture();
    const baton = await w.open({ store: via.toString() });
    const server = await startServer({
      instance: baton,
      store: via.toString(),
      port: 0,
      keeper: false,
      logStream: logs,
      webhooks: { pollMs: 100 },
    });
    const other = await w.open({ store: direct });
    try {
      const { key } = await createCallerKey(server.serverStore, {
        name: 'app',
        allow: ['*'],
        ops: ['read', 'manage'],
      });
      const port = hooks.port;
      expect(
        (
          await call(server.url, 'POST', '/v1/webhooks', key, {
            url: `http://127.0.0.1:${port}/h`,
            events: ['*'],
          })
        ).status,
      ).toBe(201);
      const cf = apiKeyFor(w, 'checkfront', { company: 'acme' });
      await other.connect({
        connectionId: 'acme-cf',
        provider: 'checkfront',
        params: { company: 'acme' },
        credentials: { apiKey: cf.apiKey, apiSecret: cf.apiSecret as string },
      });
      const wait = async (what: string, ok: () => boolean | Promise<boolean>) => {
        const end = Date.now() + 20_000;
        while (!(await ok())) {
          if (Date.now() > end) throw new Error(`${what}:\n${logs.text.slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await wait('the created event delivered', () => bodies.length === 1);
      proxy.down();
      // Written by another process straight to the store while this replica is cut off.
      await other.revoke('acme-cf');
      expect((await call(server.url, 'GET', '/readyz')).status).toBe(503);
      await new Promise((r) => setTimeout(r, 500));
      expect(bodies.length).toBe(1);
      proxy.up();
      await wait('the revoked event delivered', () => bodies.length === 2);
      expect(JSON.parse(bodies[1] as string).type).toBe('connection.revoked');
      await wait('ready again', async () => (await call(server.url, 'GET', '/readyz')).status === 200);
      expect((await call(server.url, 'GET', '/v1/connections/acme-cf', key)).json['status']).toBe('revoked');
      expect(logs.text).toContain('webhook pass failed');
    } finally {
      await server.close();
      await proxy.close();
      await hooks.close();
      await w.close();
      await dropSchema(schema);
    }
  }, 60_000);
});
