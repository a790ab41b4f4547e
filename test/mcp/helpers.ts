import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Baton, type BatonOptions } from '../../src/core/baton.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store } from '../../src/store/store.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { consent } from '../helpers/sim-baton.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

export const REDIRECT = 'http://127.0.0.1:1/callback';

export type EngineName = 'memory' | 'sqlite' | 'postgres';

/** Memory and SQLite always; PostgreSQL when BATON_TEST_POSTGRES_URL is set (as .ci/run sets it). */
export function engines(...names: EngineName[]): EngineName[] {
  return names.filter((n) => n !== 'postgres' || Boolean(PG_URL));
}

export interface McpWorld {
  sim: Simulator;
  engine: EngineName;
  /** The store spec other processes open (SQLite file, PostgreSQL URL with its schema); null for memory. */
  storeSpec: string | null;
  secretKey: string;
  dir: string;
  baton: Baton;
  /** Another Baton on the same store and key, on the simulator's clock. */
  open(extra?: Partial<BatonOptions>): Promise<Baton>;
  close(): Promise<void>;
}

/** A simulator with its MCP persona and Batons on one store of `engine`, on the simulator's clock. */
export async function mcpWorld(
  engine: EngineName,
  options: { sim?: SimulatorOptions; baton?: Partial<BatonOptions> } = {},
): Promise<McpWorld> {
  const sim = await startSimulator({ consent: 'auto', ...options.sim });
  const { dir, cleanup } = tempDir('baton-mcp-');
  const secretKey = randomKey();
  let storeSpec: string | null = null;
  let memory: Store | null = null;
  let schema: string | null = null;
  if (engine === 'memory') memory = new MemoryStore();
  else if (engine === 'sqlite') storeSpec = `sqlite:${dir}/baton.db`;
  else {
    schema = uniqueSchema();
    const u = new URL(PG_URL as string);
    u.searchParams.set('schema', schema);
    storeSpec = u.toString();
  }
  const opened: Baton[] = [];
  const open = async (extra: Partial<BatonOptions> = {}) => {
    const b = await Baton.open({
      store: memory ?? (storeSpec as string),
      secretKey,
      clock: { now: () => sim.clock.now() },
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      env: { BATON_HOME: dir },
      mcp: { redirectUri: REDIRECT, clientName: 'Baton test agent' },
      ...options.baton,
      ...extra,
    });
    opened.push(b);
    return b;
  };
  const baton = await open();
  return {
    sim,
    engine,
    storeSpec,
    secretKey,
    dir,
    baton,
    open,
    async close() {
      for (const b of opened) await b.close().catch(() => undefined);
      await memory?.close();
      await sim.close();
      if (schema) await dropSchema(schema);
      cleanup();
    },
  };
}

/** Begins (for an MCP server), consents at the simulator as a browser would, and completes. */
export async function connectMcp(
  baton: Baton,
  input: { mcp: string; connectionId: string; scopes?: string[]; account?: string },
) {
  const begun = await baton.beginAuthorization({
    mcp: input.mcp,
    connectionId: input.connectionId,
    ...(input.scopes ? { scopes: input.scopes } : {}),
  });
  const callbackUrl = await consent(begun.url, 'approve', input.account);
  return { begun, info: await baton.completeAuthorization({ callbackUrl }) };
}

/** Runs a consent at the simulator for a URL Baton gave and completes the authorization. */
export async function complete(baton: Baton, url: string, account?: string) {
  return baton.completeAuthorization({ callbackUrl: await consent(url, 'approve', account) });
}

/** A loopback web server that serves JSON documents by path (a client's metadata document). */
export async function documentServer(): Promise<{
  origin: string;
  serve(path: string, doc: unknown): void;
  close(): Promise<void>;
}> {
  const docs = new Map<string, unknown>();
  const server: Server = createServer((req, res) => {
    const doc = docs.get(req.url ?? '');
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(doc ?? {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (path, doc) => docs.set(path, doc),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
