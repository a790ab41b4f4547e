import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { basic, CB, form, get, post } from './helpers.js';

/**
 * The MCP persona as the MCP authorization specification (2025-11-25) describes its two
 * servers: RFC 9728 discovery from the 401, RFC 8414 metadata, RFC 7591 registration, Client ID
 * Metadata Documents, PKCE S256, RFC 8707 resources, RFC 9207 iss, rotation with reuse
 * detection, RFC 7009, RFC 7662, and insufficient_scope challenges.
 */

let sim: Simulator;
let docServer: Server;
let docOrigin = '';
/** The client metadata documents the loopback "client website" serves, by path. */
const documents = new Map<string, unknown>();

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  docServer = createServer((req, res) => {
    const doc = documents.get(req.url ?? '');
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(doc ? JSON.stringify(doc) : '{}');
  });
  await new Promise<void>((r) => docServer.listen(0, '127.0.0.1', () => r()));
  docOrigin = `http://127.0.0.1:${(docServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await sim.close();
  await new Promise((r) => docServer.close(r));
});
afterEach(() => {
  sim.mcp.configure({
    dcr: true,
    cimd: true,
    resourceMetadataInHeader: true,
    resourceMetadataServed: true,
    authorizationServerUp: true,
  });
});

const json = (body: unknown) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});
const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const challengeOf = (h: Headers) => h.get('www-authenticate') ?? '';
const param = (header: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(header)?.[1];

async function register(extra: Record<string, unknown> = {}) {
  const j = json({
    redirect_uris: [CB],
    client_name: 'test agent',
    grant_types: ['authorization_code', 'refresh_token'],
    ...extra,
  });
  const res = await post(`${sim.mcp.issuer}/register`, j.body, j.headers);
  expect(res.status).toBe(201);
  return res.json as { client_id: string; client_secret?: string; token_endpoint_auth_method: string };
}

/** Authorize (auto consent) and return the callback URL's parameters. */
async function authorize(
  clientId: string,
  opts: { scope?: string; resource?: string | null; challenge?: string } = {},
) {
  const u = new URL(`${sim.mcp.issuer}/authorize`);
  const p = pkce();
  const q: Record<string, string> = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: CB,
    state: 'st',
    code_challenge: opts.challenge ?? p.challenge,
    code_challenge_method: 'S256',
    scope: opts.scope ?? 'tools:read',
  };
  if (opts.resource !== null) q['resource'] = opts.resource ?? sim.mcp.resource;
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  const res = await get(u.toString());
  const location = res.headers.get('location');
  return {
    status: res.status,
    params: location ? new URL(location).searchParams : null,
    verifier: p.verifier,
  };
}

async function tokens(
  client: { client_id: string; client_secret?: string; token_endpoint_auth_method?: string },
  fields: Record<string, string>,
) {
  // As registered: HTTP Basic by default, the body for client_secret_post, the id alone for none.
  const inBody = client.token_endpoint_auth_method === 'client_secret_post';
  const useBasic = client.client_secret !== undefined && !inBody;
  const f = form({
    ...fields,
    ...(useBasic ? {} : { client_id: client.client_id }),
    ...(inBody && client.client_secret ? { client_secret: client.client_secret } : {}),
  });
  return post(`${sim.mcp.issuer}/token`, f.body, {
    ...f.headers,
    ...(useBasic ? { authorization: basic(client.client_id, client.client_secret as string) } : {}),
  });
}

async function connect(
  client: { client_id: string; client_secret?: string; token_endpoint_auth_method?: string },
  scope = 'tools:read',
) {
  const a = await authorize(client.client_id, { scope });
  const t = await tokens(client, {
    grant_type: 'authorization_code',
    code: a.params?.get('code') as string,
    redirect_uri: CB,
    code_verifier: a.verifier,
    resource: sim.mcp.resource,
  });
  expect(t.status).toBe(200);
  return t.json as { access_token: string; refresh_token: string; scope: string; expires_in: number };
}

describe('MCP persona: discovery', () => {
  it('answers 401 naming its resource metadata, which names the authorization server', async () => {
    const res = await get(sim.mcp.resource);
    expect(res.status).toBe(401);
    const h = challengeOf(res.headers);
    expect(h).toMatch(/^Bearer /);
    const prm = param(h, 'resource_metadata') as string;
    expect(prm).toBe(`${sim.url}/.well-known/oauth-protected-resource/mcp/server`);
    expect(param(h, 'scope')).toBe('tools:read');
    const doc = await get(prm);
    expect(doc.json).toMatchObject({ resource: sim.mcp.resource, authorization_servers: [sim.mcp.issuer] });
    const meta = await get(`${sim.url}/.well-known/oauth-authorization-server/mcp`);
    expect(meta.json).toMatchObject({
      issuer: sim.mcp.issuer,
      registration_endpoint: `${sim.mcp.issuer}/register`,
      client_id_metadata_document_supported: true,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
  });

  it('switches registration, metadata documents and the header parameter off', async () => {
    sim.mcp.configure({ dcr: false, cimd: false, resourceMetadataInHeader: false });
    const meta = (await get(`${sim.url}/.well-known/oauth-authorization-server/mcp`)).json ?? {};
    expect(meta['registration_endpoint']).toBeUndefined();
    expect(meta['client_id_metadata_document_supported']).toBeUndefined();
    const j = json({ redirect_uris: [CB] });
    expect((await post(`${sim.mcp.issuer}/register`, j.body, j.headers)).status).toBe(404);
    const h = challengeOf((await get(sim.mcp.resource)).headers);
    expect(h).not.toContain('resource_metadata');
    // The admin API turns them back on.
    const res = await post(`${sim.url}/_sim/mcp/settings`, JSON.stringify({ dcr: true }), {
      'content-type': 'application/json',
    });
    expect(res.json).toMatchObject({ dcr: true, cimd: false });
  });

  it('switches the resource metadata off (404) and the authorization server down (503 everywhere)', async () => {
    const prm = `${sim.url}/.well-known/oauth-protected-resource/mcp/server`;
    const asMeta = `${sim.url}/.well-known/oauth-authorization-server/mcp`;
    sim.mcp.configure({ resourceMetadataServed: false });
    expect((await get(prm)).status).toBe(404);
    // The 401 still names it: the link after the server is the one that broke.
    expect(param(challengeOf((await get(sim.mcp.resource)).headers), 'resource_metadata')).toBe(prm);
    expect((await get(asMeta)).status).toBe(200);
    sim.mcp.configure({ resourceMetadataServed: true, authorizationServerUp: false });
    expect((await get(prm)).status).toBe(200);
    expect((await get(asMeta)).status).toBe(503);
    const j = json({ redirect_uris: [CB] });
    expect((await post(`${sim.mcp.issuer}/register`, j.body, j.headers)).status).toBe(503);
    const refresh = form({ grant_type: 'refresh_token', refresh_token: 'x' });
    expect((await post(`${sim.mcp.issuer}/token`, refresh.body, refresh.headers)).status).toBe(503);
    expect((await get(`${sim.mcp.issuer}/authorize?response_type=code`)).status).toBe(503);
    // The protected resource itself still answers.
    expect((await get(sim.mcp.resource)).status).toBe(401);
    const res = await post(`${sim.url}/_sim/mcp/settings`, JSON.stringify({ authorizationServerUp: true }), {
      'content-type': 'application/json',
    });
    expect(res.json).toMatchObject({ authorizationServerUp: true, resourceMetadataServed: true });
    expect((await get(asMeta)).status).toBe(200);
  });
});

describe('MCP persona: authorization', () => {
  it('registers a client (RFC 7591), requires PKCE S256 and the resource, and answers with iss', async () => {
    const client = await register();
    expect(client.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(client.client_secret).toBeTruthy();
    const noResource = await authorize(client.client_id, { resource: null });
    expect(noResource.params?.get('error')).toBe('invalid_target');
    expect(noResource.params?.get('iss')).toBe(sim.mcp.issuer);
    const other = await authorize(client.client_id, { resource: 'https://elsewhere.example/mcp' });
    expect(other.params?.get('error')).toBe('invalid_target');
    const ok = await authorize(client.client_id);
    expect(ok.params?.get('iss')).toBe(sim.mcp.issuer);
    expect(ok.params?.get('state')).toBe('st');
    const code = ok.params?.get('code') as string;
    const wrongVerifier = await tokens(client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: 'x'.repeat(43),
      resource: sim.mcp.resource,
    });
    expect(wrongVerifier.json?.['error']).toBe('invalid_grant');
    // A redirect URI the client did not register gets an error page, never a redirect.
    const u = new URL(`${sim.mcp.issuer}/authorize`);
    u.searchParams.set('client_id', client.client_id);
    u.searchParams.set('redirect_uri', 'http://127.0.0.1:9/elsewhere');
    expect((await get(u.toString())).status).toBe(400);
  });

  it('issues tokens for the resource, and asks for more scope when a tool needs it', async () => {
    const client = await register({ token_endpoint_auth_method: 'client_secret_post' });
    const t = await connect(client, 'tools:read');
    expect(t.scope).toBe('tools:read');
    const echo = await get(`${sim.mcp.resource}/tools/echo?text=hi`, {
      authorization: `Bearer ${t.access_token}`,
    });
    expect(echo.json).toEqual({ echo: 'hi' });
    const write = await post(`${sim.mcp.resource}/tools/write`, '{}', {
      authorization: `Bearer ${t.access_token}`,
    });
    expect(write.status).toBe(403);
    const h = challengeOf(write.headers);
    expect(param(h, 'error')).toBe('insufficient_scope');
    expect(param(h, 'scope')).toBe('tools:read tools:write');
    const more = await connect(client, param(h, 'scope'));
    // A secret in a Basic header, when the client registered the body, is refused.
    const wrong = await tokens(
      { ...client, token_endpoint_auth_method: 'client_secret_basic' },
      {
        grant_type: 'refresh_token',
        refresh_token: more.refresh_token,
      },
    );
    expect(wrong.json?.['error']).toBe('invalid_client');
    const again = await post(`${sim.mcp.resource}/tools/write`, '{}', {
      authorization: `Bearer ${more.access_token}`,
    });
    expect(again.json).toMatchObject({ written: true });
  });

  it('rotates refresh tokens and revokes the grant when a rotated one comes back', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    expect(client.client_secret).toBeUndefined();
    const first = await connect(client);
    const r1 = await tokens(client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    const second = r1.json as { refresh_token: string; access_token: string };
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(sim.tokenStatus(first.refresh_token)).toBe('rotated');
    const before = sim.mcp.counters().reuseDetected;
    const reuse = await tokens(client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(reuse.json?.['error']).toBe('invalid_grant');
    expect(sim.mcp.counters().reuseDetected).toBe(before + 1);
    expect(sim.tokenStatus(second.refresh_token)).toBe('revoked');
    expect(
      (await get(`${sim.mcp.resource}/tools/echo`, { authorization: `Bearer ${second.access_token}` }))
        .status,
    ).toBe(401);
  });

  it('answers introspection for the resource server and for the token’s own client', async () => {
    const client = await register();
    const t = await connect(client);
    const rs = sim.discovery().vendors.mcp.introspection as { clientId: string; clientSecret: string };
    const f = form({ token: t.access_token });
    const asRs = await post(`${sim.mcp.issuer}/introspect`, f.body, {
      ...f.headers,
      authorization: basic(rs.clientId, rs.clientSecret),
    });
    expect(asRs.json).toMatchObject({
      active: true,
      aud: sim.mcp.resource,
      scope: 'tools:read',
      iss: sim.mcp.issuer,
    });
    const asClient = await post(`${sim.mcp.issuer}/introspect`, f.body, {
      ...f.headers,
      authorization: basic(client.client_id, client.client_secret as string),
    });
    expect(asClient.json?.['active']).toBe(true);
    const revoked = await post(`${sim.mcp.issuer}/revoke`, f.body, {
      ...f.headers,
      authorization: basic(client.client_id, client.client_secret as string),
    });
    expect(revoked.status).toBe(200);
    expect(
      (
        await post(`${sim.mcp.issuer}/introspect`, f.body, {
          ...f.headers,
          authorization: basic(rs.clientId, rs.clientSecret),
        })
      ).json,
    ).toEqual({ active: false });
  });
});

describe('MCP persona: clients', () => {
  it('fetches a Client ID Metadata Document, caches it, and fetches it again after an eviction', async () => {
    const id = `${docOrigin}/agent/client.json`;
    documents.set('/agent/client.json', {
      client_id: id,
      client_name: 'Agent',
      redirect_uris: [CB],
      token_endpoint_auth_method: 'none',
    });
    sim.mcp.resetCounters();
    const t = await connect({ client_id: id });
    expect(sim.mcp.counters().documentFetches).toBe(1);
    const r1 = await tokens(
      { client_id: id },
      { grant_type: 'refresh_token', refresh_token: t.refresh_token },
    );
    expect(r1.status).toBe(200);
    expect(sim.mcp.counters().documentFetches).toBe(1);
    expect(sim.mcp.evictClients().documents).toBeGreaterThanOrEqual(1);
    const r2 = await tokens(
      { client_id: id },
      { grant_type: 'refresh_token', refresh_token: r1.json?.['refresh_token'] as string },
    );
    expect(r2.status).toBe(200);
    expect(sim.mcp.counters().documentFetches).toBe(2);
  });

  it('refuses a document that names another client_id, and URL client ids when documents are off', async () => {
    const id = `${docOrigin}/liar.json`;
    documents.set('/liar.json', {
      client_id: `${docOrigin}/other.json`,
      client_name: 'Liar',
      redirect_uris: [CB],
    });
    expect((await authorize(id)).status).toBe(400);
    const honest = `${docOrigin}/honest.json`;
    documents.set('/honest.json', { client_id: honest, client_name: 'Honest', redirect_uris: [CB] });
    sim.mcp.configure({ cimd: false });
    expect((await authorize(honest)).status).toBe(400);
    sim.mcp.configure({ cimd: true });
    expect((await authorize(honest)).status).toBe(302);
  });

  it('forgets registered clients on eviction: invalid_client, and their grants are gone', async () => {
    const client = await register();
    const t = await connect(client);
    sim.mcp.evictClients();
    const r = await tokens(client, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
    expect(r.status).toBe(401);
    expect(r.json?.['error']).toBe('invalid_client');
    expect(sim.tokenStatus(t.refresh_token)).toBe('revoked');
    // A new registration is a new client: the old grant is not its.
    const again = await register();
    expect(again.client_id).not.toBe(client.client_id);
  });

  it('accepts tokens only for resources it serves, including ones added by the control', async () => {
    const client = await register();
    const resource = 'http://127.0.0.1:9/other-mcp';
    expect((await authorize(client.client_id, { resource })).params?.get('error')).toBe('invalid_target');
    sim.mcp.addResource(resource);
    const a = await authorize(client.client_id, { resource });
    const t = await tokens(client, {
      grant_type: 'authorization_code',
      code: a.params?.get('code') as string,
      redirect_uri: CB,
      code_verifier: a.verifier,
      resource,
    });
    expect(t.status).toBe(200);
    // A token for the other resource is not one for the simulated server (its audience differs).
    expect(
      (await get(`${sim.mcp.resource}/tools/echo`, { authorization: `Bearer ${t.json?.['access_token']}` }))
        .status,
    ).toBe(401);
  });
});
