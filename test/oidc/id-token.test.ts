import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { AuthorizationError, ConfigError } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider, tokenProxy } from '../helpers/oidc-provider.js';

describe('OpenID Connect: nonce and id_token validation', () => {
  let op: OidcServer;
  const opened: Baton[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  async function open(extra: Record<string, unknown> = {}): Promise<Baton> {
    const tmp = tempDir();
    closers.push(tmp.cleanup);
    const b = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: { acme: { issuer: op.issuer, scopes: ['openid', 'email', 'profile'], ...extra } },
      clients: { acme: op.client },
    });
    opened.push(b);
    return b;
  }
  beforeEach(async () => {
    op = await startOidcProvider({ config: { conformIdTokenClaims: false } });
  });
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    for (const c of closers.splice(0)) await c();
    await op.close();
  });

  /** Baton with a token endpoint that rewrites the id_token the server issued. */
  async function withForgedIdToken(
    forge: (idToken: string, claims: JWTPayload) => Promise<string | undefined>,
  ) {
    const proxy = await tokenProxy(op, async (body) => {
      const idToken = body['id_token'] as string;
      const forged = await forge(idToken, decodeJwt(idToken));
      const { id_token: _dropped, ...rest } = body;
      return forged === undefined ? rest : { ...rest, id_token: forged };
    });
    closers.push(proxy.close);
    return open({ tokenUrl: proxy.url });
  }

  async function refused(baton: Baton, why: RegExp) {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const err = await baton
      .completeAuthorization({ callbackUrl: await signIn(url) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).reason).toBe('invalid_id_token');
    expect((err as AuthorizationError).message).toMatch(why);
    expect((err as AuthorizationError).remediation).toMatch(/nothing was stored/);
    expect(await baton.list()).toEqual([]);
    return err as AuthorizationError;
  }

  it('sends a nonce with openid, verifies the id_token and takes the account from sub, email and name', async () => {
    const baton = await open();
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    expect(new URL(url).searchParams.get('nonce')).toMatch(/.{20,}/);
    const info = await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    expect(info.account).toEqual({ id: 'alice', email: 'alice@example.test', name: 'User alice' });
    const pending = await baton.beginAuthorization({ provider: 'acme', connectionId: 'bob' });
    const nonce = new URL(pending.url).searchParams.get('nonce') as string;
    const row = await baton.store.takePendingAuthorization(pending.state);
    expect(JSON.stringify(row)).not.toContain(nonce);
  });

  it('no nonce without openid', async () => {
    const baton = await open({ scopes: ['email'] });
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'a' });
    expect(new URL(url).searchParams.has('nonce')).toBe(false);
  });

  it('a tampered signature is refused; nothing is stored', async () => {
    const baton = await withForgedIdToken(async (t) => {
      const [h, p, s] = t.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
      return `${h}.${tampered}.${s}`;
    });
    const err = await refused(baton, /signature does not verify/);
    expect(err.message).not.toContain('eyJ');
  });

  it('a wrong audience is refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign({ ...c, aud: 'another-client' }));
    await refused(baton, /"aud" claim/);
  });

  it('several audiences without azp, or an azp of another client, are refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign({ ...c, aud: [op.client.clientId, 'other'] }));
    await refused(baton, /several audiences and no "azp"/);
    const other = await withForgedIdToken((_t, c) => op.sign({ ...c, azp: 'other' }));
    await refused(other, /"azp" claim is another client/);
  });

  it('a wrong nonce is refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign({ ...c, nonce: 'not-the-nonce' }));
    await refused(baton, /"nonce"/);
  });

  it('an expired id_token is refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign({ ...c, iat: 1_000, exp: 4_600 }));
    await refused(baton, /expired/);
  });

  it('another issuer is refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign({ ...c, iss: 'https://attacker.example' }));
    await refused(baton, /"iss" claim/);
  });

  it('an unsigned (alg none) id_token is refused', async () => {
    const baton = await withForgedIdToken(async (_t, c) => {
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none' })}.${enc(c)}.`;
    });
    await refused(baton, /algorithm|not a valid signed JWT/);
  });

  it('a token response without id_token to an openid authorization is refused', async () => {
    const baton = await withForgedIdToken(async () => undefined);
    await refused(baton, /carries no id_token/);
  });

  it('a key unknown to the JWKS is refused', async () => {
    const baton = await withForgedIdToken((_t, c) => op.sign(c, { kid: 'nobody' }));
    await refused(baton, /no key/);
  });

  it('follows key rotation at the JWKS: a token signed with the new key verifies', async () => {
    const baton = await open();
    const first = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const before = await signIn(first.url, 'alice');
    await baton.completeAuthorization({ callbackUrl: before });
    await op.rotateKeys();
    const second = await baton.beginAuthorization({ provider: 'acme', connectionId: 'bob' });
    const info = await baton.completeAuthorization({ callbackUrl: await signIn(second.url, 'bob') });
    expect(info.account?.id).toBe('bob');
    const stored = await baton.reveal('bob');
    const idToken = String(stored.tokens?.extra['id_token']);
    expect(decodeJwt(idToken).sub).toBe('bob');
    expect(decodeProtectedHeader(idToken).kid).toBe('k2');
    expect(decodeProtectedHeader(String((await baton.reveal('alice')).tokens?.extra['id_token'])).kid).toBe(
      'k1',
    );
  });

  /** Baton with a token endpoint that rewrites the id_token of refreshes only (calls after the first). */
  async function withForgedRefresh(forge: (claims: JWTPayload) => Promise<string>) {
    const answers: Record<string, unknown>[] = [];
    const proxy = await tokenProxy(op, async (body) => {
      answers.push(body);
      if (answers.length === 1) return body;
      return { ...body, id_token: await forge(decodeJwt(body['id_token'] as string)) };
    });
    closers.push(proxy.close);
    const baton = await open({ tokenUrl: proxy.url, scopes: ['openid', 'offline_access', 'email'] });
    const errors: AuthorizationError[] = [];
    baton.on('error', (e) => errors.push(e as AuthorizationError));
    const { url } = await baton.beginAuthorization({
      provider: 'acme',
      connectionId: 'alice',
      extraParams: { prompt: 'consent' },
    });
    await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    return { baton, answers, errors };
  }

  it("a refresh's id_token is verified (without a nonce) and kept", async () => {
    const { baton, answers, errors } = await withForgedRefresh((c) => op.sign({ ...c, iat: c.iat }));
    await baton.refresh('alice', { force: true });
    expect(errors).toEqual([]);
    const refreshed = answers[1] as Record<string, unknown>;
    expect(refreshed['refresh_token']).toEqual(expect.any(String));
    const stored = (await baton.reveal('alice')).tokens;
    expect(decodeJwt(String(stored?.extra['id_token'])).sub).toBe('alice');
    expect(stored?.refreshToken).toBe(refreshed['refresh_token']);
  });

  it("a refresh's id_token for another account is not stored and is reported; the rotated pair is stored all the same", async () => {
    const { baton, answers, errors } = await withForgedRefresh((c) => op.sign({ ...c, sub: 'mallory' }));
    await baton.refresh('alice', { force: true });
    const refreshed = answers[1] as Record<string, unknown>;
    const stored = (await baton.reveal('alice')).tokens;
    // The grant is not lost: the new pair replaced the spent one.
    expect(stored?.refreshToken).toBe(refreshed['refresh_token']);
    expect(stored?.accessToken).toBe(refreshed['access_token']);
    expect(stored?.extra).not.toHaveProperty('id_token');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AuthorizationError);
    expect(errors[0]?.reason).toBe('invalid_id_token');
    expect(errors[0]?.message).toMatch(/"sub" names another account/);
    expect(errors[0]?.message).not.toContain(String(refreshed['id_token']));
    expect((await baton.get('alice')).account?.id).toBe('alice');
  });

  it("a refresh's id_token with a bad signature is not stored and is reported", async () => {
    const { baton, errors } = await withForgedRefresh(async (c) => {
      const [h, p, sig] = (await op.sign(c)).split('.') as [string, string, string];
      return `${h}.${p}.${sig.slice(0, -4)}AAAA`;
    });
    await baton.refresh('alice', { force: true });
    expect((await baton.reveal('alice')).tokens?.extra).not.toHaveProperty('id_token');
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/signature does not verify/)]);
  });

  it('openid asked of a provider without issuer is a ConfigError before the user is sent anywhere', async () => {
    const tmp = tempDir();
    closers.push(tmp.cleanup);
    const b = await Baton.open({
      store: 'memory',
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: {
        plain: {
          authorizationUrl: `${op.issuer}/auth`,
          tokenUrl: `${op.issuer}/token`,
          apiBaseUrl: op.issuer,
        },
      },
      clients: { plain: op.client },
    });
    opened.push(b);
    await expect(
      b.beginAuthorization({ provider: 'plain', connectionId: 'x', scopes: ['openid'] }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
