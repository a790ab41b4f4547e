import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ConfigError, NetworkError, ReauthorizationRequired } from '../../src/errors.js';
import { UnsafeApiPath } from '../../src/providers/api-url.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';

/**
 * `baton.request` — undici's `request()` shape — keeps every promise `baton.fetch` makes
 * (README, "Library"): credentials per auth mode, the redirect policy, the 401 rule, the
 * timeout. The server's proxy forwards through it.
 */

const HOUR = 3_600_000;

describe('baton.request against the simulator', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => w.close());

  it('sends the connection’s bearer token and answers with a Node stream', async () => {
    const res = await w.baton.request('alice', 'v1/userinfo');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBeInstanceOf(Readable);
    const body = (await res.body.json()) as Record<string, unknown>;
    expect(body['sub']).toEqual(expect.any(String));
    expect(body['cronofy.data']).toEqual({ data_center: 'us' });
  });

  it('a token the provider expired early: one refresh, one retry, 200', async () => {
    await w.baton.getAccessToken('alice');
    w.sim.expireAccessTokens({ vendor: 'cronofy' });
    const res = await w.baton.request('alice', 'v1/userinfo');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
  });

  it('a body that cannot be replayed gets the 401 back, and the rejected token is never handed out again', async () => {
    const rejected = await w.baton.getAccessToken('alice');
    w.sim.expireAccessTokens({ vendor: 'cronofy' });
    const res = await w.baton.request('alice', 'v1/userinfo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.from([Buffer.from('{}')]),
    });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    expect(await w.baton.getAccessToken('alice')).not.toBe(rejected);
  });

  it('a revoked grant is ReauthorizationRequired and no request goes out with the dead token', async () => {
    w.sim.revokeGrants({ vendor: 'cronofy' });
    w.sim.clock.advance(HOUR + 1000);
    const before = w.sim.counters().api.cronofy;
    await expect(w.baton.request('alice', 'v1/userinfo')).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect(w.sim.counters().api.cronofy).toBe(before);
  });

  it('a socket dropped under a GET is sent once more; under a POST it is a NetworkError with no secret', async () => {
    const token = await w.baton.getAccessToken('alice');
    const before = w.sim.counters().api.cronofy;
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'drop', count: 1 });
    const res = await w.baton.request('alice', 'v1/userinfo');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'drop', count: 1 });
    const err = await w.baton
      .request('alice', 'v1/userinfo', { method: 'POST', body: '{}' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(JSON.stringify((err as NetworkError).toJSON())).not.toContain(token);
    expect(w.sim.counters().api.cronofy - before).toBe(3);
  });

  it('an API answering HTML is handed back as it came, not parsed', async () => {
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'html', count: 1 });
    const res = await w.baton.request('alice', 'v1/userinfo');
    expect(res.statusCode).toBeGreaterThanOrEqual(200);
    expect(String(res.headers['content-type'])).toContain('html');
    expect(await res.body.text()).toMatch(/<html/i);
  });

  it('a silent API is a NetworkError naming the per-call limit', async () => {
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'delay', delayMs: 120_000 });
    const err = await w.baton.request('alice', 'v1/account', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).message).toContain('300 ms');
  }, 10_000);

  it('the caller’s abort (an EventEmitter, as undici accepts) is passed on, not turned into a NetworkError', async () => {
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'api', kind: 'delay', delayMs: 120_000 });
    const signal = new EventEmitter();
    const pending = w.baton.request('alice', 'v1/account', { signal });
    setTimeout(() => signal.emit('abort'), 100);
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NetworkError);
  }, 10_000);
});

describe('baton.request keeps credentials on the API host', () => {
  const servers: Server[] = [];
  const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('hands back a redirect to a foreign host unfollowed; a permanent one to an allowed host moves the base', async () => {
    const foreignSeen: (string | undefined)[] = [];
    const foreign = await listen((req, res) => {
      foreignSeen.push(req.headers.authorization);
      res.end('foreign');
    });
    const moved = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ at: 'moved', auth: req.headers.authorization ?? null }));
    });
    const api = await listen((req, res) => {
      if (req.url === '/api/echo') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            auth: req.rawHeaders.filter((_, i, a) => a[i - 1]?.toLowerCase() === 'authorization'),
            extra: req.headers['x-extra'],
          }),
        );
      } else if (req.url === '/api/leave') res.writeHead(302, { location: `${foreign}/stolen` }).end();
      else if (req.url === '/api/move') res.writeHead(301, { location: `${moved}/api/move` }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"at":"api"}');
    });
    const { dir, cleanup } = tempDir();
    const baton = await Baton.open({
      store: `sqlite:${dir}/b.db`,
      secretKey: randomKey(),
      env: {},
      providers: {
        keyed: {
          displayName: 'Keyed',
          authModes: ['api_key'],
          apiBaseUrl: `${api}/api/`,
          apiKeyAuth: { header: 'Authorization', template: 'Token {apiKey}' },
          redirectAuthHosts: [new URL(moved).host],
        },
      },
    });
    try {
      await baton.connect({
        provider: 'keyed',
        connectionId: 'k',
        credentials: { apiKey: 'planted-key-4242' },
      });
      // A credential header the caller sent, in any case, is replaced: exactly one goes out.
      const echo = await baton.request('k', 'echo', {
        headers: { AUTHORIZATION: 'Token from-the-caller', 'x-extra': 'kept' },
      });
      expect(await echo.body.json()).toEqual({ auth: ['Token planted-key-4242'], extra: 'kept' });

      const left = await baton.request('k', 'leave');
      expect(left.statusCode).toBe(302);
      await left.body.dump();
      expect(foreignSeen).toEqual([]);
      await expect(baton.request('k', `${foreign}/direct`)).rejects.toBeInstanceOf(ConfigError);
      expect(foreignSeen).toEqual([]);

      const res = await baton.request('k', 'move');
      expect(await res.body.json()).toEqual({ at: 'moved', auth: 'Token planted-key-4242' });
      expect((await baton.get('k')).apiBaseUrl).toBe(`${moved}/api/`);
    } finally {
      await baton.close();
      cleanup();
    }
  });

  it('for a relay (the server’s proxy): relativeOnly refuses a host before anything is sent; dropCredentialHeaders drops the credential’s header and any header echoing it', async () => {
    const seen: string[] = [];
    const api = await listen((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, {
        'content-type': 'text/plain',
        // The credential's own header, whatever it holds, and an echo under another name.
        'x-vendor-key': 'not-the-key',
        'x-debug': `sent with ${String(req.headers['x-vendor-key'])} attached`,
        'x-plain': 'kept',
      });
      res.end('ok');
    });
    const { dir, cleanup } = tempDir();
    const baton = await Baton.open({
      store: `sqlite:${dir}/b.db`,
      secretKey: randomKey(),
      env: {},
      providers: {
        vendor: {
          displayName: 'Vendor',
          authModes: ['api_key'],
          apiBaseUrl: `${api}/api/`,
          apiKeyAuth: { header: 'X-Vendor-Key', template: '{apiKey}' },
        },
      },
    });
    try {
      await baton.connect({
        provider: 'vendor',
        connectionId: 'v',
        credentials: { apiKey: 'planted-key-5151' },
      });
      for (const path of [`${api}/api/x`, 'user@evil.test/x']) {
        const err = await baton.request('v', path, { relativeOnly: true }).catch((e: unknown) => e);
        expect(err, path).toBeInstanceOf(UnsafeApiPath);
        expect((err as UnsafeApiPath).connectionId).toBe('v');
      }
      expect(seen).toEqual([]);

      const kept = await baton.request('v', 'x');
      expect(kept.headers['x-vendor-key']).toBe('not-the-key');
      await kept.body.dump();
      const res = await baton.request('v', 'x', { relativeOnly: true, dropCredentialHeaders: true });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-vendor-key']).toBeUndefined();
      expect(res.headers['x-debug']).toBeUndefined();
      expect(res.headers['x-plain']).toBe('kept');
      expect(await res.body.text()).toBe('ok');
      expect(seen).toEqual(['/api/x', '/api/x']);
    } finally {
      await baton.close();
      cleanup();
    }
  });
});
