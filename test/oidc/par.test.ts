import { afterEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { InvalidClient } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

describe('pushed authorization requests (RFC 9126)', () => {
  let op: OidcServer | undefined;
  let baton: Baton | undefined;
  let cleanup: () => void = () => undefined;
  afterEach(async () => {
    await baton?.close();
    await op?.close();
    cleanup();
  });

  async function open(spec: Record<string, unknown> = {}, secret?: string): Promise<Baton> {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    baton = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: { acme: { issuer: op?.issuer as string, scopes: ['openid'], ...spec } },
      clients: { acme: { ...(op as OidcServer).client, ...(secret ? { clientSecret: secret } : {}) } },
    });
    return baton;
  }

  const requiringPar = () =>
    startOidcProvider({
      config: {
        features: {
          devInteractions: { enabled: true },
          revocation: { enabled: true },
          pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
        },
      },
    });

  it('a server that requires PAR gets every authorization pushed; the URL carries only client_id and request_uri', async () => {
    op = await requiringPar();
    const b = await open();
    expect(b.providers.metadata('acme')?.requirePushedAuthorizationRequests).toBe(true);
    const { url } = await b.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const q = new URL(url).searchParams;
    expect([...q.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(q.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const info = await b.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    expect(info.account?.id).toBe('alice');
  });

  it('the same server refuses an authorization that was not pushed', async () => {
    op = await requiringPar();
    const b = await open({ par: false });
    const { state } = await b.beginAuthorization({ provider: 'acme', connectionId: 'x' });
    const plain = new URL(`${op.issuer}/auth`);
    plain.search = new URLSearchParams({
      client_id: op.client.clientId,
      response_type: 'code',
      state,
    }).toString();
    const res = await fetch(plain, { redirect: 'manual' });
    expect(res.status).toBeGreaterThanOrEqual(300);
    expect(res.headers.get('location') ?? (await res.text())).toMatch(/invalid_request|pushed/i);
  });

  it('par: true pushes even when the server does not require it', async () => {
    op = await startOidcProvider();
    const b = await open({ par: true });
    const { url } = await b.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    expect(new URL(url).searchParams.has('request_uri')).toBe(true);
    expect((await b.completeAuthorization({ callbackUrl: await signIn(url, 'alice') })).status).toBe(
      'active',
    );
  });

  it('a push with wrong client credentials is InvalidClient at beginAuthorization; nothing is pending', async () => {
    op = await requiringPar();
    const b = await open({}, 'wrong-secret-value');
    const err = await b
      .beginAuthorization({ provider: 'acme', connectionId: 'alice' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidClient);
    expect(JSON.stringify(err)).not.toContain('wrong-secret-value');
  });
});
