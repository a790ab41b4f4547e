import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Baton } from '../../src/core/baton.js';
import type { Simulator } from '../../src/simulator/index.js';
import type { SimulatorProfile } from '../../src/simulator-client/profile.js';
import type { PersonaWorld } from './personas.js';

/**
 * The MCP persona in the model (docs/soak.md, "Personas"): the connection is made from the MCP
 * server's URL alone (the discovery chain, then a client, then an ordinary authorization of
 * `mcp:<issuer>` with the server as its resource). `dcr`: Baton registers its client (RFC 7591),
 * and an eviction takes the grant with the client — Baton registers again and the connection
 * needs a new authorization. `cimd`: Baton names itself by its Client ID Metadata Document,
 * served here, and an eviction only drops the server's cached copy — the grant lives on.
 */
export async function mcpSetUp(
  sim: Simulator,
  profile: SimulatorProfile,
  mode: 'dcr' | 'cimd',
): Promise<PersonaWorld> {
  const docs = mode === 'cimd' ? await documentServer() : null;
  const clientMetadataUrl = docs ? `${docs.origin}/agent/client.json` : undefined;
  return {
    batonOptions: {
      // The client-credentials connection of the model still goes through the simulator's profile.
      providers: profile.providers,
      clients: profile.clients,
      mcp: {
        redirectUri: 'http://127.0.0.1:1/callback',
        clientName: 'Baton model agent',
        ...(clientMetadataUrl ? { clientMetadataUrl } : {}),
      },
    },
    begin: (baton, connectionId, _redirectUri, replace) =>
      baton.beginAuthorization({
        mcp: sim.mcp.resource,
        connectionId,
        ...(replace ? { replace: true } : {}),
      }),
    ready(baton: Baton) {
      docs?.set(baton.mcp.clientMetadataDocument());
    },
    close: async () => docs?.close(),
  };
}

/** A loopback server that serves one JSON document (the client's metadata document). */
async function documentServer(): Promise<{
  origin: string;
  set(doc: unknown): void;
  close(): Promise<void>;
}> {
  let doc: unknown = null;
  const server: Server = createServer((req, res) => {
    const found = req.url === '/agent/client.json' && doc !== null;
    res.writeHead(found ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(found ? doc : {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (d) => {
      doc = d;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
