import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { AuthorizationError } from '../../src/errors.js';
import { batonFor, type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

describe('mix-up defence: RFC 9207 iss and the redirect URI the authorization began with', () => {
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

  async function callback(connectionId: string): Promise<URL> {
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId });
    return new URL(await signIn(url, connectionId));
  }

  async function refused(cb: string | { state: string; code: string; iss?: string }, reason: string) {
    const err = await baton
      .completeAuthorization(typeof cb === 'string' ? { callbackUrl: cb } : cb)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).reason).toBe(reason);
    expect((err as AuthorizationError).remediation.length).toBeGreaterThan(20);
    expect(await baton.list()).toEqual([]);
  }

  it('code + PKCE + iss: the server advertises iss and sends it; Baton accepts its own issuer', async () => {
    expect(baton.providers.metadata('acme')?.authorizationResponseIssParameterSupported).toBe(true);
    const cb = await callback('alice');
    expect(cb.searchParams.get('iss')).toBe(op.issuer);
    expect((await baton.completeAuthorization({ callbackUrl: cb.toString() })).status).toBe('active');
  });

  it('a forged iss is refused as issuer_mismatch before the code is exchanged; nothing is stored', async () => {
    const cb = await callback('alice');
    cb.searchParams.set('iss', 'https://attacker.example');
    await refused(cb.toString(), 'issuer_mismatch');
    // The pending authorization is spent: the genuine callback cannot be replayed after a refusal.
    cb.searchParams.set('iss', op.issuer);
    await refused(cb.toString(), 'unknown_state');
  });

  it('a callback without iss, from a server that always sends it, is refused', async () => {
    const cb = await callback('alice');
    cb.searchParams.delete('iss');
    await refused(cb.toString(), 'issuer_mismatch');
  });

  it('fields given one by one are checked the same way', async () => {
    const cb = await callback('alice');
    const fields = { state: cb.searchParams.get('state') ?? '', code: cb.searchParams.get('code') ?? '' };
    await refused({ ...fields, iss: `${op.issuer}/` }, 'issuer_mismatch');
  });

  it('an error callback with a forged iss is an issuer_mismatch, not the error it claims', async () => {
    const cb = await callback('alice');
    const forged = new URL(cb.toString());
    forged.search = new URLSearchParams({
      state: cb.searchParams.get('state') ?? '',
      error: 'access_denied',
      iss: 'https://attacker.example',
    }).toString();
    await refused(forged.toString(), 'issuer_mismatch');
  });

  it('a callback that arrived on another redirect URI is refused as redirect_mismatch', async () => {
    const cb = await callback('alice');
    const elsewhere = new URL(cb.toString());
    elsewhere.pathname = '/other/callback';
    await refused(elsewhere.toString(), 'redirect_mismatch');
    const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'bob' });
    const onOtherPort = new URL(await signIn(url, 'bob'));
    onOtherPort.port = '2';
    await refused(onOtherPort.toString(), 'redirect_mismatch');
  });

  it('the issuer is sealed with the pending authorization: the sealed copy is the one compared', async () => {
    const { state } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'carol' });
    const pending = await baton.store.takePendingAuthorization(state);
    expect(pending).not.toBeNull();
    expect(JSON.stringify(pending)).not.toContain(op.issuer);
  });
});
