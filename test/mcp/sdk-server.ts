import { createServer, type Server } from 'node:http';
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
 */
export interface SdkServer {
  url: string;
  /** Tool calls the server answered, by tool. */
  calls: Record<string, number>;
  close(): Promise<void>;
}

export async function startSdkServer(sim: Simulator): Promise<SdkServer> {
  const mcp = sim.discovery().vendors.mcp;
  const rs = mcp.introspection as { clientId: string; clientSecret: string };
  const asMetadata = (await (await fetch(mcp.endpoints.serverMetadata as string)).json()) as OAuthMetadata;
  const calls: Record<string, number> = {};
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
  app.all('/mcp', (req: Request, res: Response, next: NextFunction) =>
    (req.method === 'POST' && needsWrite(req.body) ? writeAuth : readAuth)(req, res, next),
  );
  app.post('/mcp', async (req: Request, res: Response) => {
    const server = new McpServer({ name: 'baton-interop', version: '1.0.0' });
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

  return {
    url,
    calls,
    close: () =>
      new Promise((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
