import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { CB, form, get, post, vendor } from './helpers.js';
import { codeOf, consent, DAY, fieldsOf, MINUTE, tokenRequest } from './persona-flow.js';

/** The Xero persona: 30-minute access tokens, rotating refresh tokens with a 30-minute retry window, tenants. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const d = () => vendor(sim, 'xero');
const client = () => d().clients[0]!;
const SCOPE = 'openid offline_access accounting.settings.read accounting.contacts.read';

async function connect(scope = SCOPE, account = 'alice') {
  const c = codeOf(await consent(sim, 'xero', {}, { scope, sim_account: account }));
  const res = await tokenRequest(
    d().endpoints.token,
    { grant_type: 'authorization_code', code: c, redirect_uri: CB },
    client(),
    'basic',
  );
  expect(res.status).toBe(200);
  return fieldsOf(res);
}
const refresh = (rt: string) =>
  tokenRequest(d().endpoints.token, { grant_type: 'refresh_token', refresh_token: rt }, client(), 'basic');
const api = (at: string, path: string, tenant?: string) =>
  get(`${d().endpoints.apiBase}${path}`, {
    authorization: `Bearer ${at}`,
    ...(tenant ? { 'xero-tenant-id': tenant } : {}),
  });

describe('Xero persona', () => {
  it('connects: code → 30-minute token → tenants from /connections → the API with Xero-Tenant-Id → refresh', async () => {
    const c = codeOf(await consent(sim, 'xero', {}, { scope: SCOPE }));
    const exchanged = await tokenRequest(
      d().endpoints.token,
      { grant_type: 'authorization_code', code: c, redirect_uri: CB },
      client(),
      'basic',
    );
    expect(exchanged.json).toMatchObject({ expires_in: 1800, token_type: 'Bearer', scope: SCOPE });
    const at = exchanged.json?.['access_token'] as string;
    const connections = await get(d().endpoints.connections as string, { authorization: `Bearer ${at}` });
    expect(connections.status).toBe(200);
    const tenants = connections.json as unknown as Record<string, string>[];
    expect(tenants.map((x) => [x['tenantType'], x['tenantName']])).toEqual([
      ['ORGANISATION', 'Demo Company (Global)'],
      ['PRACTICE', 'Alice Advisory Practice'],
    ]);
    for (const x of tenants)
      expect(Object.keys(x)).toEqual(
        expect.arrayContaining(['id', 'tenantId', 'authEventId', 'createdDateUtc']),
      );
    const org = await api(at, 'api.xro/2.0/Organisation', tenants[0]?.['tenantId']);
    expect(org.status).toBe(200);
    expect(org.json).toMatchObject({ Organisations: [{ Name: 'Demo Company (Global)' }] });
    const who = await get(d().endpoints.userinfo as string, { authorization: `Bearer ${at}` });
    expect(who.json).toMatchObject({ email: 'alice@example.com' });
    // The client may also send its credentials in the body.
    const refreshed = await tokenRequest(
      d().endpoints.token,
      { grant_type: 'refresh_token', refresh_token: exchanged.json?.['refresh_token'] as string },
      client(),
      'body',
    );
    expect(refreshed.json).toMatchObject({ expires_in: 1800, token_type: 'Bearer', scope: SCOPE });
    expect(refreshed.json?.['refresh_token']).not.toBe(exchanged.json?.['refresh_token']);
  });

  it('answers 403 without a tenant header or with a tenant the token does not reach, 401 for a dead token', async () => {
    const t = await connect();
    const bobs = await connect(SCOPE, 'bob');
    const bobTenant = (
      (await api(bobs['access_token'] as string, 'connections')).json as unknown as { tenantId: string }[]
    )[0]?.tenantId;
    const missing = await api(t['access_token'] as string, 'api.xro/2.0/Organisation');
    expect(missing.status).toBe(403);
    expect(missing.json).toMatchObject({ Title: 'Forbidden', Status: 403 });
    expect((await api(t['access_token'] as string, 'api.xro/2.0/Organisation', bobTenant)).status).toBe(403);
    sim.clock.advance(31 * MINUTE);
    expect((await api(t['access_token'] as string, 'connections')).status).toBe(401);
  });

  it('gives a refresh token only with offline_access', async () => {
    const t = await connect('openid accounting.settings.read');
    expect(t['refresh_token']).toBeUndefined();
    expect(t['access_token']).toBeTruthy();
  });

  it('lets the replaced refresh token be retried for 30 minutes, then answers invalid_grant', async () => {
    const rt0 = (await connect())['refresh_token'] as string;
    const first = await refresh(rt0);
    const rt1 = first.json?.['refresh_token'] as string;
    expect(rt1).not.toBe(rt0);
    sim.clock.advance(29 * MINUTE);
    const retry = await refresh(rt0);
    expect(retry.status).toBe(200);
    const rt2 = retry.json?.['refresh_token'] as string;
    expect(new Set([rt0, rt1, rt2]).size).toBe(3);
    expect((await api(retry.json?.['access_token'] as string, 'connections')).status).toBe(200);
    sim.clock.advance(2 * MINUTE);
    const late = await refresh(rt0);
    expect(late.status).toBe(400);
    expect(late.json).toEqual({ error: 'invalid_grant' });
    // The grant lives on: the newest token still refreshes.
    expect((await refresh(rt2)).status).toBe(200);
  });

  it('lets a refresh token unused for 60 days die', async () => {
    const keep = (await connect())['refresh_token'] as string;
    const idle = (await connect())['refresh_token'] as string;
    sim.clock.advance(59 * DAY);
    const kept = await refresh(keep);
    expect(kept.status).toBe(200);
    sim.clock.advance(2 * DAY);
    expect((await refresh(idle)).json).toEqual({ error: 'invalid_grant' });
    expect((await refresh(kept.json?.['refresh_token'] as string)).status).toBe(200);
  });

  it('revokes a refresh token at /connect/revocation, ending the grant', async () => {
    const t = await connect();
    const f = form({ token: t['refresh_token'] as string });
    const wrong = await post(d().endpoints.revoke as string, f.body, {
      ...f.headers,
      authorization: `Basic ${Buffer.from(`${client().clientId}:nope`).toString('base64')}`,
    });
    expect(wrong.json).toEqual({ error: 'invalid_client' });
    const ok = await post(d().endpoints.revoke as string, f.body, {
      ...f.headers,
      authorization: `Basic ${Buffer.from(`${client().clientId}:${client().clientSecret}`).toString('base64')}`,
    });
    expect(ok.status).toBe(200);
    expect((await refresh(t['refresh_token'] as string)).json).toEqual({ error: 'invalid_grant' });
    expect((await api(t['access_token'] as string, 'connections')).status).toBe(401);
  });

  it('disconnects one tenant with DELETE /connections/{id}', async () => {
    const t = await connect();
    const at = t['access_token'] as string;
    const [first, second] = (await api(at, 'connections')).json as unknown as {
      id: string;
      tenantId: string;
    }[];
    const res = await fetchDelete(`${d().endpoints.connections}/${first?.id}`, at);
    expect(res).toBe(204);
    expect(((await api(at, 'connections')).json as unknown as unknown[]).length).toBe(1);
    expect((await api(at, 'api.xro/2.0/Organisation', first?.tenantId)).status).toBe(403);
    expect((await api(at, 'api.xro/2.0/Organisation', second?.tenantId)).status).toBe(200);
  });

  it('rejects an unknown scope and a wrong client secret', async () => {
    const cb = await consent(sim, 'xero', {}, { scope: 'offline_access payroll.everything' });
    expect(cb.searchParams.get('error')).toBe('invalid_scope');
    const c = codeOf(await consent(sim, 'xero', {}, { scope: SCOPE }));
    const bad = await tokenRequest(
      d().endpoints.token,
      { grant_type: 'authorization_code', code: c, redirect_uri: CB },
      { ...client(), clientSecret: 'wrong' },
      'basic',
    );
    expect(bad.json).toEqual({ error: 'invalid_client' });
  });
});

async function fetchDelete(u: string, at: string): Promise<number> {
  const res = await fetch(u, { method: 'DELETE', headers: { authorization: `Bearer ${at}` } });
  await res.text();
  return res.status;
}

describe('Xero persona across a restart', () => {
  it('keeps the retry window of a replaced refresh token in the state file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-sim-xero-'));
    try {
      const file = join(dir, 'sim.json');
      const first = await startSimulator({ stateFile: file });
      const x = first.discovery().vendors.xero;
      const c = codeOf(await consent(first, 'xero', {}, { scope: SCOPE }));
      const t = await tokenRequest(
        x.endpoints.token,
        { grant_type: 'authorization_code', code: c, redirect_uri: CB },
        x.clients[0]!,
        'basic',
      );
      const rt0 = t.json?.['refresh_token'] as string;
      const r = await tokenRequest(
        x.endpoints.token,
        { grant_type: 'refresh_token', refresh_token: rt0 },
        x.clients[0]!,
        'basic',
      );
      expect(r.status).toBe(200);
      await first.close();
      const second = await startSimulator({ stateFile: file });
      try {
        const y = second.discovery().vendors.xero;
        const again = (rt: string) =>
          tokenRequest(
            y.endpoints.token,
            { grant_type: 'refresh_token', refresh_token: rt },
            y.clients[0]!,
            'basic',
          );
        expect((await again(rt0)).status).toBe(200);
        second.clock.advance(31 * MINUTE);
        expect((await again(rt0)).json).toEqual({ error: 'invalid_grant' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
