import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';
import { Capture, type Reflector, reflector } from './helpers.js';

/**
 * The proxy's edges (README, "Proxy"): what it drops in each direction — a credential echoed in
 * any response header, cookies both ways, the caller's key under any name — and its bound on an
 * upstream that stalls before or after its headers. On every store engine: the timeout's audit
 * row is written to it.
 */

const API_KEY = 'planted-proxy-key-7c41e9a2';
const BEARER = 'planted-bearer-tok-0d8e55f3';
const PAIR = { apiKey: 'planted-pair-id-91ab', apiSecret: 'planted-pair-secret-3f0c77' };
const BASIC = Buffer.from(`${PAIR.apiKey}:${PAIR.apiSecret}`).toString('base64');

const engines: [string, boolean][] = [
  ['memory', true],
  ['sqlite', true],
  ['postgres', Boolean(PG_URL)],
];

describe.each(engines)('the proxy’s edges on %s', (engine, available) => {
  let upstream: Reflector;
  let server: BatonServer;
  let key: string;
  let cleanup: () => void = () => undefined;
  let schema: string | null = null;
  const logs = new Capture();

  beforeAll(async () => {
    if (!available) return;
    upstream = await reflector();
    const dir = tempDir();
    cleanup = dir.cleanup;
    let store = 'memory:';
    if (engine === 'sqlite') store = `sqlite:${dir.dir}/baton.db`;
    if (engine === 'postgres') {
      schema = uniqueSchema();
      store = `${PG_URL}${(PG_URL as string).includes('?') ? '&' : '?'}schema=${schema}`;
    }
    const base = `${upstream.url}/base/`;
    server = await startServer({
      store,
      baton: {
        secretKey: randomKey(),
        env: { BATON_HOME: dir.dir },
        providers: {
          keyed: {
            apiBaseUrl: base,
            authModes: ['api_key'],
            apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
          },
          bearer: {
            apiBaseUrl: base,
            authModes: ['api_key'],
            apiKeyAuth: { header: 'Authorization', template: 'Bearer {apiKey}' },
          },
          paired: { apiBaseUrl: base, authModes: ['token_pair'] },
          cookied: {
            apiBaseUrl: base,
            authModes: ['api_key'],
            apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
            proxyCookies: true,
          },
        },
      },
      port: 0,
      keeper: false,
      webhooks: false,
      logStream: logs,
      logLevel: 'debug',
      proxyTimeoutMs: 300,
    });
    key = (
      await createCallerKey(server.serverStore, { name: 'p', allow: ['*'], ops: ['proxy', 'manage', 'read'] })
    ).key;
    await server.baton.connect({ connectionId: 'k', provider: 'keyed', credentials: { apiKey: API_KEY } });
    await server.baton.connect({ connectionId: 'b', provider: 'bearer', credentials: { apiKey: BEARER } });
    await server.baton.connect({ connectionId: 'p', provider: 'paired', credentials: PAIR });
    await server.baton.connect({ connectionId: 'c', provider: 'cookied', credentials: { apiKey: API_KEY } });
  }, 30_000);

  afterAll(async () => {
    for (const res of upstream?.open ?? []) res.destroy();
    await server?.close();
    await upstream?.close();
    if (schema) await dropSchema(schema);
    cleanup();
  });

  const proxy = async (id: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${server.url}/v1/proxy/${id}/${path}`, {
      headers: { authorization: `Bearer ${key}`, ...headers },
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  const planted = [API_KEY, BEARER, PAIR.apiKey, PAIR.apiSecret, BASIC];

  it.skipIf(!available).each([
    ['k', 'an X-Api-Key credential'],
    ['b', 'a Bearer credential in Authorization'],
    ['p', 'a token pair sent as HTTP Basic'],
  ])(
    'a response header echoing %s (%s) never reaches the caller, whatever its name or encoding',
    async (id) => {
      const res = await proxy(id, 'reflect');
      expect(res.status).toBe(200);
      for (const name of [
        'x-api-key',
        'x-auth-token',
        'x-access-token',
        'x-debug-echo',
        'x-echo-b64',
        'x-echo-url',
        'link',
      ]) {
        expect(res.headers[name], name).toBeUndefined();
      }
      // Headers without the credential pass, WWW-Authenticate's Bearer challenge included.
      expect(res.headers['x-plain']).toBe('kept');
      expect(res.headers['www-authenticate']).toContain('insufficient_scope');
      const text = JSON.stringify(res.headers) + res.text;
      for (const s of planted) {
        expect(text).not.toContain(s);
        expect(text).not.toContain(Buffer.from(s).toString('base64'));
        expect(text).not.toContain(encodeURIComponent(s));
      }
    },
  );

  it.skipIf(!available)('cookies are dropped both ways unless the provider opts in', async () => {
    upstream.seen.length = 0;
    const cookie = 'baton_connect=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; sid=caller-session';
    const dropped = await proxy('k', 'reflect', { cookie });
    expect(dropped.status).toBe(200);
    expect(upstream.seen[0]?.['cookie']).toBeUndefined();
    expect(dropped.headers['set-cookie']).toBeUndefined();
    const kept = await proxy('c', 'reflect', { cookie });
    expect(upstream.seen[1]?.['cookie']).toBe(cookie);
    expect(String(kept.headers['set-cookie'])).toContain('upstream_session=u-1');
  });

  it.skipIf(!available)(
    'the caller’s key goes upstream under no name; its hop-by-hop headers do not go either',
    async () => {
      upstream.seen.length = 0;
      const res = await proxy('k', 'reflect', {
        'x-forwarded-authorization': `Bearer ${key}`,
        'x-copy': `prefix ${key} suffix`,
        'proxy-authorization': 'Basic eDp5',
        'x-keep': 'kept',
      });
      expect(res.status).toBe(200);
      const seen = upstream.seen[0] as IncomingHttpHeaders;
      expect(seen['x-forwarded-authorization']).toBeUndefined();
      expect(seen['x-copy']).toBeUndefined();
      expect(seen['proxy-authorization']).toBeUndefined();
      expect(seen['x-keep']).toBe('kept');
      expect(seen['x-api-key']).toBe(API_KEY);
      expect(JSON.stringify(seen)).not.toContain(key);
    },
  );

  const auditRow = async (outcome: string, path: string) => {
    for (let i = 0; i < 100; i++) {
      const rows = await server.serverStore.audit({ limit: 1000 });
      const row = rows.find((r) => r.operation === 'proxy' && r.detail?.includes(path));
      if (row) {
        expect(row.outcome).toBe(outcome);
        return row;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no audit row for ${path}`);
  };

  it.skipIf(!available)(
    'an upstream that never sends its headers: a 504 problem and an audit row',
    async () => {
      const res = await proxy('k', 'stall-headers');
      expect(res.status).toBe(504);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const row = await auditRow('network_error', 'stall-headers');
      expect(row.status).toBe(504);
      expect(row.connectionId).toBe('k');
    },
  );

  it.skipIf(!available)(
    'an upstream that sends its headers and then stalls in a small body: a 504 problem and an audit row',
    async () => {
      const res = await proxy('k', 'stall-body');
      expect(res.status).toBe(504);
      const problem = JSON.parse(res.text) as Record<string, unknown>;
      expect(problem['code']).toBe('upstream_timeout');
      expect(problem['detail']).toContain('sent its response headers and then nothing');
      const row = await auditRow('upstream_timeout', 'stall-body');
      expect(row.status).toBe(504);
    },
  );

  it.skipIf(!available)(
    'a stall in a streamed body, the status already relayed: the stream is cut, and the audit row says so',
    async () => {
      const res = await request(`${server.url}/v1/proxy/k/stall-stream`, {
        headers: { authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(20_000),
      });
      expect(res.statusCode).toBe(200);
      const read = await res.body.text().then(
        () => 'complete',
        (err: unknown) => String((err as Error).message),
      );
      expect(read).not.toBe('complete');
      const row = await auditRow('upstream_timeout', 'stall-stream');
      expect(row.status).toBe(200);
      expect(row.detail).toContain('cut');
    },
  );

  it.skipIf(!available)('no planted credential in the logs or the audit log, in any encoding', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const rows = JSON.stringify(await server.serverStore.audit({ limit: 1000 }));
    for (const s of [...planted, key]) {
      for (const form of [s, Buffer.from(s).toString('base64'), encodeURIComponent(s)]) {
        expect(logs.text).not.toContain(form);
        expect(rows).not.toContain(form);
      }
    }
  });
});
