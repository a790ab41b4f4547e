import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type BatonError, ConfigError, ProviderError, StoreError } from '../../src/errors.js';
import { metadataUrls, parseServerMetadata } from '../../src/protocol/discovery.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { MetadataDocument, Store } from '../../src/store/store.js';
import { ManualClock, randomKey, tempDir } from '../helpers/env.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

/** A server answering the well-known paths with whatever the test puts in `docs` (path → status, body). */
async function stubServer(): Promise<{
  origin: string;
  docs: Map<string, { status: number; body: string }>;
  hits: string[];
  close(): Promise<void>;
}> {
  const docs = new Map<string, { status: number; body: string }>();
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const doc = docs.get(req.url ?? '') ?? { status: 404, body: 'not found' };
    res.writeHead(doc.status, { 'content-type': 'application/json' }).end(doc.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    docs,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('discovery from the issuer (OpenID Connect Discovery, RFC 8414)', () => {
  let op: OidcServer;
  const opened: Baton[] = [];
  const cleanups: (() => void)[] = [];
  async function open(providers: Record<string, object>, clock?: ManualClock): Promise<Baton> {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const b = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers,
      clients: { acme: op.client },
      ...(clock ? { clock } : {}),
    });
    opened.push(b);
    return b;
  }
  beforeEach(async () => {
    op = await startOidcProvider();
  });
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    await op.close();
    for (const c of cleanups.splice(0)) c();
  });

  it('one line (issuer) plus client credentials: endpoints, PKCE and identity path from the metadata', async () => {
    const baton = await open({ acme: { issuer: op.issuer, scopes: ['openid', 'email'] } });
    const spec = baton.providers.get('acme');
    expect(spec).toMatchObject({
      issuer: op.issuer,
      authModes: ['oauth2'],
      authorizationUrl: `${op.issuer}/auth`,
      tokenUrl: `${op.issuer}/token`,
      revocationUrl: `${op.issuer}/token/revocation`,
      apiBaseUrl: op.issuer,
      pkce: true,
      identityPath: 'me',
    });
    expect(baton.providers.metadata('acme')?.source).toBe(`${op.issuer}/.well-known/openid-configuration`);
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    expect(new URL(url).searchParams.get('code_challenge_method')).toBe('S256');
    const info = await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    expect(info.status).toBe('active');
    await baton.refresh('alice', { force: true });
    const who = await baton.identify('alice');
    expect(who.account).toMatchObject({ id: 'alice', email: 'alice@example.test' });
  });

  it('explicit fields override what the server publishes', async () => {
    const baton = await open({
      acme: { issuer: op.issuer, revocationUrl: `${op.issuer}/elsewhere`, clientAuth: 'form', pkce: false },
    });
    expect(baton.providers.get('acme')).toMatchObject({
      tokenUrl: `${op.issuer}/token`,
      revocationUrl: `${op.issuer}/elsewhere`,
      clientAuth: 'form',
      pkce: false,
    });
  });

  it('a document naming another issuer is a ConfigError with a remediation, and nothing is begun', async () => {
    const stub = await stubServer();
    try {
      stub.docs.set('/.well-known/openid-configuration', {
        status: 200,
        body: JSON.stringify({
          issuer: op.issuer,
          authorization_endpoint: `${op.issuer}/auth`,
          token_endpoint: `${op.issuer}/token`,
        }),
      });
      const baton = await open({ acme: { issuer: stub.origin } });
      const err = await baton
        .beginAuthorization({ provider: 'acme', connectionId: 'x' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(`not the configured "${stub.origin}"`);
      expect((err as ConfigError).remediation).toContain('RFC 8414');
      expect(await baton.list()).toEqual([]);
    } finally {
      await stub.close();
    }
  });

  it('falls back to RFC 8414 oauth-authorization-server, with the issuer path after the well-known path', async () => {
    const stub = await stubServer();
    try {
      const issuer = `${stub.origin}/tenant`;
      stub.docs.set('/.well-known/oauth-authorization-server/tenant', {
        status: 200,
        body: JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          token_endpoint_auth_methods_supported: ['client_secret_post'],
        }),
      });
      const baton = await open({ acme: { issuer } });
      expect(baton.providers.get('acme')).toMatchObject({
        tokenUrl: `${issuer}/token`,
        clientAuth: 'form',
        pkce: false,
      });
      expect(stub.hits).toEqual([
        '/tenant/.well-known/openid-configuration',
        '/.well-known/oauth-authorization-server/tenant',
      ]);
    } finally {
      await stub.close();
    }
  });

  it('is cached until it expires, and read again when a first read failed', async () => {
    const stub = await stubServer();
    const clock = new ManualClock();
    try {
      const doc = (tokenPath: string) => ({
        status: 200,
        body: JSON.stringify({
          issuer: stub.origin,
          authorization_endpoint: `${stub.origin}/a`,
          token_endpoint: `${stub.origin}${tokenPath}`,
        }),
      });
      stub.docs.set('/.well-known/openid-configuration', { status: 503, body: 'down' });
      const baton = await open({ acme: { issuer: stub.origin } }, clock);
      expect(baton.providers.metadata('acme')).toBeUndefined();
      stub.docs.set('/.well-known/openid-configuration', doc('/token-1'));
      await baton.beginAuthorization({ provider: 'acme', connectionId: 'a' });
      expect(baton.providers.get('acme').tokenUrl).toBe(`${stub.origin}/token-1`);
      stub.docs.set('/.well-known/openid-configuration', doc('/token-2'));
      await baton.beginAuthorization({ provider: 'acme', connectionId: 'b' });
      expect(baton.providers.get('acme').tokenUrl).toBe(`${stub.origin}/token-1`);
      clock.advance(61 * 60_000);
      stub.docs.set('/.well-known/openid-configuration', { status: 500, body: 'down again' });
      await baton.beginAuthorization({ provider: 'acme', connectionId: 'c' });
      expect(baton.providers.get('acme').tokenUrl).toBe(`${stub.origin}/token-1`);
      stub.docs.set('/.well-known/openid-configuration', doc('/token-2'));
      clock.advance(61_000);
      await baton.beginAuthorization({ provider: 'acme', connectionId: 'd' });
      expect(baton.providers.get('acme').tokenUrl).toBe(`${stub.origin}/token-2`);
      expect(stub.hits.filter((h) => h === '/.well-known/openid-configuration')).toHaveLength(4);
    } finally {
      await stub.close();
    }
  });

  it('an issuer that is not https (nor loopback http) is refused at open', async () => {
    await expect(open({ acme: { issuer: 'http://id.example.com' } })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ acme: { issuer: 'https://id.example.com/?x=1' } })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });
});

describe('the metadata document kept in the store', () => {
  let op: OidcServer;
  let file: string;
  let key: string;
  const opened: Baton[] = [];
  const cleanups: (() => unknown)[] = [];
  const WELL_KNOWN = '/.well-known/openid-configuration';
  /** How many times the server was asked for its metadata document. */
  const reads = () => op.requests.filter((r) => r.path === WELL_KNOWN).length;

  async function open(clock?: ManualClock, store: string | Store = `sqlite:${file}`): Promise<Baton> {
    const b = await Baton.open({
      store,
      secretKey: key,
      env: { BATON_HOME: file.replace(/\/[^/]+$/, '') },
      providers: { acme: { issuer: op.issuer, scopes: ['openid', 'email'] } },
      clients: { acme: op.client },
      ...(clock ? { clock } : {}),
    });
    opened.push(b);
    return b;
  }

  async function connect(baton: Baton, id: string): Promise<void> {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: id });
    const info = await baton.completeAuthorization({ callbackUrl: await signIn(url, id) });
    expect(info).toMatchObject({ status: 'active', account: { id } });
  }

  async function stored(baton: Baton): Promise<MetadataDocument> {
    const doc = await baton.store.serverMetadata?.get(op.issuer);
    if (!doc) throw new Error('no metadata document in the store');
    return doc;
  }

  beforeEach(async () => {
    op = await startOidcProvider();
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    file = `${tmp.dir}/baton.db`;
    key = randomKey();
  });
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    await op.close();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a second Baton on the same SQLite file uses the stored document and does not ask the server', async () => {
    const first = await open();
    expect(reads()).toBe(1);
    const doc = await stored(first);
    expect(doc).toMatchObject({ issuer: op.issuer, source: `${op.issuer}${WELL_KNOWN}` });
    expect(JSON.parse(doc.document)).toMatchObject({
      issuer: op.issuer,
      token_endpoint: `${op.issuer}/token`,
    });
    expect(doc.expiresAt - doc.fetchedAt).toBeGreaterThanOrEqual(60_000);
    // Another process on the same file, while the first is running: a whole OpenID Connect
    // authorization (endpoints, PKCE, JWKS, id_token algorithms) from the stored document.
    const second = await open();
    expect(second.providers.get('acme')).toMatchObject({ tokenUrl: `${op.issuer}/token`, pkce: true });
    await connect(second, 'alice');
    await second.refresh('alice', { force: true });
    await second.close();
    // And a later run, after both stopped.
    await first.close();
    const third = await open();
    expect((await third.get('alice')).status).toBe('active');
    await third.refresh('alice', { force: true });
    expect(reads()).toBe(1);
  });

  it('an expired stored document is read from the server again, and the store gets the new one', async () => {
    const clock = new ManualClock();
    const first = await open(clock);
    const before = await stored(first);
    await first.close();
    clock.advance(before.expiresAt - before.fetchedAt + 1_000);
    const second = await open(clock);
    expect(reads()).toBe(2);
    const after = await stored(second);
    expect(after.fetchedAt).toBeGreaterThan(before.expiresAt);
    expect(after.expiresAt - after.fetchedAt).toBe(before.expiresAt - before.fetchedAt);
    await connect(second, 'bob');
  });

  it('with the metadata endpoint down, an expired stored document carries a fresh Baton, and the retry waits a minute for every process', async () => {
    const clock = new ManualClock();
    const first = await open(clock);
    await connect(first, 'alice');
    const before = await stored(first);
    await first.close();
    clock.advance(2 * (before.expiresAt - before.fetchedAt));
    op.metadataDown = true;
    const asked = op.requests.length;
    const t0 = clock.now();
    const second = await open(clock);
    // Asked (and answered 503), then the stored copy was used: a refresh and a token work.
    expect(op.requests.slice(asked).map((r) => r.path)).toContain(WELL_KNOWN);
    const refreshed = await second.refresh('alice', { force: true });
    expect(refreshed.lastRefreshedAt).toBeGreaterThanOrEqual(t0);
    expect(await second.getAccessToken('alice')).toEqual(expect.any(String));
    // The same document, retried a minute later: written so other processes wait too.
    const after = await stored(second);
    expect(after).toMatchObject({ document: before.document, fetchedAt: before.fetchedAt });
    expect(after.expiresAt).toBeGreaterThanOrEqual(t0 + 60_000);
    expect(after.expiresAt).toBeLessThanOrEqual(clock.now() + 60_000);
    await second.close();
    const readsDuringOutage = reads();
    const third = await open(clock);
    await third.refresh('alice', { force: true });
    expect(reads()).toBe(readsDuringOutage);
    // A minute on, with the server back, it is read again.
    op.metadataDown = false;
    clock.advance(61_000);
    await third.refresh('alice', { force: true });
    expect(reads()).toBe(readsDuringOutage + 1);
    expect((await stored(third)).fetchedAt).toBeGreaterThan(before.fetchedAt);
  });

  it('a stored document naming another issuer, or read from elsewhere, is never used', async () => {
    const evil = await stubServer();
    cleanups.push(() => evil.close());
    const forged = (issuer: string, source: string): MetadataDocument => ({
      issuer: op.issuer,
      document: JSON.stringify({
        issuer,
        authorization_endpoint: `${evil.origin}/auth`,
        token_endpoint: `${evil.origin}/token`,
      }),
      source,
      // Fresh, and newer than anything the store holds.
      fetchedAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    });
    for (const [issuer, source] of [
      [evil.origin, `${op.issuer}${WELL_KNOWN}`],
      [op.issuer, `${evil.origin}${WELL_KNOWN}`],
    ] as const) {
      const planted = await SqliteStore.open(file);
      expect(await planted.serverMetadata.put(forged(issuer, source))).toBe(true);
      await planted.close();
      // The server down: nothing to fall back on but the forged document, which is refused.
      op.metadataDown = true;
      const down = await open();
      const err = await down
        .beginAuthorization({ provider: 'acme', connectionId: 'x' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).message).toContain('503');
      expect(await down.list()).toEqual([]);
      await down.close();
      // The server up: its own document is used and replaces the forged one.
      op.metadataDown = false;
      const up = await open();
      expect(up.providers.get('acme').tokenUrl).toBe(`${op.issuer}/token`);
      expect(JSON.parse((await stored(up)).document).issuer).toBe(op.issuer);
      await up.close();
    }
    expect(evil.hits).toEqual([]);
  });

  it('a store that fails on metadata documents costs a network read and an error event, never the operation', async () => {
    const clock = new ManualClock();
    const inner = await SqliteStore.open(file);
    cleanups.push(() => inner.close());
    const faulty = new FaultyStore(inner);
    faulty.metadataFault = new StoreError('the metadata table is unreadable (test)');
    const baton = await open(clock, faulty);
    const errors: BatonError[] = [];
    baton.on('error', (e) => errors.push(e));
    expect(reads()).toBe(1);
    expect(faulty.metadataCalls).toEqual(['get', 'put']);
    await connect(baton, 'alice');
    // Expired: read again, the store failing on the read and the write, a plain Error this time.
    faulty.metadataFault = new Error('disk on fire');
    clock.advance(25 * 60 * 60_000);
    await baton.refresh('alice', { force: true });
    expect(reads()).toBe(2);
    // The refresh's id_token, expired on a clock a day ahead of the server's, is reported too.
    const storeErrors = errors.filter((e) => e instanceof StoreError);
    expect(storeErrors.map((e) => e.message)).toEqual([
      `The store failed to read the metadata document of ${op.issuer}.`,
      `The store failed to write the metadata document of ${op.issuer}.`,
    ]);
    // Back: the next read finds nothing stored, reads the server and stores what it read.
    faulty.metadataFault = null;
    clock.advance(25 * 60 * 60_000);
    await baton.refresh('alice', { force: true });
    expect(reads()).toBe(3);
    expect(await inner.serverMetadata.get(op.issuer)).toMatchObject({ issuer: op.issuer });
  });
});

describe('parseServerMetadata', () => {
  it('never accepts a document whose issuer differs from the configured one', () => {
    fc.assert(
      fc.property(fc.webUrl(), fc.webUrl(), (configured, published) => {
        fc.pre(configured !== published);
        const body = JSON.stringify({ issuer: published, token_endpoint: `${published}/token` });
        expect(() => parseServerMetadata(body, configured, 'p', 'x')).toThrow(ConfigError);
        expect(parseServerMetadata(body, published, 'p', 'x').tokenEndpoint).toBe(`${published}/token`);
      }),
    );
  });

  it('refuses non-objects and endpoints that are not URLs', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        fc.pre(!(v && typeof v === 'object' && !Array.isArray(v)));
        expect(() => parseServerMetadata(JSON.stringify(v), 'https://a.test', 'p', 'x')).toThrow(ConfigError);
      }),
    );
    expect(() =>
      parseServerMetadata(
        JSON.stringify({ issuer: 'https://a.test', token_endpoint: 'javascript:alert(1)' }),
        'https://a.test',
        'p',
        'x',
      ),
    ).toThrow(/invalid token_endpoint/);
  });

  it('puts the RFC 8414 well-known path between host and issuer path, and tries the OpenID path inserted too', () => {
    expect(metadataUrls('https://a.test/t/1/')).toEqual([
      'https://a.test/t/1/.well-known/openid-configuration',
      'https://a.test/.well-known/oauth-authorization-server/t/1',
      'https://a.test/.well-known/openid-configuration/t/1',
    ]);
    expect(metadataUrls('https://a.test')).toHaveLength(2);
  });
});
