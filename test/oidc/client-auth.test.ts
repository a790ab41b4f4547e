import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ConfigError, InvalidClient } from '../../src/errors.js';
import { clientAssertion, JWT_BEARER } from '../../src/protocol/client-assertion.js';
import type { ClientConfig } from '../../src/protocol/types.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

describe('client authentication with JWT assertions (RFC 7523) against oidc-provider', () => {
  let op: OidcServer | undefined;
  const opened: Baton[] = [];
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
    await op?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function open(clientAuth: 'private_key_jwt' | 'client_secret_jwt', client: Partial<ClientConfig>) {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const b = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: { acme: { issuer: op?.issuer as string, clientAuth, scopes: ['openid'] } },
      clients: { acme: { clientId: 'baton-test', redirectUri: op?.client.redirectUri as string, ...client } },
    });
    opened.push(b);
    return b;
  }

  /** Authorizes, refreshes and revokes: the token and revocation endpoints both authenticate the client. */
  async function lifecycle(baton: Baton) {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const info = await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    expect(info.account?.id).toBe('alice');
    const first = await baton.getAccessToken('alice');
    await baton.refresh('alice', { force: true });
    expect(await baton.getAccessToken('alice')).not.toBe(first);
    expect((await baton.revoke('alice')).revokedAtProvider).toBe(true);
  }

  it('private_key_jwt with an RSA key given as PEM and a key id', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = { ...(await exportJWK(publicKey)), kid: 'rsa-1', use: 'sig' };
    op = await startOidcProvider({
      client: {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [pub as never] },
        client_secret: undefined as never,
      },
    });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await lifecycle(await open('private_key_jwt', { privateKey: pem, keyId: 'rsa-1' }));
  });

  it('private_key_jwt with an EC key given as a JWK carrying its kid', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = { ...(await exportJWK(publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    op = await startOidcProvider({
      client: {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [pub as never] },
        client_secret: undefined as never,
      },
    });
    const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'ec-1', alg: 'ES256' };
    await lifecycle(await open('private_key_jwt', { privateKey: jwk as Record<string, unknown> }));
  });

  it('client_secret_jwt (HS256 with the client secret)', async () => {
    op = await startOidcProvider({ client: { token_endpoint_auth_method: 'client_secret_jwt' } });
    await lifecycle(await open('client_secret_jwt', { clientSecret: op.client.clientSecret }));
  });

  it('a key the server does not know is InvalidClient, and nothing is stored', async () => {
    const registered = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256', { extractable: true });
    const pub = { ...(await exportJWK(registered.publicKey)), kid: 'ec-1', alg: 'ES256' };
    op = await startOidcProvider({
      client: {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [pub as never] },
        client_secret: undefined as never,
      },
    });
    const wrong = { ...(await exportJWK(other.privateKey)), kid: 'ec-1', alg: 'ES256' };
    const baton = await open('private_key_jwt', { privateKey: wrong });
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const err = await baton
      .completeAuthorization({ callbackUrl: await signIn(url) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidClient);
    expect(JSON.stringify(err)).not.toContain(String(wrong.d));
    expect(await baton.list()).toEqual([]);
  });

  it('a missing or unreadable key is a ConfigError that never quotes the key', async () => {
    await expect(
      clientAssertion(
        'private_key_jwt',
        { clientId: 'c' },
        { audience: 'https://a.test', now: 0, provider: 'acme' },
      ),
    ).rejects.toBeInstanceOf(ConfigError);
    const err = await clientAssertion(
      'private_key_jwt',
      {
        clientId: 'c',
        privateKey: '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----',
      },
      { audience: 'https://a.test', now: 0, provider: 'acme' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(JSON.stringify(err)).not.toContain('c2VjcmV0');
    await expect(
      clientAssertion(
        'client_secret_jwt',
        { clientId: 'c' },
        { audience: 'https://a.test', now: 0, provider: 'acme' },
      ),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('each assertion: iss = sub = client id, aud, a fresh jti, and a one-minute expiry', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'k' };
    const now = 1_700_000_000_000;
    const make = () =>
      clientAssertion(
        'private_key_jwt',
        { clientId: 'cid', privateKey: jwk },
        { audience: 'https://as.test', now, provider: 'p' },
      );
    const [a, b] = [await make(), await make()];
    const claims = decodeJwt(a);
    expect(claims).toMatchObject({
      iss: 'cid',
      sub: 'cid',
      aud: 'https://as.test',
      iat: now / 1000,
      exp: now / 1000 + 60,
    });
    expect(claims.jti).toBeTruthy();
    expect(decodeJwt(b).jti).not.toBe(claims.jti);
    expect(decodeProtectedHeader(a)).toEqual({ alg: 'ES256', kid: 'k' });
    expect(JWT_BEARER).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  });
});
