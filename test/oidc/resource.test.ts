import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ConfigError } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';

const API = 'https://api.acme.test/';

describe('resource indicators (RFC 8707) and default authorization parameters', () => {
  let op: OidcServer;
  let baton: Baton | undefined;
  let cleanup: () => void = () => undefined;
  beforeEach(async () => {
    op = await startOidcProvider({
      config: {
        scopes: ['openid', 'api:read'],
        features: {
          devInteractions: { enabled: true },
          revocation: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => undefined as never,
            useGrantedResource: () => true,
            getResourceServerInfo: (_ctx, resource) => ({
              scope: 'api:read',
              audience: resource,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            }),
          },
        },
      },
    });
  });
  afterEach(async () => {
    await baton?.close();
    baton = undefined;
    await op.close();
    cleanup();
  });

  async function open(spec: Record<string, unknown>): Promise<Baton> {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    baton = await Baton.open({
      store: `sqlite:${tmp.dir}/baton.db`,
      secretKey: randomKey(),
      env: { BATON_HOME: tmp.dir },
      providers: { acme: { issuer: op.issuer, scopes: ['openid', 'api:read'], ...spec } },
      clients: { acme: op.client },
    });
    return baton;
  }

  it('the spec resource goes on the authorization, token and refresh requests; tokens are for that API', async () => {
    const b = await open({ resource: [API], authorizationParams: { prompt: 'consent', ui_locales: 'de' } });
    const { url } = await b.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
    const q = new URL(url).searchParams;
    expect(q.getAll('resource')).toEqual([API]);
    expect(q.get('prompt')).toBe('consent');
    expect(q.get('ui_locales')).toBe('de');
    await b.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    const first = decodeJwt(await b.getAccessToken('alice'));
    expect(first).toMatchObject({ aud: API, sub: 'alice', scope: 'api:read' });
    await b.refresh('alice', { force: true });
    const second = decodeJwt(await b.getAccessToken('alice'));
    expect(second).toMatchObject({ aud: API, sub: 'alice' });
    expect(second.jti).not.toBe(first.jti);
  });

  it('a resource given to beginAuthorization is sealed with it and used for the code exchange', async () => {
    const b = await open({ resource: [API] });
    const other = 'https://files.acme.test/';
    const { url } = await b.beginAuthorization({ provider: 'acme', connectionId: 'bob', resource: [other] });
    expect(new URL(url).searchParams.getAll('resource')).toEqual([other]);
    await b.completeAuthorization({ callbackUrl: await signIn(url, 'bob') });
    expect(decodeJwt(await b.getAccessToken('bob')).aud).toBe(other);
  });

  it("the caller's extraParams win over the spec's authorizationParams; neither may set what Baton sets", async () => {
    const b = await open({ authorizationParams: { prompt: 'consent' } });
    const { url } = await b.beginAuthorization({
      provider: 'acme',
      connectionId: 'a',
      extraParams: { prompt: 'login' },
    });
    expect(new URL(url).searchParams.get('prompt')).toBe('login');
    await b.close();
    baton = undefined;
    cleanup();
    const c = await open({ authorizationParams: { nonce: 'fixed' } });
    await expect(c.beginAuthorization({ provider: 'acme', connectionId: 'b' })).rejects.toThrow(
      /may not set "nonce"/,
    );
  });

  it('a resource that is not an absolute URI without fragment is refused at open', async () => {
    await expect(open({ resource: ['api'] })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ resource: ['https://api.test/#x'] })).rejects.toBeInstanceOf(ConfigError);
  });
});
