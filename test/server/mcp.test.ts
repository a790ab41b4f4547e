import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpProviderId } from '../../src/providers/mcp.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { consent } from '../helpers/sim-baton.js';
import { connectMcp, engines, type McpWorld, mcpWorld, REDIRECT } from '../mcp/helpers.js';
import { type SdkServer, startSdkServer } from '../mcp/sdk-server.js';
import { Capture } from './helpers.js';

/**
 * MCP's streamable HTTP through the vault (README, "Agents and MCP", "From the server"): the
 * MCP SDK's client, holding only a caller key, lists and calls tools at `/v1/mcp/{id}` against a
 * real MCP server built with the SDK (sessions, event streams) behind the simulator's
 * authorization server; the vault sends the connection's token, refreshed once when due or
 * refused, and answers every refusal as a problem with what to do. On SQLite and PostgreSQL:
 * the audit rows are the store's, and nothing secret is in them, in the log or in an answer.
 */

const HOUR = 3_600_000;
const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const ACCEPT = 'application/json, text/event-stream';
const text = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;

for (const engine of engines('sqlite', 'postgres')) {
  describe(`/v1/mcp/{id} on ${engine}`, () => {
    let w: McpWorld;
    let sdk: SdkServer;
    let server: BatonServer;
    const logs = new Capture();
    const keys: Record<string, string> = {};
    /** Every answer the vault gave, to scan for secrets. */
    const answers: string[] = [];
    const refreshes = () => w.sim.counters().token.mcp.byGrant['refresh_token'] ?? 0;

    beforeAll(async () => {
      w = await mcpWorld(engine, {
        baton: {
          providers: {
            keyed: {
              apiBaseUrl: 'http://127.0.0.1:9/base/',
              authModes: ['api_key'],
              apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
            },
          },
        },
      });
      sdk = await startSdkServer(w.sim, { stateful: true });
      await connectMcp(w.baton, { mcp: sdk.url, connectionId: 'tools' });
      await connectMcp(w.baton, { mcp: sdk.url, connectionId: 'gone' });
      await w.baton.connect({
        connectionId: 'plain',
        provider: 'keyed',
        credentials: { apiKey: 'planted-static-key-4e1d' },
      });
      server = await startServer({
        instance: w.baton,
        store: w.storeSpec as string,
        port: 0,
        keeper: false,
        webhooks: false,
        logStream: logs,
        logLevel: 'debug',
        proxyTimeoutMs: 2_000,
        cacheTtlMs: 100,
      });
      const make = async (name: string, allow: string[], ops: ('read' | 'token' | 'proxy' | 'manage')[]) => {
        keys[name] = (await createCallerKey(server.serverStore, { name, allow, ops })).key;
      };
      await make('agent', ['tools', 'gone', 'plain', 'outside', 'down', 'missing'], ['proxy']);
      await make('admin', ['*'], ['read', 'proxy', 'manage']);
      await make('reader', ['*'], ['read']);
      await make('elsewhere', ['other-*'], ['proxy']);
    }, 60_000);

    afterAll(async () => {
      await server?.close();
      await sdk?.close();
      await w?.close();
    });

    const url = (id: string) => `${server.url}/v1/mcp/${id}`;

    /** A raw request to the route; the answer is kept for the secrets scan. */
    const raw = async (
      method: string,
      id: string,
      options: { key?: string | null; headers?: Record<string, string>; body?: unknown } = {},
    ) => {
      const res = await request(url(id), {
        method: method as 'POST',
        headers: {
          ...(options.key === null ? {} : { authorization: `Bearer ${options.key ?? keys['agent']}` }),
          ...(options.body !== undefined ? { 'content-type': 'application/json', accept: ACCEPT } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined
          ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
          : {}),
        signal: AbortSignal.timeout(20_000),
      });
      const body = await res.body.text();
      answers.push(JSON.stringify(res.headers), body);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // an event stream, or nothing
      }
      return { status: res.statusCode, headers: res.headers, body, json };
    };

    /** A session begun by hand: initialize, then the initialized notification. */
    const session = async (id = 'tools') => {
      const init = await raw('POST', id, { body: INIT });
      expect(init.status).toBe(200);
      const sid = init.headers['mcp-session-id'] as string;
      expect(sid).toBeTruthy();
      const done = await raw('POST', id, {
        body: { jsonrpc: '2.0', method: 'notifications/initialized' },
        headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
      });
      expect(done.status).toBe(202);
      return sid;
    };

    /** A `tools/call` in the session `sid`, sent as raw HTTP. */
    const callTool = (sid: string, id: number, name: string, text: string) =>
      raw('POST', 'tools', {
        body: { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { text } } },
        headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
      });

    const agentClient = async (id = 'tools') => {
      const transport = new StreamableHTTPClientTransport(new URL(url(id)), {
        requestInit: { headers: { authorization: `Bearer ${keys['agent']}` } },
      });
      const client = new Client({ name: 'vault-agent', version: '1.0.0' });
      await client.connect(transport);
      return { client, transport };
    };

    it('the SDK client lists and calls tools with only its caller key; the session id goes round', async () => {
      const from = sdk.seen.length;
      const { client, transport } = await agentClient();
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual(['announce', 'echo', 'write']);
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'through the vault' } }))).toBe(
        'through the vault',
      );
      // The session the server made came back to the client, and went up with every later request.
      const sid = transport.sessionId as string;
      expect(sdk.sessions()).toContain(sid);
      const later = sdk.seen
        .slice(from)
        .filter((s) => s.method === 'POST')
        .slice(1);
      expect(later.length).toBeGreaterThan(0);
      for (const s of later) expect(s.session).toBe(sid);
      // Upstream saw the connection's token, never the caller key.
      const token = await w.baton.getAccessToken('tools');
      for (const s of sdk.seen.slice(from)) expect(s.authorization).toBe(`Bearer ${token}`);
      // DELETE ends the session at the server.
      await transport.terminateSession();
      expect(sdk.sessions()).not.toContain(sid);
      await client.close();
    });

    it('streams the GET event stream without a silence bound, and POST answers as event streams', async () => {
      const sid = await session();
      const from = sdk.seen.length;
      const stream = await request(url('tools'), {
        headers: {
          authorization: `Bearer ${keys['agent']}`,
          accept: 'text/event-stream',
          'mcp-session-id': sid,
          'mcp-protocol-version': '2025-06-18',
          'last-event-id': 'evt-7',
          cookie: 'vault_session=c-1',
          'x-caller-note': 'not for upstream',
        },
        // The headers arrive before any event: a vault that held them back would never answer.
        headersTimeout: 20_000,
      });
      expect(stream.statusCode).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(stream.headers['mcp-session-id']).toBe(sid);
      expect(stream.headers['www-authenticate']).toBeUndefined();
      // The transport's headers crossed, and nothing else of the caller's.
      const got = sdk.seen.slice(from).find((s) => s.method === 'GET')?.headers ?? {};
      expect(got).toMatchObject({
        accept: 'text/event-stream',
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-06-18',
        'last-event-id': 'evt-7',
      });
      expect(got['cookie']).toBeUndefined();
      expect(got['x-caller-note']).toBeUndefined();
      expect(got['authorization']).toBe(`Bearer ${await w.baton.getAccessToken('tools')}`);
      // Longer than --proxy-timeout (2 s) without a byte: the stream stays open.
      await new Promise((r) => setTimeout(r, 2_500));
      const called = await callTool(sid, 2, 'announce', 'hi');
      expect(called.status).toBe(200);
      expect(called.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(called.body).toContain('announced hi');
      // The notification arrives on the open GET stream, which the upstream has not ended.
      let seen = '';
      for await (const chunk of stream.body) {
        seen += chunk.toString();
        if (seen.includes('notifications/message')) break;
      }
      expect(seen).toContain('"data":"hi"');
      stream.body.destroy();
      // The SDK client opens that stream too, and gets the notification through it.
      const mark = sdk.seen.length;
      const { client } = await agentClient();
      const heard = new Promise<string>((resolve) =>
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
          resolve(String(n.params.data)),
        ),
      );
      // (The client's GET stream is open once the server holds it for the session.)
      for (let i = 0; i < 200 && !sdk.seen.slice(mark).some((s) => s.method === 'GET'); i++)
        await new Promise((r) => setTimeout(r, 10));
      await client.callTool({ name: 'announce', arguments: { text: 'to the sdk' } });
      expect(await heard).toBe('to the sdk');
      await client.close();
    });

    it('a server that closes ends the event streams it forwards instead of waiting for them', async () => {
      const second = await startServer({
        instance: w.baton,
        store: w.storeSpec as string,
        port: 0,
        keeper: false,
        webhooks: false,
        logStream: logs,
        // Longer than the test's own bound: a close that waited for the stream would fail it.
        shutdownTimeoutMs: 600_000,
      });
      const sid = await session();
      const stream = await request(`${second.url}/v1/mcp/tools`, {
        headers: {
          authorization: `Bearer ${keys['agent']}`,
          accept: 'text/event-stream',
          'mcp-session-id': sid,
          'mcp-protocol-version': '2025-06-18',
        },
      });
      expect(stream.statusCode).toBe(200);
      const ended = stream.body.text().then(
        () => 'ended',
        () => 'cut',
      );
      await second.close();
      expect(['ended', 'cut']).toContain(await ended);
      // Its audit row says why it ended (rows are written in batches).
      let rows = await server.serverStore.audit({ limit: 1000 });
      for (let i = 0; i < 100 && !rows.some((r) => r.outcome === 'shutting_down'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await server.serverStore.audit({ limit: 1000 });
      }
      expect(
        rows.some(
          (r) => r.operation === 'mcp' && r.outcome === 'shutting_down' && r.detail?.startsWith('GET'),
        ),
      ).toBe(true);
    });

    it('an expired token is refreshed once before it is sent; one refused early is refreshed once and retried', async () => {
      const { client } = await agentClient();
      const before = refreshes();
      w.sim.clock.advance(HOUR + 5_000);
      const calls = await Promise.all(
        ['a', 'b', 'c'].map((t) => client.callTool({ name: 'echo', arguments: { text: t } })),
      );
      expect(calls.map(text)).toEqual(['a', 'b', 'c']);
      expect(refreshes()).toBe(before + 1);
      w.sim.expireAccessTokens({ vendor: 'mcp' });
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'early' } }))).toBe('early');
      expect(refreshes()).toBe(before + 2);
      await client.close();
    });

    it('who may ask: no key 401, a key without proxy 403, a key scoped elsewhere 403 whether or not the id exists', async () => {
      const none = await raw('POST', 'tools', { key: null, body: INIT });
      expect(none.status).toBe(401);
      expect(none.json['code']).toBe('unauthorized');
      const reader = await raw('POST', 'tools', { key: keys['reader'], body: INIT });
      expect(reader.status).toBe(403);
      expect(reader.json['code']).toBe('forbidden');
      expect(reader.json['remediation']).toContain('proxy');
      for (const id of ['tools', 'nonexistent']) {
        const out = await raw('POST', id, { key: keys['elsewhere'], body: INIT });
        expect(out.status).toBe(403);
        expect(out.json['code']).toBe('forbidden');
      }
      const missing = await raw('POST', 'missing', { body: INIT });
      expect(missing.status).toBe(404);
      expect(missing.json['code']).toBe('connection_not_found');
      // The provider's kill switch applies as to the proxy (honoured within the cache's 100 ms).
      const provider = mcpProviderId(w.sim.mcp.issuer);
      await server.serverStore.disableProvider(provider, Date.now());
      let off = await raw('POST', 'tools', { body: INIT });
      for (let i = 0; i < 100 && off.status !== 403; i++) {
        await new Promise((r) => setTimeout(r, 20));
        off = await raw('POST', 'tools', { body: INIT });
      }
      expect(off.json['code']).toBe('provider_disabled');
      await server.serverStore.enableProvider(provider);
      let on = await raw('POST', 'tools', { body: INIT });
      for (let i = 0; i < 100 && on.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        on = await raw('POST', 'tools', { body: INIT });
      }
      expect(on.status).toBe(200);
    });

    it('refuses a connection that is not an MCP server’s, and an endpoint outside the resource', async () => {
      const plain = await raw('POST', 'plain', { body: INIT });
      expect(plain.status).toBe(409);
      expect(plain.json['code']).toBe('not_mcp');
      expect(plain.json['remediation']).toContain('/v1/proxy/plain/');
      // Tokens imported for the resource, with an endpoint elsewhere: nothing is sent there.
      const provider = mcpProviderId(w.sim.mcp.issuer);
      // (Under the client Baton registered, so that the connection loads as the vault's own.)
      const clientId = (await w.baton.get('tools')).clientId as string;
      const importer = await w.open({ clients: { [provider]: { clientId, redirectUri: REDIRECT } } });
      await importer.importTokens({
        provider,
        connectionId: 'outside',
        params: { resource: sdk.url, endpoint: 'http://127.0.0.1:9/elsewhere' },
        accessToken: 'planted-outside-access-4b7c',
        refreshToken: 'planted-outside-refresh-1d9e',
        expiresAt: w.sim.clock.now() + HOUR,
      });
      const outside = await raw('POST', 'outside', { body: INIT });
      expect(outside.status).toBe(409);
      expect(outside.json['code']).toBe('mcp_endpoint_outside_resource');
      expect(outside.json['detail']).toContain('http://127.0.0.1:9/elsewhere');
      // An MCP server nobody answers at: 502 network_error, saying what to do.
      await importer.importTokens({
        provider,
        connectionId: 'down',
        params: { resource: 'http://127.0.0.1:9/mcp', endpoint: 'http://127.0.0.1:9/mcp' },
        accessToken: 'planted-down-access-8a2f',
        expiresAt: w.sim.clock.now() + HOUR,
      });
      const down = await raw('POST', 'down', { body: INIT });
      expect(down.status, down.body).toBe(502);
      expect(down.json['code']).toBe('network_error');
      expect(down.json['detail']).toContain('127.0.0.1:9');
      expect(down.json['remediation']).toContain('Retry later');
    });

    it('a grant that needs a person: 409 reauthorization_required, with the reconnect link for a manage key', async () => {
      await w.baton.mcp.grantRefused('gone', 'the authorization server refused the grant');
      const agent = await raw('POST', 'gone', { body: INIT });
      expect(agent.status).toBe(409);
      expect(agent.json['code']).toBe('reauthorization_required');
      expect(agent.json['reconnect']).toBeUndefined();
      const admin = await raw('POST', 'gone', { key: keys['admin'], body: INIT });
      expect(admin.status).toBe(409);
      expect(admin.json['reconnect']).toMatch(/^http:\/\/.*\/connect\//);
    });

    it('an upstream that refuses the token and the refreshed one: 502 mcp_token_refused, its challenge not relayed', async () => {
      const before = refreshes();
      const from = sdk.seen.length;
      sdk.refuseTokens = true;
      try {
        const refused = await raw('POST', 'tools', { body: INIT });
        expect(refused.status).toBe(502);
        expect(refused.json['code']).toBe('mcp_token_refused');
        expect(refused.headers['www-authenticate']).toBeUndefined();
        expect(refused.body).not.toContain('resource_metadata');
      } finally {
        sdk.refuseTokens = false;
      }
      // One refresh, and the second attempt carried the new token.
      expect(refreshes()).toBe(before + 1);
      const sent = sdk.seen.slice(from).map((s) => s.authorization);
      expect(sent).toHaveLength(2);
      expect(sent[0]).not.toBe(sent[1]);
      expect(sent[1]).toBe(`Bearer ${await w.baton.getAccessToken('tools')}`);
    });

    it('insufficient_scope: 403 naming the scopes to authorize with, and how the operator steps up', async () => {
      const sid = await session();
      const res = await callTool(sid, 3, 'write', 'x');
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(res.json['code']).toBe('insufficient_scope');
      expect(res.json['scopes']).toEqual(['tools:read', 'tools:write']);
      expect(res.json['detail']).toContain('tools:write');
      expect(res.json['remediation']).toContain(
        'baton reconnect tools --scope tools:read --scope tools:write',
      );
      expect(sdk.calls['write']).toBeUndefined();
      // The operator steps up as the remediation says; the user approves; the tool then works.
      const info = await w.baton.get('tools');
      const begun = await request(`${server.url}/v1/connections/tools/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys['admin']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider: info.provider, params: info.params, scopes: res.json['scopes'] }),
      });
      const { url: consentUrl } = (await begun.body.json()) as { url: string };
      expect(begun.statusCode).toBe(200);
      const back = new URL(await consent(consentUrl, 'approve'));
      const done = await request(`${server.url}/v1/callback${back.search}`);
      await done.body.dump();
      expect(done.statusCode).toBe(200);
      expect((await w.baton.get('tools')).scopes).toEqual(['tools:read', 'tools:write']);
      const again = await callTool(sid, 4, 'write', 'x');
      expect(again.status).toBe(200);
      expect(again.body).toContain('wrote x');
    });

    it('refuses a body over 4 MiB (413) and a message that is not JSON (415) before anything is sent', async () => {
      const from = sdk.seen.length;
      const big = await raw('POST', 'tools', { body: `"${'x'.repeat(4 * 1024 * 1024)}"` });
      expect(big.status).toBe(413);
      expect(big.json['code']).toBe('body_too_large');
      expect(big.json['detail']).toContain('4 MiB');
      const plain = await raw('POST', 'tools', { headers: { 'content-type': 'text/plain' }, body: 'hello' });
      expect(plain.status).toBe(415);
      expect(plain.json['code']).toBe('unsupported_media_type');
      expect(sdk.seen.length).toBe(from);
    });

    it('authorized again from another URL of the same resource: the same connection, and the vault follows it', async () => {
      const before = await w.baton.get('tools');
      expect(before.params).toEqual({ resource: sdk.url, endpoint: sdk.url });
      // The endpoint does not tell accounts apart: no ConnectionMismatch, no replace needed.
      const begun = await w.baton.beginAuthorization({ mcp: `${sdk.url}/`, connectionId: 'tools' });
      await w.baton.completeAuthorization({ callbackUrl: await consent(begun.url, 'approve') });
      const after = await w.baton.get('tools');
      expect(after.params).toEqual({ resource: sdk.url, endpoint: `${sdk.url}/` });
      expect(after.scopes).toEqual(before.scopes);
      const from = sdk.seen.length;
      const { client } = await agentClient();
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'moved' } }))).toBe('moved');
      await client.close();
      expect(sdk.seen.slice(from).every((s) => s.url === '/mcp/')).toBe(true);
    });

    it('the OpenAPI document lists POST, GET and DELETE /v1/mcp/{id} with the proxy operation', async () => {
      const res = await request(`${server.url}/v1/openapi.json`);
      const doc = (await res.body.json()) as {
        paths: Record<
          string,
          Record<string, { 'x-baton-operation': string; responses: Record<string, unknown> }>
        >;
      };
      const item = doc.paths['/v1/mcp/{id}'] ?? {};
      expect(Object.keys(item).sort()).toEqual(['delete', 'get', 'post']);
      for (const op of Object.values(item)) expect(op['x-baton-operation']).toBe('proxy');
      expect(Object.keys(item['post']?.responses ?? {})).toEqual(
        expect.arrayContaining(['200', '202', '401', '403', '404', '409', '413', '415', '502']),
      );
    });

    it('writes an audit row per request (op mcp, connection, status) and no secret anywhere', async () => {
      // Rows are written in batches.
      let rows = await server.serverStore.audit({ limit: 1000 });
      for (let i = 0; i < 100 && !rows.some((r) => r.status === 413); i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await server.serverStore.audit({ limit: 1000 });
      }
      const mcp = rows.filter((r) => r.operation === 'mcp');
      expect(
        mcp.some((r) => r.connectionId === 'tools' && r.status === 200 && r.detail === 'POST tools/call'),
      ).toBe(true);
      expect(mcp.some((r) => r.status === 202 && r.detail === 'POST notifications/initialized')).toBe(true);
      expect(mcp.some((r) => r.connectionId === 'tools' && r.detail === 'DELETE')).toBe(true);
      expect(mcp.some((r) => r.detail?.startsWith('GET') && r.outcome === 'stream_closed')).toBe(true);
      expect(mcp.some((r) => r.outcome === 'mcp_token_refused' && r.status === 502)).toBe(true);
      expect(mcp.some((r) => r.outcome === 'insufficient_scope' && r.status === 403)).toBe(true);
      expect(mcp.some((r) => r.outcome === 'not_mcp' && r.connectionId === 'plain')).toBe(true);
      expect(mcp.some((r) => r.outcome === 'reauthorization_required' && r.connectionId === 'gone')).toBe(
        true,
      );
      expect(mcp.some((r) => r.outcome === 'body_too_large' && r.status === 413)).toBe(true);
      // Every token upstream received, every refresh token, the caller keys, the planted ones.
      const secrets = new Set<string>([
        'planted-static-key-4e1d',
        'planted-outside-access-4b7c',
        'planted-outside-refresh-1d9e',
        'planted-down-access-8a2f',
      ]);
      for (const s of sdk.seen) if (s.authorization) secrets.add(s.authorization.replace(/^Bearer /, ''));
      for (const id of ['tools', 'gone']) {
        const held = (await w.baton.reveal(id)).tokens;
        if (held?.accessToken) secrets.add(held.accessToken);
        if (held?.refreshToken) secrets.add(held.refreshToken);
      }
      for (const k of Object.values(keys)) secrets.add(k);
      expect(secrets.size).toBeGreaterThan(8);
      const metrics = await request(`${server.url}/metrics`);
      const exposition = await metrics.body.text();
      expect(exposition).toMatch(/baton_mcp_requests_total\{status="200"\} [1-9]/);
      expect(exposition).toMatch(/baton_mcp_requests_total\{status="413"\} 1/);
      const haystacks = {
        audit: JSON.stringify(rows),
        log: logs.text,
        answers: answers.join('\n'),
        metrics: exposition,
      };
      for (const [where, hay] of Object.entries(haystacks))
        for (const s of secrets) expect(hay.includes(s), `${where} holds a secret`).toBe(false);
    });
  });
}
