import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookDeliverer } from '../../src/server/webhooks/deliverer.js';
import { createEndpoint } from '../../src/server/webhooks/endpoints.js';
import { MemoryWebhookStore } from '../../src/server/webhooks/store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { Sealer } from '../../src/store/sealer.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('WebhookDeliverer', () => {
  it('a delivery failing past the retry window is dead, with every attempt logged; a redelivery sends it', async () => {
    let status = 500;
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers['baton-event-id']));
      req.resume();
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const store = new MemoryWebhookStore();
    const outbox = new MemoryStore();
    const key = randomBytes(32);
    const sealer = new Sealer({ current: { id: 'k1', key } });
    const { endpoint } = await createEndpoint(store, sealer, {
      url: `http://127.0.0.1:${(server.address() as { port: number }).port}/h`,
    });
    const d = new WebhookDeliverer(
      {
        store,
        outbox: outbox.outbox,
        sealer,
        logger: pino({ level: 'silent' }) as unknown as FastifyBaseLogger,
        reconnectLink: async () => null,
      },
      { retry: { baseMs: 20, maxMs: 40, windowMs: 300 } },
    );
    closers.push(() => d.close());
    await outbox.put(
      {
        id: 'c',
        provider: 'checkbook',
        authMode: 'api_key',
        params: {},
        clientId: null,
        status: 'active',
        version: 0,
        sealed: 'x',
        accessTokenExpiresAt: null,
        refreshTokenExpiresAt: null,
        lastRefreshedAt: null,
        lastError: null,
        apiBaseUrl: null,
        account: null,
        scopes: null,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      },
      null,
      [
        {
          id: 'evt_1',
          type: 'connection.created',
          connectionId: 'c',
          createdAt: Date.now(),
          payload: JSON.stringify({
            id: 'evt_1',
            type: 'connection.created',
            createdAt: 1,
            data: { connection: { id: 'c', provider: 'checkbook' } },
          }),
        },
      ],
    );
    for (let i = 0; i < 100; i++) {
      await d.pass();
      const [dl] = await store.listDeliveries({});
      if (dl?.status === 'dead') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const [dead] = await store.listDeliveries({ status: 'dead' });
    expect(dead?.endpointId).toBe(endpoint.id);
    expect(await outbox.outbox.pending(10)).toEqual([]);
    const log = await store.attempts(dead?.id as string);
    expect(log.length).toBe(dead?.attempts);
    expect(log.length).toBeGreaterThan(2);
    expect(log.every((a) => a.status === 500)).toBe(true);
    expect((log.at(-1)?.at as number) - (dead?.retryFrom as number)).toBeGreaterThanOrEqual(250);
    // Nothing is attempted once dead, until someone redelivers it.
    const before = seen.length;
    await d.pass();
    expect(seen.length).toBe(before);
    status = 204;
    await store.redeliver('evt_1', Date.now());
    await d.pass();
    expect((await store.getDelivery(dead?.id as string))?.status).toBe('delivered');
    expect(seen.at(-1)).toBe('evt_1');
  });
});
