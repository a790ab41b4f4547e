import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { BatonError, ConfigError, NetworkError, StoreError } from '../../src/errors.js';
import { openStore } from '../../src/store/index.js';
import { ManualClock, randomKey, tempDir } from '../helpers/env.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { authorize, tokenCalls, type World, world } from '../helpers/sim-baton.js';

const HOUR = 3_600_000;

describe('persist before use', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
  });
  afterEach(async () => {
    await w.close();
  });

  it('keeps a rotated pair in memory when the store refuses it, and commits it later', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const inner = await openStore(`sqlite:${w.dbPath}`);
    const store = new FaultyStore(inner);
    const baton = await w.open({ store });
    const before = await baton.reveal('alice');
    w.sim.clock.advance(HOUR + 1000);

    store.failPuts = 100;
    // The rotated pair is the only valid one: it is journaled (sealed, fsynced) and served.
    const held = await baton.getAccessToken('alice');
    expect(held).not.toBe(before.tokens?.accessToken);
    expect(baton.pendingCommits).toEqual(['alice']);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    const journal = readFileSync(`${w.dbPath}.rescue`, 'utf8');
    expect(journal).toContain('"alice"');
    expect(journal).not.toContain(held);
    // An explicit refresh says the pair is not stored yet.
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(StoreError);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    // The store still holds the old pair, untouched.
    const stored = await inner.get('alice');
    expect(stored?.version).toBe((await w.baton.get('alice')).version);

    store.failPuts = 0;
    // The background retry commits it.
    for (let i = 0; i < 100 && baton.pendingCommits.length > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    const token = await baton.getAccessToken('alice');
    expect(token).toBe(held);
    expect(baton.pendingCommits).toEqual([]);
    expect(existsSync(`${w.dbPath}.rescue`)).toBe(false);
    // One token-endpoint call in all: the held pair was committed, not fetched again.
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    const after = await baton.reveal('alice');
    expect(after.tokens?.accessToken).toBe(token);
    expect(after.tokens?.refreshToken).not.toBe(before.tokens?.refreshToken);
    // And the rotated refresh token works for the next rotation.
    w.sim.clock.advance(HOUR + 1000);
    await baton.getAccessToken('alice');
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
    await inner.close();
  });

  it('commits a held pair in the background once the store is back', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const inner = await openStore(`sqlite:${w.dbPath}`);
    const store = new FaultyStore(inner);
    const baton = await w.open({ store });
    const refreshed: string[] = [];
    baton.on('refreshed', (i) => refreshed.push(i.id));
    w.sim.clock.advance(HOUR + 1000);
    store.failPuts = 4; // three commit attempts fail, the first background retry fails, the next succeeds
    const held = await baton.getAccessToken('alice');
    for (let i = 0; i < 100 && baton.pendingCommits.length > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(baton.pendingCommits).toEqual([]);
    expect(refreshed).toEqual(['alice']);
    const other = await w.open();
    const token = await other.getAccessToken('alice');
    expect(token).toBe(held);
    expect(token).toBe((await baton.reveal('alice')).tokens?.accessToken);
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(1);
    await inner.close();
  });

  it('reports a store that is down as StoreError and changes nothing', async () => {
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
    const inner = await openStore(`sqlite:${w.dbPath}`);
    const store = new FaultyStore(inner);
    const baton = await w.open({ store });
    store.down = true;
    const err = await baton.getAccessToken('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).remediation).toBeTruthy();
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(0);
    await inner.close();
  });
});

/** A token endpoint (and API) whose answers the test chooses. */
function fakeProvider(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => handler(req, body, res));
    });
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    });
  });
}

describe('fuzzed token responses', () => {
  let provider: { server: Server; url: string };
  let next: { status: number; body: string; type: string } = {
    status: 200,
    body: '{}',
    type: 'application/json',
  };
  const issued = { access_token: 'initial-access-token-0001', refresh_token: 'initial-refresh-token-0001' };

  beforeAll(async () => {
    provider = await fakeProvider((req, _body, res) => {
      if (req.url === '/token' && next.body === '__initial__') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...issued, token_type: 'bearer', expires_in: 3600 }));
        return;
      }
      res.writeHead(next.status, { 'content-type': next.type });
      res.end(next.body);
    });
  });
  afterAll(() => {
    provider.server.close();
  });

  it('turns any malformed refresh response into a typed error and leaves the stored connection exactly as it was', async () => {
    const { dir, cleanup } = tempDir();
    const clock = new ManualClock();
    const baton = await Baton.open({
      store: `sqlite:${dir}/b.db`,
      secretKey: randomKey(),
      clock,
      env: {},
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxCooldownMs: 1 },
      providers: {
        fuzz: {
          displayName: 'Fuzz',
          authModes: ['oauth2'],
          authorizationUrl: `${provider.url}/authorize`,
          tokenUrl: `${provider.url}/token`,
          apiBaseUrl: `${provider.url}/api/`,
        },
      },
      clients: { fuzz: { clientId: 'fuzz-client', clientSecret: 'fuzz-client-secret-123' } },
    });
    try {
      const begun = await baton.beginAuthorization({
        provider: 'fuzz',
        connectionId: 'f',
        redirectUri: 'http://127.0.0.1:1/cb',
      });
      next = { status: 200, body: '__initial__', type: 'application/json' };
      await baton.completeAuthorization({ state: begun.state, code: 'the-code' });
      const snapshot = await baton.store.get('f');
      const body = fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify({ access_token: v, token_type: 'bearer' })),
        fc.jsonValue().map((v) => JSON.stringify({ access_token: 'x', expires_in: v })),
        fc.constantFrom('', '<html><body>Bad Gateway</body></html>', '{"access_token": "abc', 'null', '[]'),
      );
      const status = fc.constantFrom(200, 400, 401, 403, 429, 500, 502, 503);
      let i = 0;
      await fc.assert(
        fc.asyncProperty(body, status, async (b, s) => {
          next = { status: s, body: b, type: 'application/json' };
          clock.advance(2 * HOUR + i++);
          try {
            await baton.refresh('f', { force: true });
            // A body that happened to be a valid token response: fine, but then restore the snapshot.
          } catch (err) {
            expect(err).toBeInstanceOf(BatonError);
            expect((err as BatonError).remediation.length).toBeGreaterThan(10);
            expect((err as Error).message).not.toContain('fuzz-client-secret-123');
            expect((err as Error).message).not.toContain(issued.refresh_token);
            const now = await baton.store.get('f');
            // Tokens untouched: same sealed secrets; only status/lastError may say what happened.
            expect(now?.sealed).toBe(snapshot?.sealed);
            expect(now?.accessTokenExpiresAt).toBe(snapshot?.accessTokenExpiresAt);
          }
          const current = await baton.store.get('f');
          if (current && current.sealed !== snapshot?.sealed) {
            await baton.store.put({ ...snapshot!, version: current.version }, current.version);
          }
          if (current?.status === 'needs_reauth') {
            const fresh = await baton.store.get('f');
            await baton.store.put({ ...fresh!, status: 'active' }, fresh!.version);
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      await baton.close();
      cleanup();
    }
  });
});

/** A Baton with one API-key connection "k" to a provider at `apiBaseUrl`. */
async function keyedConnection(
  apiBaseUrl: string,
  apiKey: string,
  apiKeyAuth = { header: 'Authorization', template: 'Token {apiKey}' },
) {
  const { dir, cleanup } = tempDir();
  const baton = await Baton.open({
    store: `sqlite:${dir}/b.db`,
    secretKey: randomKey(),
    env: {},
    providers: { keyed: { displayName: 'Keyed', authModes: ['api_key'], apiBaseUrl, apiKeyAuth } },
  });
  await baton.connect({ provider: 'keyed', connectionId: 'k', credentials: { apiKey } });
  return {
    baton,
    async close() {
      await baton.close();
      cleanup();
    },
  };
}

describe('credentials never leave the API host', () => {
  it('hands back a redirect to a foreign host without following it, and refuses absolute foreign URLs', async () => {
    const foreignSeen: (string | undefined)[] = [];
    const foreign = await fakeProvider((req, _b, res) => {
      foreignSeen.push(req.headers.authorization);
      res.end('foreign');
    });
    const api = await fakeProvider((req, _b, res) => {
      if (req.url?.startsWith('/api/leave')) {
        res.writeHead(301, { location: `${foreign.url}/stolen` });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ auth: req.headers.authorization ? 'present' : 'absent' }));
    });
    const { baton, close } = await keyedConnection(`${api.url}/api/`, 'planted-api-key-777');
    try {
      const ok = await baton.fetch('k', '/ping');
      expect(await ok.json()).toEqual({ auth: 'present' });
      const res = await baton.fetch('k', 'leave');
      expect(res.status).toBe(301);
      expect(foreignSeen).toEqual([]);
      expect((await baton.get('k')).apiBaseUrl).toBeNull();
      await expect(baton.fetch('k', `${foreign.url}/direct`)).rejects.toBeInstanceOf(ConfigError);
      expect(foreignSeen).toEqual([]);
    } finally {
      await close();
      api.server.close();
      foreign.server.close();
    }
  });
});

describe('a kept-alive socket closed under a request', () => {
  it('sends an idempotent request once more on a fresh socket, and never a POST', async () => {
    let requests = 0;
    let posts = 0;
    // Every other request: the server closes the socket without answering.
    const server = createNetServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        requests++;
        if (chunk.toString().startsWith('POST')) posts++;
        if (requests % 2 === 1) {
          socket.destroy();
          return;
        }
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{"ok":true}',
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { baton, close } = await keyedConnection(`${url}/`, 'planted-key-31337', {
      header: 'x-api-key',
      template: '{apiKey}',
    });
    try {
      const res = await baton.fetch('k', 'ping');
      expect(await res.json()).toEqual({ ok: true });
      expect(requests).toBe(2);
      const err = await baton.fetch('k', 'charge', { method: 'POST', body: '{}' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).message).toMatch(/UND_ERR_SOCKET|ECONNRESET|failed/);
      expect(JSON.stringify((err as NetworkError).toJSON())).not.toContain('planted-key-31337');
      expect(posts).toBe(1);
    } finally {
      await close();
      server.close();
    }
  });
});
