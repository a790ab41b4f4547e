import { fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import {
  ConnectionMismatch,
  InsufficientScope,
  McpDiscoveryError,
  ReauthorizationRequired,
} from '../../src/errors.js';
import { mcpProviderId } from '../../src/providers/mcp.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { migrateStore } from '../../src/store/migrate.js';
import { randomKey } from '../helpers/env.js';
import {
  complete,
  connectMcp,
  documentServer,
  engines,
  type McpWorld,
  mcpWorld,
  REDIRECT,
} from './helpers.js';

/**
 * MCP servers' authorization through the library (docs/architecture.md, "MCP"): the discovery
 * chain from the server's URL, the client (pre-registered, client metadata document, RFC 7591
 * registration — sealed in the store), RFC 8707 resource and RFC 9207 iss, step-up on
 * insufficient_scope, invalid_client, revocation — against the simulator's MCP persona, on
 * every engine.
 */

const HOUR = 3_600_000;
let w: McpWorld | null = null;
afterEach(async () => {
  await w?.close();
  w = null;
});

for (const engine of engines('memory', 'sqlite', 'postgres')) {
  describe(`MCP through the library (${engine})`, () => {
    it('the client in hand without obtaining one, renewed after the server forgot it; discover with force reads every link now', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      const provider = mcpProviderId(sim.mcp.issuer);
      expect(await baton.mcp.heldClient(sim.mcp.issuer)).toBeNull();
      const { info } = await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      // Another process on the store sees the stored client, with its redirect URIs, never its secret.
      const other = await w.open();
      const held = await other.mcp.heldClient(provider);
      expect(held).toEqual({ clientId: info.clientId, kind: 'registered', redirectUris: [REDIRECT] });
      expect(Object.keys(held ?? {})).not.toContain('clientSecret');
      expect((await other.verifyClient(provider, { resource: sim.mcp.resource })).result).toBe('ok');
      sim.mcp.evictClients();
      expect((await other.verifyClient(provider, { resource: sim.mcp.resource })).result).toBe('rejected');
      const renewed = await other.mcp.renewClient(sim.mcp.issuer);
      expect(renewed).toMatchObject({ kind: 'registered', redirectUris: [REDIRECT] });
      expect(renewed?.clientId).not.toBe(info.clientId);
      expect(sim.mcp.counters().registrations).toBe(2);
      expect((await baton.mcp.heldClient(provider))?.clientId).toBe(renewed?.clientId);
      expect((await other.verifyClient(provider, { resource: sim.mcp.resource })).result).toBe('ok');

      // The authorization server down: the copy in hand serves an ordinary discovery; force does not take it.
      await baton.mcp.discover(sim.mcp.resource, { force: true });
      sim.mcp.configure({ authorizationServerUp: false });
      try {
        baton.mcp.forgetDiscovery();
        const forced = await baton.mcp.discover(sim.mcp.resource, { force: true }).catch((e: unknown) => e);
        expect(forced).toBeInstanceOf(McpDiscoveryError);
        expect((forced as McpDiscoveryError).link).toBe('authorization_server');
        expect((forced as McpDiscoveryError).toJSON()).toMatchObject({
          code: 'mcp_authorization_server',
          link: 'authorization_server',
          url: sim.mcp.issuer,
        });
        expect(await baton.mcp.discover(sim.mcp.resource)).toMatchObject({ issuer: sim.mcp.issuer });
      } finally {
        sim.mcp.configure({ authorizationServerUp: true });
      }
    });

    it('connects from the server URL alone: 401 → resource metadata → authorization server → registration → PKCE, resource, iss', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      const { begun, info } = await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      const provider = mcpProviderId(sim.mcp.issuer);
      expect(begun.provider).toBe(provider);
      const url = new URL(begun.url);
      expect(url.searchParams.get('resource')).toBe(sim.mcp.resource);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('scope')).toBe('tools:read');
      expect(info).toMatchObject({
        provider,
        params: { resource: sim.mcp.resource },
        status: 'active',
        scopes: ['tools:read'],
      });
      expect(sim.mcp.counters().registrations).toBe(1);
      // The registration is stored sealed: its secret is nowhere in the row.
      const row = await baton.store.clientRegistrations?.get(sim.mcp.issuer);
      expect(row?.clientId).toBe(info.clientId);
      const secret = baton.clientFor(provider, { resource: sim.mcp.resource })?.clientSecret as string;
      expect(secret).toBeTruthy();
      expect(JSON.stringify(row)).not.toContain(secret);
      // The connection's API base is the MCP server.
      const res = await baton.fetch('tools', 'tools/echo?text=hi');
      expect(await res.json()).toEqual({ echo: 'hi' });
      // A second connection to the same server reuses the registration.
      await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools-2', account: 'bob' });
      expect(sim.mcp.counters().registrations).toBe(1);
      // Another process on the store uses the stored client: no registration, a refresh works.
      const other = await w.open();
      sim.clock.advance(HOUR + 5_000);
      expect(await other.getAccessToken('tools')).toBeTruthy();
      expect(sim.mcp.counters().registrations).toBe(1);
    });

    it('steps up on insufficient_scope with the union of scopes, keeping the grant in use meanwhile', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      const denied = await baton.fetch('tools', 'tools/write', { method: 'POST', body: '{}' });
      expect(denied.status).toBe(403);
      await denied.text();
      const err = await baton.mcp.insufficientScope('tools', denied.headers.get('www-authenticate'));
      expect(err).toBeInstanceOf(InsufficientScope);
      expect(err?.scopes).toEqual(['tools:read', 'tools:write']);
      expect(err?.remediation).toContain('baton.mcp.stepUp');
      const begun = await baton.mcp.stepUp({ connectionId: 'tools', scopes: err?.requested ?? [] });
      expect(new URL(begun.url).searchParams.get('scope')).toBe('tools:read tools:write');
      // Until the step-up completes, the old grant answers.
      expect((await baton.fetch('tools', 'tools/echo')).status).toBe(200);
      const info = await complete(baton, begun.url);
      expect(info.scopes).toEqual(['tools:read', 'tools:write']);
      const res = await baton.fetch('tools', 'tools/write', { method: 'POST', body: '{}' });
      expect(await res.json()).toMatchObject({ written: true });
    });

    it('uses a client metadata document where the server takes one, and its grant survives an eviction', async () => {
      const docs = await documentServer();
      try {
        const clientMetadataUrl = `${docs.origin}/agent/client.json`;
        w = await mcpWorld(engine, {
          baton: {
            mcp: { clientMetadataUrl, redirectUri: 'http://127.0.0.1:1/callback', clientName: 'Agent' },
          },
        });
        const { sim, baton } = w;
        docs.serve('/agent/client.json', baton.mcp.clientMetadataDocument());
        const { info } = await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
        expect(info.clientId).toBe(clientMetadataUrl);
        expect(sim.mcp.counters()).toMatchObject({ registrations: 0, documentFetches: 1 });
        sim.mcp.evictClients();
        sim.clock.advance(HOUR + 5_000);
        await baton.refresh('tools');
        expect((await baton.get('tools')).status).toBe('active');
        expect(sim.mcp.counters().documentFetches).toBe(2);
      } finally {
        await docs.close();
      }
    });

    it('uses a pre-registered client before anything else', async () => {
      const sim0 = await mcpWorld(engine);
      const issuer = sim0.sim.mcp.issuer;
      const client = sim0.sim.discovery().vendors.mcp.clients[0] as {
        clientId: string;
        clientSecret: string;
      };
      const baton = await sim0.open({
        clients: {
          [mcpProviderId(issuer)]: { clientId: client.clientId, clientSecret: client.clientSecret },
        },
      });
      w = sim0;
      const { info } = await connectMcp(baton, { mcp: sim0.sim.mcp.resource, connectionId: 'tools' });
      expect(info.clientId).toBe(client.clientId);
      expect(sim0.sim.mcp.counters().registrations).toBe(0);
      expect(await baton.store.clientRegistrations?.get(issuer)).toBeNull();
    });

    it('registers again when the server forgot the client: no prompt; the grant that did not survive asks for a reconnect', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      const { info } = await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      sim.mcp.evictClients();
      sim.clock.advance(HOUR + 5_000);
      const err = await baton.getAccessToken('tools').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReauthorizationRequired);
      expect((err as Error).message).toContain('registered a new one');
      expect(sim.mcp.counters().registrations).toBe(2);
      const after = await baton.get('tools');
      expect(after.status).toBe('needs_reauth');
      // Reconnecting uses the new registration: no third one, and the connection is whole again.
      const again = await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      expect(again.info.clientId).not.toBe(info.clientId);
      expect(again.info.status).toBe('active');
      expect(sim.mcp.counters().registrations).toBe(2);
      expect((await baton.fetch('tools', 'tools/echo')).status).toBe(200);
    });

    it('marks a revoked grant needs_reauth, and the reconnect link authorizes it again', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      sim.revokeGrants({ vendor: 'mcp' });
      const res = await baton.fetch('tools', 'tools/echo').catch((e: unknown) => e);
      expect(res).toBeInstanceOf(ReauthorizationRequired);
      expect((res as ReauthorizationRequired).remediation).toContain('baton reconnect tools');
      expect((await baton.get('tools')).status).toBe('needs_reauth');
      const begun = await baton.beginAuthorization({ mcp: sim.mcp.resource, connectionId: 'tools' });
      await complete(baton, begun.url);
      expect((await baton.fetch('tools', 'tools/echo')).status).toBe(200);
    });

    it('revokes at the authorization server and marks the connection revoked', async () => {
      w = await mcpWorld(engine);
      const { sim, baton } = w;
      await connectMcp(baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
      const token = await baton.getAccessToken('tools');
      expect(await baton.revoke('tools')).toEqual({ revokedAtProvider: true });
      expect(sim.tokenStatus(token)).toBe('revoked');
      expect((await baton.get('tools')).status).toBe('revoked');
    });
  });
}

describe('client registrations move with the store and its keys', () => {
  it('rekey re-seals them and migrate copies them: the registered client keeps refreshing', async () => {
    w = await mcpWorld('sqlite');
    const { sim } = w;
    await connectMcp(w.baton, { mcp: sim.mcp.resource, connectionId: 'tools' });
    const newKey = randomKey();
    const rotating = await w.open({
      secretKey: newKey,
      env: { BATON_HOME: w.dir, BATON_SECRET_KEY_PREVIOUS: w.secretKey },
    });
    const result = await rotating.rekey();
    expect(result).toMatchObject({ registrationsRekeyed: 1, verified: true, failed: [] });
    const onNewKey = await w.open({ secretKey: newKey });
    sim.clock.advance(HOUR + 5_000);
    await onNewKey.refresh('tools');
    const target = new MemoryStore();
    await migrateStore(onNewKey.store, target);
    // The sealed blob moves untouched (the version is the target's own counter).
    const copied = await target.clientRegistrations.get(sim.mcp.issuer);
    const source = await onNewKey.store.clientRegistrations?.get(sim.mcp.issuer);
    expect(copied?.sealed).toBe(source?.sealed);
    expect(copied?.clientId).toBe(source?.clientId);
    const moved = await Baton.open({
      store: target,
      secretKey: newKey,
      clock: { now: () => sim.clock.now() },
    });
    try {
      sim.clock.advance(HOUR + 5_000);
      await moved.refresh('tools');
      expect((await moved.fetch('tools', 'tools/echo')).status).toBe(200);
      expect(sim.mcp.counters().registrations).toBe(1);
    } finally {
      await moved.close();
    }
  });
});

describe('MCP discovery chain: each broken link says which', () => {
  it('falls back to the well-known URL when the 401 names no resource metadata', async () => {
    w = await mcpWorld('memory', { sim: { mcp: { resourceMetadataInHeader: false } } });
    const server = await w.baton.mcp.discover(w.sim.mcp.resource);
    expect(server.resourceMetadataUrl).toBe(`${w.sim.url}/.well-known/oauth-protected-resource/mcp/server`);
    expect(server.issuer).toBe(w.sim.mcp.issuer);
  });

  it('the server: not a URL Baton sends tokens to', async () => {
    w = await mcpWorld('memory');
    const err = await w.baton.mcp.discover('http://example.com/mcp').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpDiscoveryError);
    expect((err as McpDiscoveryError).link).toBe('server');
  });

  it('the resource metadata: none published', async () => {
    w = await mcpWorld('memory');
    const err = await w.baton.mcp.discover(`${w.sim.url}/mcp/elsewhere`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpDiscoveryError);
    expect((err as McpDiscoveryError).link).toBe('resource_metadata');
    expect((err as McpDiscoveryError).remediation).toMatch(/RFC 9728/);
  });

  it('the resource metadata: it names another resource', async () => {
    w = await mcpWorld('memory');
    const err = await w.baton.mcp
      .discover(`${w.sim.url}/other`, {
        resourceMetadataUrl: `${w.sim.url}/.well-known/oauth-protected-resource/mcp/server`,
      })
      .catch((e: unknown) => e);
    expect((err as McpDiscoveryError).link).toBe('resource_metadata');
    expect((err as Error).message).toContain('names the resource');
  });

  it('the client: neither registration nor a metadata document', async () => {
    w = await mcpWorld('memory', { sim: { mcp: { dcr: false, cimd: false } } });
    const err = await w.baton
      .beginAuthorization({ mcp: w.sim.mcp.resource, connectionId: 'tools' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpDiscoveryError);
    expect((err as McpDiscoveryError).link).toBe('client');
    expect((err as McpDiscoveryError).remediation).toContain('clients:');
  });

  it('a connection id already used for another server needs replace', async () => {
    w = await mcpWorld('memory');
    await connectMcp(w.baton, { mcp: w.sim.mcp.resource, connectionId: 'tools' });
    w.sim.mcp.addResource(`${w.sim.url}/mcp/server2`);
    const res = await fetch(`${w.sim.url}/mcp/server`);
    await res.text();
    const err = await w.baton
      .beginAuthorization({
        mcp: `${w.sim.url}/mcp/server/sub`,
        connectionId: 'tools',
        resourceMetadataUrl: `${w.sim.url}/.well-known/oauth-protected-resource/mcp/server`,
      })
      .then(() => null)
      .catch((e: unknown) => e);
    // The same server (its metadata covers the sub-path): the same connection, no mismatch.
    expect(err).toBeNull();
    const other = await w.baton
      .beginAuthorization({
        provider: mcpProviderId(w.sim.mcp.issuer),
        connectionId: 'tools',
        params: { resource: `${w.sim.url}/mcp/server2` },
      })
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ConnectionMismatch);
  });
});
