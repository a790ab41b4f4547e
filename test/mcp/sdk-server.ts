import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import {
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthMetadataRouter,
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { NextFunction, Request, Response } from 'express';
import { fetch } from 'undici';
import { z } from 'zod';
import type { Simulator } from '../../src/simulator/index.js';

/**
 * A real MCP server built with the SDK: streamable HTTP (stateless, JSON answers), two tools,
 * its resource metadata (RFC 9728) from the SDK's router naming the simulator's authorization
 * server, and the SDK's bearer middleware checking each token by RFC 7662 introspection at the
 * simulator — `echo` needs `tools:read`, `write` also `tools:write` (a 403 `insufficient_scope`).
 *
 * `stateful`: sessions instead (`Mcp-Session-Id`, MCP specification "Session Management"), POST
 * answered as event streams, a GET stream per session, DELETE ending it, and a third tool,
 * `announce`, that sends a notification on the session's GET stream.
 */
export interface SdkServer {
  url: string;
  /** Tool calls the server answered, by tool. */
  calls: Record<string, number>;
  /** Every request's Authorization and Mcp-Session-Id as received (stateful servers). */
  seen: {
    method: string;
    url: string;
    authorization?: string;
    session?: string;
    headers: IncomingHttpHeaders;
  }[];
  /** Sessions the server holds now (stateful servers). */
  sessions(): string[];
  /** While true, every request to the MCP endpoint is answered 401 invalid_token. */
  refuseTokens: boolean;
  close(): Promise<void>;
}

export async function startSdkServer(
  sim: Simulator,
  options: { stateful?: boolean } = {},
): Promise<SdkServer> {
  const mcp = sim.discovery().vendors.mcp;
  const rs = mcp.introspection as { clientId: string; clientSecret: string };
  const asMetadata = (await (await fetch(mcp.endpoints.serverMetadata as string)).json()) as OAuthMetadata;
  const calls: Record<string, number> = {};
  const seen: SdkServer['seen'] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const app = createMcpExpressApp();
  const http: Server = createServer(app);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  sim.mcp.addResource(url);

  const verifier = {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      const res = await fetch(mcp.endpoints.introspect as string, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${rs.clientId}:${rs.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }).toString(),
      });
      const said = (await res.json()) as {
        active: boolean;
        scope?: string;
        client_id?: string;
        aud?: string;
        exp?: number;
      };
      if (!said.active) throw new InvalidTokenError('The token is not active');
      // The simulator's clock is virtual: the token's remaining life, on this process's clock.
      const left = (said.exp ?? 0) - Math.floor(sim.clock.now() / 1000);
      return {
        token,
        clientId: said.client_id ?? '',
        scopes: (said.scope ?? '').split(' ').filter(Boolean),
        expiresAt: Math.floor(Date.now() / 1000) + left,
        ...(said.aud ? { resource: new URL(said.aud) } : {}),
      };
    },
  };
  const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(new URL(url));
  const auth = (scopes: string[]) =>
    requireBearerAuth({
      verifier,
      requiredScopes: scopes,
      resourceMetadataUrl,
      expectedResource: new URL(url),
    });
  const readAuth = auth(['tools:read']);
  const writeAuth = auth(['tools:read', 'tools:write']);
  const needsWrite = (body: unknown) =>
    (Array.isArray(body) ? body : [body]).some(
      (m) =>
        (m as { method?: string })?.method === 'tools/call' &&
        (m as { params?: { name?: string } }).params?.name === 'write',
    );

  app.use(
    mcpAuthMetadataRouter({
      oauthMetadata: asMetadata,
      resourceServerUrl: new URL(url),
      scopesSupported: ['tools:read'],
    }),
  );
  const state = { refuseTokens: false };
  app.all('/mcp', (req: Request, res: Response, next: NextFunction) => {
    seen.push({
      method: req.method,
      url: req.originalUrl,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(typeof req.headers['mcp-session-id'] === 'string'
        ? { session: req.headers['mcp-session-id'] }
        : {}),
      headers: req.headers,
    });
    if (state.refuseTokens) {
      res
        .status(401)
        .set(
          'www-authenticate',
          `Bearer error="invalid_token", error_description="refused", resource_metadata="${resourceMetadataUrl}"`,
        )
        .json({ error: 'invalid_token' });
      return;
    }
    (req.method === 'POST' && needsWrite(req.body) ? writeAuth : readAuth)(req, res, next);
  });
  const tools = (server: McpServer) => {
    server.registerTool(
      'echo',
      { description: 'Says it back', inputSchema: { text: z.string() } },
      async ({ text }) => {
        calls['echo'] = (calls['echo'] ?? 0) + 1;
        return { content: [{ type: 'text', text }] };
      },
    );
    server.registerTool(
      'write',
      { description: 'Needs tools:write', inputSchema: { text: z.string() } },
      async ({ text }) => {
        calls['write'] = (calls['write'] ?? 0) + 1;
        return { content: [{ type: 'text', text: `wrote ${text}` }] };
      },
    );
    if (options.stateful)
      server.registerTool(
        'announce',
        {
          description: 'Sends a notification on the session’s GET stream',
          inputSchema: { text: z.string() },
        },
        async ({ text }) => {
          calls['announce'] = (calls['announce'] ?? 0) + 1;
          // Not related to the request: it goes on the standalone (GET) stream.
          await server.server.notification({
            method: 'notifications/message',
            params: { level: 'info', data: text },
          });
          return { content: [{ type: 'text', text: `announced ${text}` }] };
        },
      );
  };
  if (options.stateful) {
    app.all('/mcp', async (req: Request, res: Response) => {
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? transports.get(id) : undefined;
      if (!transport) {
        if (req.method !== 'POST' || typeof id === 'string') {
          res
            .status(404)
            .json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
          return;
        }
        const server = new McpServer(
          { name: 'baton-interop', version: '1.0.0' },
          { capabilities: { logging: {} } },
        );
        tools(server);
        const made = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          // Silent streams: no keep-alive comments, so nothing but events ever arrives.
          keepAliveMs: 0,
          onsessioninitialized: (sid) => {
            transports.set(sid, made);
          },
          onsessionclosed: (sid) => {
            transports.delete(sid);
          },
        });
        await server.connect(made);
        transport = made;
      }
      await transport.handleRequest(req, res, req.body);
    });
  } else {
    app.post('/mcp', async (req: Request, res: Response) => {
      const server = new McpServer({ name: 'baton-interop', version: '1.0.0' });
      tools(server);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    });
    // No server-to-client stream in stateless mode.
    app.get('/mcp', (_req: Request, res: Response) => {
      res.status(405).set('allow', 'POST').end();
    });
  }

  return {
    url,
    calls,
    seen,
    sessions: () => [...transports.keys()],
    get refuseTokens() {
      return state.refuseTokens;
    },
    set refuseTokens(v: boolean) {
      state.refuseTokens = v;
    },
    close: () =>
      new Promise((resolve) => {
        for (const t of transports.values()) void t.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
