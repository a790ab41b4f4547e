import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { AuthorizationError } from '../../src/errors.js';
import { type AuthorizationRequest, BatonOAuthProvider, batonOAuthProvider } from '../../src/mcp-package.js';
import { mcpProviderId } from '../../src/providers/mcp.js';
import { consent } from '../helpers/sim-baton.js';
import { documentServer, type EngineName, engines, type McpWorld, mcpWorld } from './helpers.js';
import { type SdkServer, startSdkServer } from './sdk-server.js';

/**
 * The MCP SDK's client, with Baton's OAuthClientProvider, against a real MCP server built with
 * the SDK (streamable HTTP, bearer auth by introspection at the simulator's MCP authorization
 * server) over loopback: first authorization, tools listed and called, step-up on
 * insufficient_scope, revocation → needs_reauth with a reconnect link, the registered client
 * forgotten → registered again without a prompt, on every engine (docs/architecture.md, "MCP").
 */

const HOUR = 3_600_000;
let w: McpWorld | null = null;
let server: SdkServer | null = null;
afterEach(async () => {
  await server?.close();
  await w?.close();
  server = null;
  w = null;
});

interface Agent {
  provider: BatonOAuthProvider;
  prompts: AuthorizationRequest[];
  /** A client on a new transport (the SDK's transports start once). */
  connect(): Promise<Client>;
}

function agent(baton: Baton, url: string, connectionId = 'tools'): Agent {
  const prompts: AuthorizationRequest[] = [];
  const provider = batonOAuthProvider(baton, {
    connectionId,
    serverUrl: url,
    onAuthorizationUrl: (request) => {
      prompts.push(request);
    },
  });
  return {
    provider,
    prompts,
    async connect() {
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        authProvider: provider,
        fetch: provider.fetch,
      });
      const client = new Client({ name: 'baton-test-agent', version: '1.0.0' });
      await client.connect(transport);
      return client;
    },
  };
}

/** The user approves the last authorization the agent was asked for; its callback completes it. */
async function approve(a: Agent): Promise<void> {
  const last = a.prompts.at(-1);
  if (!last) throw new Error('no authorization was asked for');
  await a.provider.finishAuthorization(await consent(last.url.toString(), 'approve'));
}

const text = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;

/** A world, the SDK's MCP server behind it, and an agent the user has approved, connected. */
async function connectedAgent(engine: EngineName) {
  w = await mcpWorld(engine);
  server = await startSdkServer(w.sim);
  const a = agent(w.baton, server.url);
  await a.connect().catch(() => undefined);
  await approve(a);
  return { w, server, a, client: await a.connect() };
}

for (const engine of engines('memory', 'sqlite', 'postgres')) {
  describe(`the MCP SDK with Baton's provider (${engine})`, () => {
    it('authorizes on first connect, then lists and calls tools with the token Baton keeps', async () => {
      w = await mcpWorld(engine);
      server = await startSdkServer(w.sim);
      const a = agent(w.baton, server.url);
      await expect(a.connect()).rejects.toBeInstanceOf(UnauthorizedError);
      expect(a.prompts.map((p) => p.reason)).toEqual(['connect']);
      const asked = a.prompts[0]?.url as URL;
      expect(asked.searchParams.get('resource')).toBe(server.url);
      expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
      await approve(a);
      const info = await w.baton.get('tools');
      expect(info).toMatchObject({
        provider: mcpProviderId(w.sim.mcp.issuer),
        params: { resource: server.url },
        status: 'active',
      });
      const client = await a.connect();
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual(['echo', 'write']);
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'hello' } }))).toBe('hello');
      expect(w.sim.mcp.counters().registrations).toBe(1);
      // The SDK never held the refresh token: the token it was given is Baton's access token.
      const tokens = await a.provider.tokens();
      expect(tokens?.refresh_token).toBeUndefined();
      expect(tokens?.access_token).toBe(await w.baton.getAccessToken('tools'));
      // An expired token is refreshed by Baton before the SDK sends it.
      w.sim.clock.advance(HOUR + 5_000);
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'later' } }))).toBe('later');
      expect(w.sim.counters().token.mcp.byGrant['refresh_token']).toBe(1);
      expect(a.prompts).toHaveLength(1);
      await client.close();
    });

    it('a token the server refuses before its time: Baton refreshes once and the call is retried, nobody asked', async () => {
      const { w, a, client } = await connectedAgent(engine);
      const before = await w.baton.getAccessToken('tools');
      w.sim.expireAccessTokens({ vendor: 'mcp' });
      const calls = await Promise.all(
        ['a', 'b', 'c'].map((t) => client.callTool({ name: 'echo', arguments: { text: t } })),
      );
      expect(calls.map(text)).toEqual(['a', 'b', 'c']);
      expect(w.sim.counters().token.mcp.byGrant['refresh_token']).toBe(1);
      expect(await w.baton.getAccessToken('tools')).not.toBe(before);
      expect(a.prompts).toHaveLength(1);
      await client.close();
    });

    it('steps up on insufficient_scope: the user is asked for the union of scopes, then the tool works', async () => {
      const { w, a, client } = await connectedAgent(engine);
      await expect(client.callTool({ name: 'write', arguments: { text: 'x' } })).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      const stepUp = a.prompts.at(-1) as AuthorizationRequest;
      expect(stepUp.reason).toBe('step_up');
      expect(stepUp.scopes).toEqual(['tools:read', 'tools:write']);
      // Meanwhile the grant in use still answers.
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'still' } }))).toBe('still');
      await approve(a);
      expect((await w.baton.get('tools')).scopes).toEqual(['tools:read', 'tools:write']);
      expect(text(await client.callTool({ name: 'write', arguments: { text: 'x' } }))).toBe('wrote x');
      await client.close();
    });

    it('a revoked grant: Baton marks needs_reauth and the SDK hands the reconnect link', async () => {
      const { w, a, client } = await connectedAgent(engine);
      w.sim.revokeGrants({ vendor: 'mcp' });
      await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      const info = await w.baton.get('tools');
      expect(info.status).toBe('needs_reauth');
      const reconnect = a.prompts.at(-1) as AuthorizationRequest;
      expect(reconnect.reason).toBe('reauthorize');
      await approve(a);
      expect((await w.baton.get('tools')).status).toBe('active');
      const again = await a.connect();
      expect(text(await again.callTool({ name: 'echo', arguments: { text: 'back' } }))).toBe('back');
      await again.close();
      await client.close();
    });

    it('a forgotten registration: registered again without asking; the grant that did not survive asks once', async () => {
      const { w, a, client } = await connectedAgent(engine);
      const before = (await w.baton.get('tools')).clientId;
      w.sim.mcp.evictClients();
      w.sim.clock.advance(HOUR + 5_000);
      await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      expect(w.sim.mcp.counters().registrations).toBe(2);
      expect(a.prompts.at(-1)?.reason).toBe('reauthorize');
      await approve(a);
      const info = await w.baton.get('tools');
      expect(info.clientId).not.toBe(before);
      expect(w.sim.mcp.counters().registrations).toBe(2);
      const again = await a.connect();
      expect(text(await again.callTool({ name: 'echo', arguments: { text: 'y' } }))).toBe('y');
      await again.close();
      await client.close();
    });
  });
}

describe('the MCP SDK with a client metadata document', () => {
  it('uses the document as client id; after an eviction the grant survives and nobody is asked', async () => {
    const docs = await documentServer();
    try {
      const clientMetadataUrl = `${docs.origin}/agent.json`;
      w = await mcpWorld('sqlite', {
        baton: {
          mcp: { clientMetadataUrl, redirectUri: 'http://127.0.0.1:1/callback', clientName: 'Agent' },
        },
      });
      docs.serve('/agent.json', w.baton.mcp.clientMetadataDocument());
      server = await startSdkServer(w.sim);
      const a = agent(w.baton, server.url);
      await a.connect().catch(() => undefined);
      await approve(a);
      expect((await w.baton.get('tools')).clientId).toBe(clientMetadataUrl);
      const client = await a.connect();
      w.sim.mcp.evictClients();
      w.sim.clock.advance(HOUR + 5_000);
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'z' } }))).toBe('z');
      expect(a.prompts).toHaveLength(1);
      expect(w.sim.mcp.counters()).toMatchObject({ registrations: 0, documentFetches: 2 });
      await client.close();
    } finally {
      await docs.close();
    }
  });

  it('refuses transport.finishAuth(code): the verifier is Baton’s, sealed in its store', async () => {
    w = await mcpWorld('memory');
    server = await startSdkServer(w.sim);
    const a = agent(w.baton, server.url);
    let thrown: unknown = null;
    try {
      a.provider.codeVerifier();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AuthorizationError);
    expect((thrown as AuthorizationError).remediation).toContain('provider.finishAuthorization(callbackUrl)');
    expect(a.provider).toBeInstanceOf(BatonOAuthProvider);
  });
});
