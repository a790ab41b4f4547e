import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { createCallerKey } from '../../src/server/keys.js';
import { openApiPath } from '../../src/server/openapi.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { apiKeyFor, consent, type World, world } from '../helpers/sim-baton.js';
import { Capture, call, echoServer } from './helpers.js';

let w: World;
let baton: Baton;
let server: BatonServer;
let upstream: Awaited<ReturnType<typeof echoServer>>;
const logs = new Capture();
const keys: Record<string, string> = {};
const secrets: string[] = [];

beforeAll(async () => {
  w = await world();
  upstream = await echoServer();
  baton = await w.open({
    providers: {
      ...w.profile.providers,
      echo: {
        displayName: 'Echo',
        apiBaseUrl: `${upstream.url}/base/`,
        apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
        authModes: ['api_key'],
      },
    },
  });
  server = await startServer({
    instance: baton,
    store: `sqlite:${w.dbPath}`,
    port: 0,
    keeper: false,
    logStream: logs,
    logLevel: 'debug',
    cacheTtlMs: 100,
  });
  const make = async (name: string, allow: string[], ops: ('read' | 'token' | 'proxy' | 'manage')[]) => {
    keys[name] = (await createCallerKey(server.serverStore, { name, allow, ops })).key;
    secrets.push(keys[name] as string);
  };
  await make('admin', ['*'], ['read', 'token', 'proxy', 'manage']);
  await make('acme', ['acme-*'], ['read', 'token', 'proxy']);
  await make('cronofy', ['provider:cronofy'], ['read', 'token', 'proxy']);
  await make('reader', ['*'], ['read']);
  await make('off', ['*'], ['read', 'token', 'proxy', 'manage']);
  await server.serverStore.setKeyDisabled('off', true);

  // A static connection on the echo upstream, and an OAuth one authorized through the server.
  const planted = 'planted-api-key-5b1e0c7d9a';
  secrets.push(planted);
  const made = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
    id: 'acme-echo',
    provider: 'echo',
    credentials: { apiKey: planted },
  });
  expect(made.status).toBe(201);
  const cf = apiKeyFor(w, 'checkfront', { company: 'acme' });
  secrets.push(cf.apiKey, cf.apiSecret as string);
  expect(
    (
      await call(server.url, 'POST', '/v1/connections', keys['admin'], {
        id: 'globex-cf',
        provider: 'checkfront',
        params: { company: 'acme' },
        credentials: { apiKey: cf.apiKey, apiSecret: cf.apiSecret },
      })
    ).status,
  ).toBe(201);
  const begun = await call(server.url, 'POST', '/v1/connections/cal-1/authorize', keys['admin'], {
    provider: 'cronofy',
  });
  expect(begun.status).toBe(200);
  const location = new URL(await consent(begun.json['url'] as string, 'approve'));
  const done = await call(server.url, 'GET', `/v1/callback${location.search}`);
  expect(done.status).toBe(200);
  expect(done.json['status']).toBe('active');
  for (const c of Object.values(w.profile.clients).flat()) if (c.clientSecret) secrets.push(c.clientSecret);
}, 30_000);

afterAll(async () => {
  await server?.close();
  await upstream?.close();
  await w?.close();
});

describe('token release and proxy', () => {
  it('releases an OAuth token, and the header to send for a static mode', async () => {
    const released = await call(server.url, 'POST', '/v1/connections/cal-1/token', keys['cronofy']);
    expect(released.status).toBe(200);
    expect(released.json['tokenType']).toBe('Bearer');
    expect(typeof released.json['accessToken']).toBe('string');
    expect(released.json['expiresAt']).toBeGreaterThan(w.sim.clock.now());
    secrets.push(released.json['accessToken'] as string);
    const refresh = (await baton.reveal('cal-1')).tokens?.refreshToken;
    if (refresh) secrets.push(refresh);
    const stat = await call(server.url, 'POST', '/v1/connections/acme-echo/token', keys['acme']);
    expect(stat.json['accessToken']).toBeNull();
    expect(stat.json['headers']).toEqual({ 'x-api-key': 'planted-api-key-5b1e0c7d9a' });
  });

  it('proxies with the connection’s credentials, dropping the caller’s Authorization and hop-by-hop headers', async () => {
    upstream.seen.length = 0;
    const raw = await rawRequest(
      server.url,
      `POST /v1/proxy/acme-echo/items/7?q=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${keys['acme']}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Api-Key: caller-chosen\r\nConnection: x-private, close\r\nX-Private: hop\r\nTE: trailers\r\nX-Keep: kept\r\n\r\nhello`,
    );
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(raw.toLowerCase()).toContain('x-upstream: yes');
    expect(raw).toContain('"url":"/base/items/7?q=1"');
    expect(raw).toContain('"body":"hello"');
    const seen = upstream.seen[0];
    expect(seen?.headers['x-api-key']).toBe('planted-api-key-5b1e0c7d9a');
    expect(seen?.headers['authorization']).toBeUndefined();
    expect(seen?.headers['x-private']).toBeUndefined();
    expect(seen?.headers['te']).toBeUndefined();
    expect(seen?.headers['x-keep']).toBe('kept');
  });

  it('streams bodies both ways: the first bytes arrive before the upstream has finished, 5 MB intact', async () => {
    const auth = { authorization: `Bearer ${keys['acme']}` };
    const res = await request(`${server.url}/v1/proxy/acme-echo/stream/${5 * 1024 * 1024}`, {
      headers: auth,
    });
    expect(res.statusCode).toBe(200);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect((first.value as Buffer).length).toBeGreaterThan(0);
    // The upstream holds the rest until told: a proxy that buffered would never have answered.
    await (await request(`${upstream.url}/base/release`)).body.dump();
    let total = (first.value as Buffer).length;
    for (let next = await it.next(); !next.done; next = await it.next())
      total += (next.value as Buffer).length;
    expect(total).toBe(5 * 1024 * 1024);

    const upload = Readable.from(
      (function* () {
        for (let i = 0; i < 256; i++) yield Buffer.alloc(16_384, 0x62);
      })(),
    );
    const counted = await request(`${server.url}/v1/proxy/acme-echo/count`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: upload,
    });
    expect(counted.statusCode).toBe(200);
    expect(await counted.body.json()).toEqual({ n: 256 * 16_384 });
  });

  it('proxies an OAuth API call through the simulator', async () => {
    const res = await call(server.url, 'GET', '/v1/proxy/cal-1/v1/userinfo', keys['cronofy']);
    expect(res.status).toBe(200);
    expect(res.json['sub']).toBeDefined();
  });

  it.each([
    ['../escape', 400],
    ['a/%2e%2e/b', 400],
    ['a%2fb', 400],
    ['a%5cb', 400],
    ['https://evil.example/x', 400],
    ['user@evil.example/x', 400],
  ])('refuses the path escape %s before anything is sent', async (path, status) => {
    upstream.seen.length = 0;
    const raw = await rawRequest(
      server.url,
      `GET /v1/proxy/acme-echo/${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${keys['acme']}\r\nConnection: close\r\n\r\n`,
    );
    expect(raw.split('\r\n')[0]).toContain(String(status));
    expect(raw).toContain('application/problem+json');
    expect(upstream.seen).toHaveLength(0);
  });

  it('refuses a header carrying CR/LF (header injection) before anything is sent', async () => {
    upstream.seen.length = 0;
    const raw = await rawRequest(
      server.url,
      `GET /v1/proxy/acme-echo/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${keys['acme']}\r\nX-A: a\rX-Api-Key: injected\r\nConnection: close\r\n\r\n`,
    );
    expect(raw.split('\r\n')[0]).toContain('400');
    expect(upstream.seen).toHaveLength(0);
  });
});

describe('who may ask', () => {
  const cases: [string, string, string, unknown?][] = [
    ['GET', '/v1/connections/acme-echo', 'read'],
    ['POST', '/v1/connections/acme-echo/token', 'token'],
    ['GET', '/v1/proxy/acme-echo/x', 'proxy'],
    ['POST', '/v1/connections/acme-echo/refresh', 'manage', {}],
    ['POST', '/v1/connections/acme-echo/revoke', 'manage'],
    ['DELETE', '/v1/connections/acme-echo', 'manage'],
    [
      'POST',
      '/v1/connections',
      'manage',
      { id: 'acme-new', provider: 'echo', credentials: { apiKey: 'k-123456789' } },
    ],
    ['POST', '/v1/connections/acme-x/authorize', 'manage', { provider: 'cronofy' }],
    ['GET', '/v1/connections', 'read'],
  ];

  it.each(cases)(
    '%s %s: no key, a wrong key, a disabled key → 401; nothing released or proxied',
    async (method, path, _op, body) => {
      upstream.seen.length = 0;
      for (const key of [undefined, 'bk_wrong', keys['off']]) {
        const res = await call(server.url, method, path, key, body);
        expect(res.status).toBe(401);
        expect(res.type).toContain('application/problem+json');
        expect(res.json['code']).toBe('unauthorized');
        expect(res.json).not.toHaveProperty('accessToken');
      }
      expect(upstream.seen).toHaveLength(0);
      expect((await baton.get('acme-echo')).status).toBe('active');
    },
  );

  it.each(cases.filter((c) => c[0] !== 'GET' || c[1] !== '/v1/connections'))(
    '%s %s: a key out of scope or without the operation → 403',
    async (method, path, op, body) => {
      upstream.seen.length = 0;
      // cronofy's key covers only cronofy connections; reader holds only `read`.
      const out = await call(server.url, method, path, keys['cronofy'], body);
      expect(out.status).toBe(403);
      expect(out.json['code']).toBe('forbidden');
      if (op !== 'read') {
        const noOp = await call(server.url, method, path, keys['reader'], body);
        expect(noOp.status).toBe(403);
      }
      expect(upstream.seen).toHaveLength(0);
      expect((await baton.get('acme-echo')).status).toBe('active');
    },
  );

  it('lists only what the key may see, filtered and paginated', async () => {
    const acme = await call(server.url, 'GET', '/v1/connections', keys['acme']);
    expect((acme.json['items'] as { id: string }[]).map((c) => c.id)).toEqual(['acme-echo']);
    const page = await call(server.url, 'GET', '/v1/connections?limit=1', keys['admin']);
    expect((page.json['items'] as unknown[]).length).toBe(1);
    const next = await call(
      server.url,
      'GET',
      `/v1/connections?limit=10&cursor=${page.json['nextCursor']}`,
      keys['admin'],
    );
    expect((next.json['items'] as { id: string }[]).map((c) => c.id)).not.toContain(
      (page.json['items'] as { id: string }[])[0]?.id,
    );
    const byProvider = await call(server.url, 'GET', '/v1/connections?provider=cronofy', keys['admin']);
    expect((byProvider.json['items'] as { id: string }[]).map((c) => c.id)).toEqual(['cal-1']);
  });

  it('pages through the store for a narrow key: every allowed id once, in order, nothing else', async () => {
    const ids: string[] = [];
    const all: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = `page-${i % 3 === 0 ? 'mine' : 'other'}-${String(i).padStart(2, '0')}`;
      all.push(id);
      if (id.includes('mine')) ids.push(id);
      const made = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
        id,
        provider: 'echo',
        credentials: { apiKey: `page-key-${i}` },
      });
      expect(made.status).toBe(201);
    }
    keys['pager'] = (
      await createCallerKey(server.serverStore, { name: 'pager', allow: ['page-mine-*'], ops: ['read'] })
    ).key;
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const res = await call(
        server.url,
        'GET',
        `/v1/connections?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        keys['pager'],
      );
      expect(res.status).toBe(200);
      const items = res.json['items'] as { id: string }[];
      expect(items.length).toBeLessThanOrEqual(3);
      seen.push(...items.map((c) => c.id));
      cursor = res.json['nextCursor'] as string | null;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(ids.sort());
    for (const id of all) await baton.remove(id);
  });

  it('404 for an unknown connection in scope', async () => {
    const res = await call(server.url, 'POST', '/v1/connections/acme-missing/token', keys['acme']);
    expect(res.status).toBe(404);
    expect(res.json['code']).toBe('connection_not_found');
  });

  it('a key disabled while in use stops working within the cache interval', async () => {
    const { key } = await createCallerKey(server.serverStore, {
      name: 'soon-off',
      allow: ['*'],
      ops: ['token'],
    });
    secrets.push(key);
    expect((await call(server.url, 'POST', '/v1/connections/acme-echo/token', key)).status).toBe(200);
    await server.serverStore.setKeyDisabled('soon-off', true);
    await new Promise((r) => setTimeout(r, 250));
    expect((await call(server.url, 'POST', '/v1/connections/acme-echo/token', key)).status).toBe(401);
  });

  it('the provider kill switch refuses releases and proxied calls with a clear 403', async () => {
    await server.serverStore.disableProvider('echo', Date.now());
    await new Promise((r) => setTimeout(r, 250));
    const res = await call(server.url, 'POST', '/v1/connections/acme-echo/token', keys['acme']);
    expect(res.status).toBe(403);
    expect(res.json['code']).toBe('provider_disabled');
    expect(res.json['remediation']).toContain('baton providers enable echo');
    await server.serverStore.enableProvider('echo');
    await new Promise((r) => setTimeout(r, 250));
    expect((await call(server.url, 'POST', '/v1/connections/acme-echo/token', keys['acme'])).status).toBe(
      200,
    );
  });
});

describe('operations', () => {
  it('healthz and readyz answer', async () => {
    expect((await call(server.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(server.url, 'GET', '/readyz')).json).toEqual({ status: 'ready' });
  });

  it('serves an OpenAPI 3.1 document that describes exactly the routes the server answers, pages and operations included', async () => {
    const doc = (await call(server.url, 'GET', '/v1/openapi.json')).json as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
    );
    // Every route fastify registered (its onRoute hook): nothing served goes undocumented.
    const served = new Set(server.routes.map((r) => `${r.method} ${openApiPath(r.url)}`));
    expect([...documented].sort()).toEqual([...served].sort());
    for (const path of [
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/openapi.json',
      '/connect/{token}',
      '/connect/s/{id}',
    ])
      expect(Object.keys(doc.paths)).toContain(path);
    const form = doc.paths['/connect/s/{id}']?.['post'] as {
      requestBody: { content: Record<string, unknown> };
    };
    expect(Object.keys(form.requestBody.content)).toEqual(['application/x-www-form-urlencoded']);
  });

  it('writes an audit row for releases, proxied calls, management and refusals — never a credential', async () => {
    await new Promise((r) => setTimeout(r, 400));
    const rows = await server.serverStore.audit({ limit: 10_000 });
    const ops = new Set(rows.map((r) => r.operation));
    for (const op of ['token', 'proxy', 'create', 'authorize', 'callback']) expect(ops).toContain(op);
    expect(rows.some((r) => r.outcome === 'unauthorized' && r.keyName === null)).toBe(true);
    expect(rows.some((r) => r.outcome === 'forbidden' && r.keyName === 'cronofy')).toBe(true);
    expect(rows.some((r) => r.operation === 'token' && r.outcome === 'ok' && r.keyName === 'acme')).toBe(
      true,
    );
    const text = JSON.stringify(rows);
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it('metrics are prefixed baton_ and carry no secret; logs carry none either', async () => {
    const metrics = (await call(server.url, 'GET', '/metrics')).text;
    expect(metrics).toContain('baton_token_releases_total{status="200"}');
    expect(metrics).toContain('baton_proxy_requests_total');
    expect(metrics).toContain('baton_connections{provider="cronofy",status="active"} 1');
    expect(metrics).toContain('baton_token_endpoint_seconds_count{provider="cronofy"}');
    for (const line of metrics.split('\n'))
      if (line && !line.startsWith('#')) expect(line).toMatch(/^baton_/);
    expect(logs.text).toContain('"msg":"request"');
    for (const s of secrets) {
      expect(metrics).not.toContain(s);
      expect(logs.text).not.toContain(s);
      expect(logs.text).not.toContain(Buffer.from(s).toString('base64'));
    }
  });

  it('problem documents carry no secret', async () => {
    const docs = [
      await call(server.url, 'POST', '/v1/connections/acme-echo/token', `${keys['acme']}x`),
      await call(server.url, 'GET', '/v1/proxy/acme-echo/..%2fx', keys['acme']),
      await call(server.url, 'POST', '/v1/connections', keys['admin'], {
        id: 'x',
        provider: 'nope',
        credentials: { apiKey: 'whatever-123' },
      }),
    ];
    for (const d of docs) {
      expect(d.status).toBeGreaterThanOrEqual(400);
      for (const s of secrets) expect(d.text).not.toContain(s);
    }
  });
});

function rawRequest(base: string, text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => {
      out += d.toString();
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}
