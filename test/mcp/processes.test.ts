import { afterEach, describe, expect, it } from 'vitest';
import { spawnWorker, type Worker } from '../helpers/workers.js';
import { connectMcp, engines, type McpWorld, mcpWorld, REDIRECT } from './helpers.js';
import { type SdkServer, startSdkServer } from './sdk-server.js';

/**
 * Three agent processes — MCP SDK clients with Baton's provider, on one SQLite file or one
 * PostgreSQL schema — call tools of a real MCP server while their token expires: the
 * simulator's authorization server sees exactly one refresh, its rotated refresh token is
 * never presented twice, and nobody is asked to authorize (docs/architecture.md, invariant 1).
 */

const HOUR = 3_600_000;
const WORKER = 'test/fixtures/mcp-worker.ts';
let w: McpWorld | null = null;
let server: SdkServer | null = null;
let workers: Worker[] = [];
afterEach(async () => {
  for (const wk of workers) wk.child.kill('SIGKILL');
  workers = [];
  await server?.close();
  await w?.close();
  server = null;
  w = null;
});

for (const engine of engines('sqlite', 'postgres')) {
  describe(`MCP agents in three processes (${engine})`, () => {
    it('call tools while the token expires: exactly one refresh at the authorization server', async () => {
      w = await mcpWorld(engine);
      server = await startSdkServer(w.sim);
      await connectMcp(w.baton, { mcp: server.url, connectionId: 'tools' });
      const config = {
        store: w.storeSpec as string,
        secretKey: w.secretKey,
        home: w.dir,
        serverUrl: server.url,
        connectionId: 'tools',
        calls: 20,
        redirectUri: REDIRECT,
      };
      workers = Array.from({ length: 3 }, () =>
        spawnWorker(WORKER, { BATON_WORKER: JSON.stringify(config) }),
      );
      for (const wk of workers) expect(await wk.next()).toHaveProperty('ready');
      expect(w.sim.counters().token.mcp.byGrant['refresh_token'] ?? 0).toBe(0);
      // The token expires for everyone: the simulator's clock and each process's move together.
      w.sim.clock.advance(HOUR + 5_000);
      const acks = workers.map((wk) => wk.next());
      for (const wk of workers) wk.send(`expire ${HOUR + 5_000}`);
      await Promise.all(acks);
      const outs = workers.map((wk) => wk.next());
      for (const wk of workers) wk.send('go');
      const results = await Promise.all(outs);
      expect(results.flatMap((r) => r['errors'] as string[])).toEqual([]);
      expect(results.map((r) => r['ok'])).toEqual([20, 20, 20]);
      expect(results.flatMap((r) => r['prompts'] as string[])).toEqual([]);
      expect(w.sim.counters().token.mcp.byGrant['refresh_token']).toBe(1);
      expect(w.sim.mcp.counters().reuseDetected).toBe(0);
      expect(server.calls['echo']).toBe(3 + 60);
      const info = await w.baton.get('tools');
      expect(info.status).toBe('active');
    }, 120_000);
  });
}
