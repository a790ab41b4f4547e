import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { batonFor, type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

describe('introspection (RFC 7662) where the provider publishes it', () => {
  let op: OidcServer;
  let baton: Baton;
  let closeBaton: () => Promise<void>;
  beforeEach(async () => {
    op = await startOidcProvider();
    ({ baton, close: closeBaton } = await batonFor(op));
  });
  afterEach(async () => {
    await closeBaton();
    await op.close();
  });

  it('says an issued token is active, and no longer after the grant is revoked at the provider', async () => {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    expect(await baton.introspect('alice')).toMatchObject({
      active: true,
      sub: 'alice',
      clientId: op.client.clientId,
    });
    const token = await baton.getAccessToken('alice');
    const res = await fetch(`${op.issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${op.client.clientId}:${op.client.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await baton.introspect('alice')).toEqual({ active: false });
  });

  it('is null for a provider whose issuer publishes no introspection endpoint', async () => {
    const bare = await startOidcProvider({
      config: { features: { devInteractions: { enabled: true }, revocation: { enabled: true } } },
    });
    const { baton: other, close } = await batonFor(bare);
    try {
      expect(other.providers.metadata('acme')?.introspectionEndpoint).toBeUndefined();
      const { url } = await other.beginAuthorization({ provider: 'acme', connectionId: 'p' });
      await other.completeAuthorization({ callbackUrl: await signIn(url, 'p') });
      expect(await other.introspect('p')).toBeNull();
    } finally {
      await close();
      await bare.close();
    }
  });
});
