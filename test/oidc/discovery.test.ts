import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ConfigError } from '../../src/errors.js';
import { metadataUrls, parseServerMetadata } from '../../src/protocol/discovery.js';
import { ManualClock, randomKey, tempDir } from '../helpers/env.js';
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

  it('puts the RFC 8414 well-known path between host and issuer path', () => {
    expect(metadataUrls('https://a.test/t/1/')).toEqual([
      'https://a.test/t/1/.well-known/openid-configuration',
      'https://a.test/.well-known/oauth-authorization-server/t/1',
    ]);
  });
});
