import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { InvalidClient } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

describe('a certified authorization server (oidc-provider), every endpoint given explicitly', () => {
  let op: OidcServer;
  let baton: Baton;
  let cleanup: () => void;
  beforeEach(async () => {
    op = await startOidcProvider();
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    baton = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: {
        acme: {
          authorizationUrl: `${op.issuer}/auth`,
          tokenUrl: `${op.issuer}/token`,
          revocationUrl: `${op.issuer}/token/revocation`,
          apiBaseUrl: op.issuer,
          pkce: true,
          // The issuer only for its keys and iss: every endpoint above wins over its metadata.
          issuer: op.issuer,
          scopes: ['openid', 'email', 'profile'],
        },
      },
      clients: { acme: op.client },
    });
  });
  afterEach(async () => {
    await baton.close();
    await op.close();
    cleanup();
  });

  it('authorizes through its login and consent pages (code + PKCE), refreshes and revokes', async () => {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const callback = await signIn(url, 'alice');
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
    const info = await baton.completeAuthorization({ callbackUrl: callback });
    expect(info.status).toBe('active');
    const first = await baton.getAccessToken('alice');
    const me = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${first}` } });
    expect(await me.json()).toMatchObject({ sub: 'alice', email: 'alice@example.test' });
    await baton.refresh('alice', { force: true });
    expect(await baton.getAccessToken('alice')).not.toBe(first);
    expect((await baton.revoke('alice')).revokedAtProvider).toBe(true);
    expect((await baton.get('alice')).status).toBe('revoked');
  });

  it('a wrong client secret is an InvalidClient, and nothing is stored', async () => {
    await baton.close();
    const tmp = tempDir();
    baton = await Baton.open({
      store: 'memory',
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: {
        acme: {
          authorizationUrl: `${op.issuer}/auth`,
          tokenUrl: `${op.issuer}/token`,
          apiBaseUrl: op.issuer,
          pkce: true,
          issuer: op.issuer,
          scopes: ['openid'],
        },
      },
      clients: { acme: { ...op.client, clientSecret: 'wrong-secret' } },
    });
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'bob' });
    const callback = await signIn(url, 'bob');
    const err = await baton.completeAuthorization({ callbackUrl: callback }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidClient);
    expect(String((err as InvalidClient).describe())).not.toContain('wrong-secret');
    expect(await baton.list()).toEqual([]);
    tmp.cleanup();
  });
});
