import { afterEach, describe, expect, it } from 'vitest';
import { AuthorizationError, ReauthorizationRequired } from '../../src/errors.js';
import { authorize, consent, type World, world } from '../helpers/sim-baton.js';

/**
 * The presets against the simulator's personas of the same vendors, over loopback HTTP, through
 * the library: connect (beginAuthorization → consent → completeAuthorization), an API call
 * through baton.fetch, a refresh, each vendor's quirk, and revocation where the vendor has it.
 * The API paths are the ones the simulator names as each vendor's identity endpoint.
 */

const MINUTE = 60_000;

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function started(): Promise<World> {
  w = await world();
  return w;
}

function identityPath(world: World, provider: string): string {
  const path = world.profile.discovery.vendors[provider]?.identityPath;
  if (!path) throw new Error(`the simulator names no identity path for ${provider}`);
  return path;
}

/** An API call through Baton: the vendor's identity endpoint, with its method. */
async function call(world: World, id: string, provider: string, path = identityPath(world, provider)) {
  const method = world.baton.providers.get(provider).identityMethod ?? 'GET';
  const res = await world.baton.fetch(id, path, { method });
  const text = await res.text();
  return { status: res.status, text };
}

function tokenEntries(world: World, provider: string, grantType?: string) {
  return world.sim
    .tokenLog()
    .filter(
      (e) => e.vendor === provider && e.endpoint === 'token' && (!grantType || e.grantType === grantType),
    );
}

/** Connects, calls the API, refreshes, calls again with the new token; returns the world. */
async function lifecycle(provider: string, params?: Record<string, string>) {
  const world = await started();
  const info = await authorize(world, {
    provider,
    connectionId: `${provider}-1`,
    ...(params ? { params } : {}),
  });
  const first = await call(world, info.id, provider);
  expect(first.status, `${provider} API: ${first.text}`).toBe(200);
  const before = await world.baton.getAccessToken(info.id);
  await world.baton.refresh(info.id, { force: true });
  const after = await world.baton.getAccessToken(info.id);
  expect(after).not.toBe(before);
  const ok = tokenEntries(world, provider, 'refresh_token').filter((e) => e.status === 200);
  expect(ok.length).toBe(1);
  const again = await call(world, info.id, provider);
  expect(again.status, `${provider} API after refresh: ${again.text}`).toBe(200);
  return { world, info };
}

describe('Xero', () => {
  it('keeps the tenant from GET /connections and sends it as Xero-Tenant-Id; refreshes and revokes', async () => {
    const { world, info } = await lifecycle('xero');
    expect(info.params['tenantId']).toMatch(/^[0-9a-f-]{36}$/);
    // An accounting call needs the tenant header: without it the persona answers 403.
    const org = await call(world, info.id, 'xero', 'api.xro/2.0/Organisation');
    expect(org.status).toBe(200);
    expect(org.text).toContain(info.params['tenantId']);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });

  it('takes the tenant the caller chose, and fails with what to do when the authorization did not reach it', async () => {
    const world = await started();
    const first = await authorize(world, { provider: 'xero', connectionId: 'x-first', account: 'alice' });
    const { url } = await world.baton.beginAuthorization({
      provider: 'xero',
      connectionId: 'x-bob',
      params: { tenantId: first.params['tenantId'] as string },
      redirectUri: 'http://127.0.0.1:1/callback',
    });
    // Bob's authorization reaches Bob's organisation only.
    const callback = await consent(url, 'approve', 'bob');
    const err = await world.baton.completeAuthorization({ callbackUrl: callback }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationError);
    expect(err).toMatchObject({ reason: 'no_resource' });
    expect((err as AuthorizationError).remediation).toMatch(
      /choose an organisation on Xero’s consent screen/,
    );
    await expect(world.baton.get('x-bob')).rejects.toThrow(/No connection named/);
  });
});

describe('QuickBooks', () => {
  it('keeps realmId from the callback in the API base, in the sandbox; refreshes and revokes', async () => {
    const { world, info } = await lifecycle('quickbooks', { environment: 'sandbox' });
    expect(info.params).toMatchObject({ environment: 'sandbox', realmId: expect.stringMatching(/^\d+$/) });
    const company = await call(world, info.id, 'quickbooks', `companyinfo/${info.params['realmId']}`);
    expect(company.status).toBe(200);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });
});

describe('Atlassian', () => {
  it('keeps the cloud id from accessible-resources; refreshes a rotating token', async () => {
    const { world, info } = await lifecycle('atlassian');
    const cloudId = info.params['cloudId'];
    expect(cloudId).toMatch(/^[0-9a-f-]{36}$/);
    const me = await call(world, info.id, 'atlassian', `ex/jira/${cloudId}/rest/api/3/myself`);
    expect(me.status, me.text).toBe(200);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(false);
  });
});

describe('Shopify', () => {
  it('sends the token as X-Shopify-Access-Token and asks for expiring tokens, which refresh', async () => {
    const { world, info } = await lifecycle('shopify', { shop: 'acme-store' });
    expect(info.accessTokenExpiresAt).not.toBeNull();
    const exchange = tokenEntries(world, 'shopify', 'authorization_code')[0];
    expect(exchange?.issuedRefreshToken).toBeTruthy();
  });

  it('checks the hmac Shopify signs the callback with; a missing, wrong or stale one stores nothing', async () => {
    const world = await started();
    const forged = (callback: string, change: (q: URLSearchParams) => void) => {
      const u = new URL(callback);
      change(u.searchParams);
      return u.toString();
    };
    const cases: [string, (q: URLSearchParams) => void][] = [
      ['missing', (q) => q.delete('hmac')],
      [
        'wrong',
        (q) =>
          q.set(
            'hmac',
            (q.get('hmac') as string).replace(/^./, (c) => (c === '0' ? '1' : '0')),
          ),
      ],
      ['not hex', (q) => q.set('hmac', 'not-a-signature')],
      // A parameter changed after signing: the signature no longer covers what arrived.
      ['altered', (q) => q.set('shop', 'globex-store.myshopify.com')],
      ['added', (q) => q.set('realmId', '123')],
    ];
    for (const [label, change] of cases) {
      const { url } = await world.baton.beginAuthorization({
        provider: 'shopify',
        connectionId: `shop-${label.replace(' ', '-')}`,
        params: { shop: 'acme-store' },
        redirectUri: 'http://127.0.0.1:1/callback',
      });
      const callback = await consent(url, 'approve');
      expect(new URL(callback).searchParams.get('hmac')).toMatch(/^[0-9a-f]{64}$/);
      const err = await world.baton
        .completeAuthorization({ callbackUrl: forged(callback, change) })
        .catch((e: unknown) => e);
      expect(err, label).toBeInstanceOf(AuthorizationError);
      expect(err, label).toMatchObject({ reason: 'bad_signature', code: 'authorization_bad_signature' });
      expect((err as AuthorizationError).remediation).toMatch(/Check the client secret/);
      await expect(world.baton.get(`shop-${label.replace(' ', '-')}`)).rejects.toThrow(/No connection named/);
    }
    // Refused before the code was exchanged.
    expect(tokenEntries(world, 'shopify', 'authorization_code')).toEqual([]);
    // The same check on a callback given as fields (as a server's callback route passes it).
    const { url, state } = await world.baton.beginAuthorization({
      provider: 'shopify',
      connectionId: 'shop-fields',
      params: { shop: 'acme-store' },
      redirectUri: 'http://127.0.0.1:1/callback',
    });
    const q = Object.fromEntries(new URL(await consent(url, 'approve')).searchParams);
    const info = await world.baton.completeAuthorization({ state, code: q['code'] as string, query: q });
    expect(info.params).toEqual({ shop: 'acme-store' });
  });
});

describe('Salesforce', () => {
  it('takes the API base from instance_url, and refreshes on INVALID_SESSION_ID since no lifetime is given', async () => {
    const world = await started();
    const info = await authorize(world, { provider: 'salesforce', connectionId: 'sf-1' });
    expect(info.accessTokenExpiresAt).toBeNull();
    expect(info.params['instanceUrl']).toBe(`${world.profile.discovery.origin}/salesforce/instances/acme`);
    expect((await call(world, info.id, 'salesforce', 'services/data/v62.0/limits')).status).toBe(200);
    // The session ends after the org's timeout without use: the API answers 401 INVALID_SESSION_ID.
    world.sim.clock.advance(121 * MINUTE);
    const res = await call(world, info.id, 'salesforce', 'services/data/v62.0/limits');
    expect(res.status, res.text).toBe(200);
    expect(tokenEntries(world, 'salesforce', 'refresh_token').filter((e) => e.status === 200)).toHaveLength(
      1,
    );
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });

  it('refuses an instance URL on a host the spec does not allow', async () => {
    const world = await started();
    const strict = await world.open({
      providers: {
        ...world.profile.providers,
        salesforce: { ...world.profile.providers['salesforce'], redirectAuthHosts: ['*.salesforce.com'] },
      },
    });
    const err = await authorize(world, { provider: 'salesforce', connectionId: 'sf-2' }, strict).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/instanceUrl points to 127\.0\.0\.1/);
    await expect(strict.get('sf-2')).rejects.toThrow(/No connection named/);
  });
});

describe('Google', () => {
  it('gets a refresh token (offline, consent), refreshes and revokes', async () => {
    const { world, info } = await lifecycle('google');
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });
});

describe('Microsoft', () => {
  it('sends the scopes again on each refresh, under the default tenant', async () => {
    const { world, info } = await lifecycle('microsoft');
    expect(info.params).toEqual({ tenant: 'common' });
    const refresh = tokenEntries(world, 'microsoft', 'refresh_token')[0];
    expect(refresh?.scope).toContain('User.Read');
  });
});

describe('Slack', () => {
  it('reads ok:false in a 200 as the typed error it means, and a refused token in a 200 as a 401', async () => {
    const { world, info } = await lifecycle('slack');
    expect(info.params).toMatchObject({ teamId: 'T0SIMTEAM', authedUserId: expect.any(String) });
    // The vendor forgets the access token: the API answers 200 {"ok": false, "error": "token_expired"}.
    world.sim.expireAccessTokens({ vendor: 'slack' });
    const before = tokenEntries(world, 'slack', 'refresh_token').length;
    const res = await call(world, info.id, 'slack');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ ok: true });
    expect(tokenEntries(world, 'slack', 'refresh_token').length).toBe(before + 1);
    // The grant is gone: the token endpoint answers 200 {"ok": false, "error": "invalid_refresh_token"}.
    world.sim.revokeGrants({ vendor: 'slack' });
    await expect(world.baton.refresh(info.id, { force: true })).rejects.toBeInstanceOf(
      ReauthorizationRequired,
    );
    expect((await world.baton.get(info.id)).status).toBe('needs_reauth');
  });

  it('revokes with the token as its own credential', async () => {
    const world = await started();
    const info = await authorize(world, { provider: 'slack', connectionId: 'slack-r' });
    const token = await world.baton.getAccessToken(info.id);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
    expect(world.sim.tokenStatus(token)).toBe('revoked');
  });
});

/**
 * Dropbox and Slack revoke with the access token as its own credential, and refuse an expired
 * one there: with the access token expired, revoke refreshes first, then revokes the new token,
 * which ends the grant upstream.
 */
describe.each([
  ['dropbox', 5 * 3600_000],
  ['slack', 13 * 3600_000],
])('%s: revoke with an expired access token', (provider, pastExpiry) => {
  it('refreshes first, so the grant is revoked upstream', async () => {
    const world = await started();
    const info = await authorize(world, { provider, connectionId: `${provider}-expired` });
    const old = await world.baton.getAccessToken(info.id);
    world.sim.clock.advance(pastExpiry);
    expect(world.sim.tokenStatus(old)).toBe('expired');
    const known = world.sim.tokenInfo(old);
    const grantId = 'grantId' in known ? known.grantId : '';
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
    expect(world.sim.grantStatus(grantId)?.revoked).toBe(true);
    // The revocation endpoint was called with a live token, and accepted it.
    const revokes = world.sim.tokenLog().filter((e) => e.vendor === provider && e.endpoint === 'revoke');
    expect(revokes.map((e) => e.status)).toEqual([200]);
    expect(tokenEntries(world, provider, 'refresh_token').filter((e) => e.status === 200)).toHaveLength(1);
    expect((await world.baton.get(info.id)).status).toBe('revoked');
  });

  it('a grant already ended upstream is marked revoked here, without sending the expired token', async () => {
    const world = await started();
    const info = await authorize(world, { provider, connectionId: `${provider}-gone` });
    world.sim.clock.advance(pastExpiry);
    world.sim.revokeGrants({ vendor: provider as 'dropbox' | 'slack' });
    expect(await world.baton.revoke(info.id)).toEqual({ revokedAtProvider: false });
    expect(world.sim.tokenLog().filter((e) => e.vendor === provider && e.endpoint === 'revoke')).toEqual([]);
    expect((await world.baton.get(info.id)).status).toBe('revoked');
  });
});

describe('GitHub', () => {
  it('reads errors inside a 200 as typed errors; refreshes expiring user tokens; revokes the grant', async () => {
    const { world, info } = await lifecycle('github');
    const token = await world.baton.getAccessToken(info.id);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
    expect(world.sim.tokenStatus(token)).toBe('revoked');
    const second = await authorize(world, { provider: 'github', connectionId: 'gh-2' });
    world.sim.revokeGrants({ vendor: 'github' });
    await expect(world.baton.refresh(second.id, { force: true })).rejects.toBeInstanceOf(
      ReauthorizationRequired,
    );
  });
});

describe('HubSpot', () => {
  it('refreshes a refresh token that stays the same, reads BAD_REFRESH_TOKEN as needs_reauth, revokes', async () => {
    const { world, info } = await lifecycle('hubspot');
    const third = await authorize(world, { provider: 'hubspot', connectionId: 'hs-2' });
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
    world.sim.revokeGrants({ vendor: 'hubspot' });
    await expect(world.baton.refresh(third.id, { force: true })).rejects.toBeInstanceOf(
      ReauthorizationRequired,
    );
  });
});

describe('Zoom', () => {
  it('user apps: connect, refresh (rotating), revoke', async () => {
    const { world, info } = await lifecycle('zoom');
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });

  it('server-to-server apps: the account_credentials grant with the account id', async () => {
    const world = await started();
    const accountId = world.profile.discovery.vendors['zoom']?.params?.['accountId']?.[0] as string;
    const info = await world.baton.connect({
      provider: 'zoom',
      connectionId: 'zoom-s2s',
      params: { accountId },
    });
    expect(info.authMode).toBe('client_credentials');
    expect(tokenEntries(world, 'zoom', 'account_credentials').filter((e) => e.status === 200)).toHaveLength(
      1,
    );
    expect((await call(world, info.id, 'zoom')).status).toBe(200);
  });
});

describe('Dropbox', () => {
  it('asks for offline access, calls a POST endpoint, refreshes, revokes with the token itself', async () => {
    const { world, info } = await lifecycle('dropbox');
    expect(info.params['accountId']).toMatch(/^dbid:/);
    const token = await world.baton.getAccessToken(info.id);
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
    expect(world.sim.tokenStatus(token)).toBe('revoked');
  });
});

describe('Notion', () => {
  it('sends Notion-Version, exchanges with a JSON body, refreshes a rotating token, revokes', async () => {
    const { world, info } = await lifecycle('notion');
    expect(info.params).toMatchObject({ workspaceId: expect.any(String), botId: expect.any(String) });
    expect(info.accessTokenExpiresAt).toBeNull();
    expect((await world.baton.revoke(info.id)).revokedAtProvider).toBe(true);
  });
});
