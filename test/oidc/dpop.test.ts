import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { fetch, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { BatonError, ConfigError, ProviderError, StoreError } from '../../src/errors.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { type DpopResource, startDpopResource } from '../helpers/dpop-resource.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';
import { Capture } from '../server/helpers.js';

/**
 * DPoP (RFC 9449) against panva's oidc-provider with sender-constrained tokens required for the
 * client and a nonce required on every proof, and against a resource server that checks proofs
 * and asks for its own nonce (test/helpers/dpop-resource.ts).
 */
describe('DPoP: sender-constrained tokens (RFC 9449)', () => {
  let op: OidcServer | undefined;
  let rs: DpopResource | undefined;
  const batons: Baton[] = [];
  let server: BatonServer | undefined;
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    for (const b of batons.splice(0)) await b.close();
    await rs?.close();
    await op?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function dpopServer(client: Record<string, unknown> = {}): Promise<OidcServer> {
    op = await startOidcProvider({
      client: {
        dpop_bound_access_tokens: true,
        grant_types: ['authorization_code', 'refresh_token'],
        ...client,
      },
      config: {
        features: {
          devInteractions: { enabled: true },
          revocation: { enabled: true },
          introspection: { enabled: true },
          clientCredentials: { enabled: true },
          dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
        },
      },
    });
    return op;
  }

  function store(): { db: string; key: string } {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    return { db: `${tmp.dir}/baton.db`, key: randomKey() };
  }

  async function open(
    where: { db: string; key: string; store?: Store },
    spec: Record<string, unknown> = {},
    client: Record<string, unknown> = {},
  ): Promise<Baton> {
    const o = op as OidcServer;
    const baton = await Baton.open({
      store: where.store ?? `sqlite:${where.db}`,
      secretKey: where.key,
      env: { BATON_HOME: where.db.replace(/\/baton\.db$/, '') },
      providers: {
        acme: {
          issuer: o.issuer,
          scopes: ['openid', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
          dpop: true,
          ...(rs ? { apiBaseUrl: rs.url } : {}),
          ...spec,
        },
      },
      clients: { acme: { ...o.client, ...client } },
    });
    batons.push(baton);
    return baton;
  }

  async function authorize(baton: Baton, id = 'alice'): Promise<string> {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: id });
    await baton.completeAuthorization({ callbackUrl: await signIn(url, id) });
    return url;
  }

  /** The connection's tokens as sealed in the store. */
  async function sealedTokens(baton: Baton, id: string) {
    return (await baton.reveal(id)).tokens;
  }

  it('the code is bound to the key (dpop_jkt), and every token request proves it after a nonce challenge', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const baton = await open(where);
    expect(baton.providers.metadata('acme')?.dpopSigningAlgValuesSupported).toContain('ES256');
    const url = await authorize(baton);
    expect(new URL(url).searchParams.get('dpop_jkt')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const tokens = (op as OidcServer).requests.filter((r) => r.path === '/token');
    // The server asked for a nonce (400 use_dpop_nonce), and the second request carried it.
    expect(tokens.map((r) => [r.status, r.dpop])).toEqual([
      [400, true],
      [200, true],
    ]);
    const t = await sealedTokens(baton, 'alice');
    expect(t?.tokenType).toBe('DPoP');
    expect(t?.dpopKey?.kty).toBe('EC');
    expect(t?.dpopKey?.alg).toBe('ES256');
    // The jkt sent with the authorization is the stored key's.
    const { calculateJwkThumbprint } = await import('jose');
    expect(t?.dpopKey).toBeDefined();
    const { d: _d, ...pub } = (t?.dpopKey ?? {}) as Record<string, unknown>;
    expect(await calculateJwkThumbprint(pub)).toBe(new URL(url).searchParams.get('dpop_jkt'));
  });

  it('API calls carry a proof with ath; the resource server nonce challenge is answered once, and again after it rotates', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const baton = await open(store());
    await authorize(baton);
    const first = await baton.fetch('alice', 'me');
    expect(first.status).toBe(200);
    expect(((await first.json()) as { sub: string }).sub).toBe('alice');
    expect(rs.challenges).toBe(1);
    // The nonce is kept: no challenge on the next calls, through either API.
    expect((await baton.fetch('alice', 'me')).status).toBe(200);
    const streamed = await baton.request('alice', 'me', { method: 'PUT', body: 'hello' });
    expect(streamed.statusCode).toBe(200);
    expect(((await streamed.body.json()) as { bytes: number }).bytes).toBe(5);
    expect(rs.challenges).toBe(1);
    rs.rotateNonce();
    expect((await baton.fetch('alice', 'me', { method: 'POST', body: 'again' })).status).toBe(200);
    expect(rs.challenges).toBe(2);
    // Every accepted proof was signed by one key: the connection's.
    expect(new Set(rs.keys.map((k) => k['x'])).size).toBe(1);
    expect(rs.refusals.filter((r) => !r.startsWith('not the DPoP'))).toEqual([]);
  });

  it('a body that cannot be sent again gets the challenge back rather than a silent resend', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const baton = await open(store());
    await authorize(baton);
    const res = await baton.request('alice', 'me', {
      method: 'POST',
      body: Readable.from([Buffer.from('once')]),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/use_dpop_nonce/);
    await res.body.dump();
    // The nonce came with the challenge: the next request carries it.
    const again = await baton.request('alice', 'me', {
      method: 'POST',
      body: Readable.from([Buffer.from('twice')]),
    });
    expect(again.statusCode).toBe(200);
    await again.body.dump();
  });

  it('the token is worthless as a bearer token or without a proof, and Baton does not hand it out', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const baton = await open(where);
    await authorize(baton);
    const t = await sealedTokens(baton, 'alice');
    const token = t?.accessToken as string;
    const asBearer = await fetch(`${(op as OidcServer).issuer}/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(asBearer.status).toBe(401);
    const noProof = await fetch(`${rs.url}me`, { headers: { authorization: `DPoP ${token}` } });
    expect(noProof.status).toBe(401);
    const err = await baton.release('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/sender-constrained \(DPoP\)/);
    expect((err as ConfigError).remediation).toMatch(/baton\.fetch/);
    expect(JSON.stringify({ m: (err as Error).message, r: (err as ConfigError).remediation })).not.toContain(
      token,
    );
  });

  it("the issuer's own userinfo endpoint accepts Baton's proofs (htu, ath and its nonce checked by oidc-provider)", async () => {
    await dpopServer();
    const baton = await open(store(), { apiBaseUrl: `${(op as OidcServer).issuer}/` });
    await authorize(baton);
    const res = await baton.fetch('alice', 'me');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sub: string }).sub).toBe('alice');
  });

  it('refresh proves the same key: new tokens stay bound to it, and the key survives a new process', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const baton = await open(where);
    await authorize(baton);
    const before = await sealedTokens(baton, 'alice');
    await baton.refresh('alice', { force: true });
    const after = await sealedTokens(baton, 'alice');
    expect(after?.accessToken).not.toBe(before?.accessToken);
    expect(after?.tokenType).toBe('DPoP');
    expect(after?.dpopKey).toEqual(before?.dpopKey);
    const refreshes = (op as OidcServer).requests.filter((r) => r.path === '/token').slice(2);
    expect(refreshes.every((r) => r.dpop)).toBe(true);
    expect(refreshes.at(-1)?.status).toBe(200);
    expect((await baton.fetch('alice', 'me')).status).toBe(200);
    // Another process on the same store: the key is read from the sealed blob.
    await baton.close();
    batons.splice(batons.indexOf(baton), 1);
    const other = await open(where);
    expect((await other.fetch('alice', 'me')).status).toBe(200);
    expect(new Set(rs.keys.map((k) => k['x'])).size).toBe(1);
    // The key is sealed: nothing of it, not even its public half, is in the file in clear.
    const file = readFileSync(where.db);
    expect(file.includes(Buffer.from(String(rs.keys[0]?.['x'])))).toBe(false);
  });

  it("a public client's refresh token is bound to the key: Baton's refresh works, a refresh without the proof is refused", async () => {
    await dpopServer({ token_endpoint_auth_method: 'none', client_secret: undefined });
    const where = store();
    const baton = await open(
      where,
      { clientAuth: 'form', apiBaseUrl: `${(op as OidcServer).issuer}/` },
      { clientSecret: undefined },
    );
    await authorize(baton);
    await baton.refresh('alice', { force: true });
    const t = await sealedTokens(baton, 'alice');
    const stolen = await fetch(`${(op as OidcServer).issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: t?.refreshToken as string,
        client_id: (op as OidcServer).client.clientId,
      }).toString(),
    });
    expect(stolen.status).toBe(400);
    expect(((await stolen.json()) as { error: string }).error).toMatch(/invalid_grant|invalid_dpop_proof/);
    // Baton still refreshes (the stolen attempt spent nothing).
    await baton.refresh('alice', { force: true });
    expect((await baton.fetch('alice', 'me')).status).toBe(200);
  });

  it('revoke ends the DPoP-bound grant at the server', async () => {
    await dpopServer();
    const baton = await open(store(), { apiBaseUrl: `${(op as OidcServer).issuer}/` });
    await authorize(baton);
    const t = await sealedTokens(baton, 'alice');
    const o = op as OidcServer;
    const active = async (token: string | null | undefined) => {
      const res = await fetch(`${o.issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${o.client.clientId}:${o.client.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: token as string }).toString(),
      });
      return ((await res.json()) as { active: boolean }).active;
    };
    expect([await active(t?.accessToken), await active(t?.refreshToken)]).toEqual([true, true]);
    await baton.revoke('alice');
    expect((await baton.get('alice')).status).toBe('revoked');
    expect([await active(t?.accessToken), await active(t?.refreshToken)]).toEqual([false, false]);
  });

  it('a refresh the store refuses is held with its key: API calls go on with proofs, and it is committed when the store is back', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const faulty = new FaultyStore(await openStore(`sqlite:${where.db}`, { env: {} }));
    const baton = await open({ ...where, store: faulty });
    await authorize(baton);
    const before = await sealedTokens(baton, 'alice');
    faulty.failPuts = 1_000;
    const refused = await baton.refresh('alice', { force: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreError);
    expect(baton.pendingCommits).toEqual(['alice']);
    // The held pair (new token, same key) is what the API gets, with a valid proof.
    const res = await baton.fetch('alice', 'me');
    expect(res.status).toBe(200);
    expect((await sealedTokens(baton, 'alice'))?.accessToken).toBe(before?.accessToken);
    faulty.failPuts = 0;
    for (const end = Date.now() + 10_000; baton.pendingCommits.length > 0 && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 50));
    const after = await sealedTokens(baton, 'alice');
    expect(after?.accessToken).not.toBe(before?.accessToken);
    expect(after?.dpopKey).toEqual(before?.dpopKey);
    expect((await baton.fetch('alice', 'me')).status).toBe(200);
    expect(new Set(rs.keys.map((k) => k['x'])).size).toBe(1);
  });

  it('two instances on one store refreshing at once: one key, no refresh token spent twice, both call the API', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const a = await open(where);
    const b = await open(where);
    await authorize(a);
    const calls = () =>
      (op as OidcServer).requests.filter((r) => r.path === '/token' && r.status === 200).length;
    const before = calls();
    await Promise.all([a.refresh('alice', { force: true }), b.refresh('alice', { force: true })]);
    // Each forced refresh is satisfied by a pair granted after it asked: one or two grants, never a spent token.
    expect(calls() - before).toBeGreaterThanOrEqual(1);
    expect(calls() - before).toBeLessThanOrEqual(2);
    expect((await a.fetch('alice', 'me')).status).toBe(200);
    expect((await b.fetch('alice', 'me')).status).toBe(200);
    expect(new Set(rs.keys.map((k) => k['x'])).size).toBe(1);
    // No refresh token was spent twice: oidc-provider would have revoked the grant, and the
    // connection would carry the refusal.
    expect(await a.get('alice')).toMatchObject({ status: 'active', lastError: null });
  });

  it('a resource server that challenges every request gets exactly one retry; the 401 comes back', async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const baton = await open(store());
    await authorize(baton);
    expect((await baton.fetch('alice', 'me')).status).toBe(200);
    const challenges = rs.challenges;
    rs.alwaysChallenge = true;
    const res = await baton.fetch('alice', 'me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/);
    expect(rs.challenges - challenges).toBe(2);
    // Not a reason to refresh or to give up on the connection.
    expect((await baton.get('alice')).status).toBe('active');
  });

  it('a token endpoint that keeps asking for a nonce, or answers HTML, is a typed error after at most one retry', async () => {
    op = await startOidcProvider();
    let mode: 'nonce' | 'html' = 'nonce';
    const seen: boolean[] = [];
    const fake = createServer((req, res) => {
      seen.push(req.headers['dpop'] !== undefined);
      req.resume();
      if (mode === 'html')
        res
          .writeHead(400, { 'content-type': 'text/html', 'dpop-nonce': 'n-html' })
          .end('<html><body>Bad Request</body></html>');
      else
        res
          .writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': `n-${seen.length}` })
          .end(JSON.stringify({ error: 'use_dpop_nonce', error_description: 'nonce required' }));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => fake.close());
    const tokenUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/token`;
    const baton = await open(store(), {
      authModes: ['client_credentials'],
      scopes: [],
      tokenUrl,
      issuer: undefined,
      authorizationUrl: undefined,
      apiBaseUrl: 'http://127.0.0.1:1/',
    });
    const nonce = await baton.connect({ provider: 'acme', connectionId: 'svc' }).catch((e: unknown) => e);
    expect(nonce).toBeInstanceOf(ProviderError);
    expect(seen).toEqual([true, true]);
    mode = 'html';
    seen.length = 0;
    const html = await baton.connect({ provider: 'acme', connectionId: 'svc' }).catch((e: unknown) => e);
    expect(html).toBeInstanceOf(BatonError);
    expect((html as BatonError).remediation).toEqual(expect.any(String));
    expect(seen).toEqual([true]);
    expect(await baton.list()).toEqual([]);
  });

  it('client credentials: the connection gets its own key, and its tokens are bound to it', async () => {
    await dpopServer({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const baton = await open(where, { authModes: ['client_credentials'], scopes: [] });
    await baton.connect({ provider: 'acme', connectionId: 'svc' });
    const t = await sealedTokens(baton, 'svc');
    expect(t?.tokenType).toBe('DPoP');
    expect(t?.dpopKey).toBeDefined();
    expect((await baton.fetch('svc', 'me')).status).toBe(200);
    await baton.refresh('svc', { force: true });
    expect((await sealedTokens(baton, 'svc'))?.dpopKey).toEqual(t?.dpopKey);
  });

  it("the server's proxy forwards with proofs; its token release refuses; nothing secret in its logs", async () => {
    await dpopServer();
    rs = await startDpopResource(op as OidcServer);
    const where = store();
    const baton = await open(where);
    await authorize(baton);
    const logs = new Capture();
    server = await startServer({
      instance: baton,
      store: `sqlite:${where.db}`,
      port: 0,
      keeper: false,
      logStream: logs,
      logLevel: 'debug',
    });
    const { key } = await createCallerKey(server.serverStore, {
      name: 't',
      allow: ['*'],
      ops: ['token', 'proxy'],
    });
    const proxied = await request(`${server.url}/v1/proxy/alice/me`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(proxied.statusCode).toBe(200);
    expect(((await proxied.body.json()) as { sub: string }).sub).toBe('alice');
    const released = await request(`${server.url}/v1/connections/alice/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    const problem = (await released.body.json()) as { detail: string };
    expect(released.statusCode).toBeGreaterThanOrEqual(400);
    expect(problem.detail).toMatch(/DPoP/);
    await server.close();
    server = undefined;
    const t = await sealedTokens(baton, 'alice');
    for (const secret of [t?.accessToken, t?.refreshToken, t?.dpopKey?.d, key]) {
      expect(logs.text).not.toContain(secret as string);
    }
  });

  it('a server whose algorithms Baton cannot sign with is a ConfigError at authorization; nothing pending', async () => {
    op = await startOidcProvider({
      config: {
        features: {
          devInteractions: { enabled: true },
          dPoP: { enabled: true },
        },
        enabledJWA: { dPoPSigningAlgValues: ['ES512'] } as never,
      },
    });
    const baton = await open(store());
    const err = await baton
      .beginAuthorization({ provider: 'acme', connectionId: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/ES512/);
    expect((err as ConfigError).remediation).toMatch(/ES256/);
    expect(await baton.store.listPendingAuthorizations({ limit: 10 })).toEqual([]);
  });

  it('dpop must be a boolean', async () => {
    op = await startOidcProvider();
    await expect(open(store(), { dpop: 'yes' })).rejects.toThrow(/dpop setting is not true or false/);
  });
});
