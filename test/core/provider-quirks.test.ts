import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { AuthorizationError, ReauthorizationRequired } from '../../src/errors.js';
import type { ProviderOverride } from '../../src/providers/spec.js';
import { randomKey } from '../helpers/env.js';

/**
 * The spec fields that describe a provider's quirks, each through Baton's public contract over
 * loopback HTTP, against a small provider written here: values captured from the callback and
 * the token answer, a connect step, header templates, fields sent on the exchange and on each
 * refresh, errors inside 2xx answers, a token refused without a 401, and revocation styles.
 */

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const CALLBACK = 'http://127.0.0.1:1/callback';
let server: Server;
let origin = '';
let seen: Seen[] = [];
/** Access tokens the provider still honours, and the one refresh token it takes. */
let live = new Set<string>();
let refreshToken = '';
let tenants: { tenantId: string }[] = [];
let refreshAnswer: 'ok' | 'ok-false' = 'ok';

const token = () => `at-${randomBytes(6).toString('hex')}`;

function issue(): Record<string, unknown> {
  const access = token();
  live.add(access);
  refreshToken = `rt-${randomBytes(6).toString('hex')}`;
  return {
    ok: true,
    access_token: access,
    token_type: 'bot',
    expires_in: 3600,
    refresh_token: refreshToken,
    instance_url: `${origin}/instances/acme/`,
    team: { id: 'T1' },
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', origin);
      seen.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const bearer = (req.headers['x-demo-token'] as string | undefined) ?? '';
      if (url.pathname === '/token') {
        const f = new URLSearchParams(body);
        if (f.get('grant_type') === 'authorization_code') return json(200, issue());
        if (refreshAnswer === 'ok-false' || f.get('refresh_token') !== refreshToken)
          return json(200, { ok: false, error: 'invalid_refresh_token' });
        return json(200, issue());
      }
      if (url.pathname === '/connections') return json(live.has(bearer) ? 200 : 401, tenants);
      if (url.pathname === '/revoke') {
        live.delete(bearer);
        return json(200, { ok: true });
      }
      if (url.pathname.startsWith('/instances/acme/')) {
        // Every answer is a 200; a token it does not know is refused inside the body.
        if (!live.has(bearer)) return json(200, { ok: false, error: 'invalid_auth' });
        return json(200, {
          ok: true,
          tenant: req.headers['demo-tenant'] ?? null,
          version: req.headers['demo-version'],
        });
      }
      json(404, { ok: false, error: 'unknown_method' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
  live = new Set();
  tenants = [{ tenantId: 'tenant-1' }, { tenantId: 'tenant-2' }];
  refreshAnswer = 'ok';
});

function spec(): ProviderOverride {
  const host = new URL(origin).host;
  return {
    displayName: 'Demo',
    authModes: ['oauth2'],
    authorizationUrl: `${origin}/authorize`,
    tokenUrl: `${origin}/token`,
    revocationUrl: `${origin}/revoke`,
    apiBaseUrl: '{instanceUrl}/',
    clientAuth: 'form',
    scopes: ['read', 'offline'],
    redirectAuthHosts: [host],
    captures: {
      instanceUrl: {
        from: 'token',
        path: 'instance_url',
        kind: 'url',
        required: true,
        description: 'the host',
      },
      realmId: { from: 'callback', path: 'realmId', required: true, description: 'the company' },
      teamId: { from: 'token', path: 'team.id', description: 'the team' },
    },
    urls: { connections: `${origin}/connections` },
    connectSteps: [
      { endpoint: 'connections', capture: { tenantId: 'tenantId' }, whenEmpty: 'Pick a tenant.' },
    ],
    tokenHeader: { header: 'X-Demo-Token', template: '{accessToken}' },
    apiHeaders: { 'Demo-Tenant': '{tenantId}', 'Demo-Version': '7' },
    tokenParams: { expiring: '1' },
    refreshParams: { audience: 'demo' },
    refreshScopes: true,
    errorCodes: { invalid_refresh_token: 'invalid_grant', invalid_code: 'invalid_grant' },
    apiTokenRejection: { path: 'error', values: ['invalid_auth'] },
    revocation: { auth: 'token', body: 'none', takes: 'access_token' },
  };
}

async function open(): Promise<Baton> {
  return Baton.open({
    store: 'memory:',
    secretKey: randomKey(),
    providers: { demo: spec() },
    clients: { demo: { clientId: 'demo-client', clientSecret: 'demo-secret', redirectUri: CALLBACK } },
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

/** The authorization as a browser would end it: the provider's callback with its realmId. */
async function connect(baton: Baton, id: string, params?: Record<string, string>) {
  const { state } = await baton.beginAuthorization({
    provider: 'demo',
    connectionId: id,
    ...(params ? { params } : {}),
  });
  return baton.completeAuthorization({ callbackUrl: `${CALLBACK}?code=c-1&state=${state}&realmId=9130` });
}

const tokenRequests = () => seen.filter((s) => s.path === '/token').map((s) => new URLSearchParams(s.body));

describe('provider quirks as spec fields', () => {
  it('captures from the callback, the token answer and a connect step; sends the headers the spec names', async () => {
    const baton = await open();
    try {
      const info = await connect(baton, 'd1');
      expect(info.params).toEqual({
        realmId: '9130',
        instanceUrl: `${origin}/instances/acme`,
        teamId: 'T1',
        tenantId: 'tenant-1',
      });
      expect(tokenRequests()[0]?.get('expiring')).toBe('1');
      const res = await baton.fetch('d1', 'things');
      expect(await res.json()).toEqual({ ok: true, tenant: 'tenant-1', version: '7' });
      const api = seen.find((s) => s.path === '/instances/acme/things');
      expect(api?.headers['authorization']).toBeUndefined();
      // The caller's own header of a name wins over the spec's.
      const mine = await baton.fetch('d1', 'things', { headers: { 'Demo-Version': '8' } });
      expect(await mine.json()).toMatchObject({ version: '8' });
      const released = await baton.release('d1');
      expect(released.headers).toMatchObject({ 'demo-tenant': 'tenant-1', 'demo-version': '7' });
      expect(Object.keys(released.headers)).toContain('x-demo-token');
    } finally {
      await baton.close();
    }
  });

  it('a step that reaches nothing fails with its remediation, stores nothing, and revokes the new grant', async () => {
    tenants = [];
    const baton = await open();
    try {
      const err = await connect(baton, 'd2').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthorizationError);
      expect(err).toMatchObject({ reason: 'no_resource', remediation: 'Pick a tenant.' });
      await expect(baton.get('d2')).rejects.toThrow(/No connection named/);
      expect(seen.filter((s) => s.path === '/revoke')).toHaveLength(1);
    } finally {
      await baton.close();
    }
  });

  it('refreshes with the spec’s fields and the connection’s scopes, and on a token refused inside a 200', async () => {
    const baton = await open();
    try {
      await connect(baton, 'd3');
      live.clear(); // the provider forgets the access token: its API answers 200 {"ok": false, "error": "invalid_auth"}
      const res = await baton.fetch('d3', 'things');
      expect(await res.json()).toMatchObject({ ok: true });
      const refresh = tokenRequests().find((f) => f.get('grant_type') === 'refresh_token');
      expect(refresh?.get('audience')).toBe('demo');
      expect(refresh?.get('scope')).toBe('read offline');
      expect(refresh?.get('expiring')).toBeNull();
      // The same through baton.request, whose body is a stream the rule must not take away.
      live.clear();
      const r = await baton.request('d3', 'things');
      expect(await r.body.json()).toMatchObject({ ok: true, tenant: 'tenant-1' });
    } finally {
      await baton.close();
    }
  });

  it('reads ok:false from the token endpoint as the typed error its code means', async () => {
    const baton = await open();
    try {
      await connect(baton, 'd4');
      refreshAnswer = 'ok-false';
      await expect(baton.refresh('d4', { force: true })).rejects.toBeInstanceOf(ReauthorizationRequired);
      expect((await baton.get('d4')).status).toBe('needs_reauth');
    } finally {
      await baton.close();
    }
  });

  it('revokes with the access token as the request’s own credential and no body', async () => {
    const baton = await open();
    try {
      await connect(baton, 'd5');
      const accessToken = await baton.getAccessToken('d5');
      expect((await baton.revoke('d5')).revokedAtProvider).toBe(true);
      const revoke = seen.filter((s) => s.path === '/revoke');
      expect(revoke).toHaveLength(1);
      expect(revoke[0]?.headers['authorization']).toBe(`Bearer ${accessToken}`);
      expect(revoke[0]?.body).toBe('');
    } finally {
      await baton.close();
    }
  });
});
