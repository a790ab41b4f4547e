import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../cli/run.js';
import { connectMcp, engines, type McpWorld, mcpWorld } from './helpers.js';

/**
 * `baton token <id>` (the built dist/cli/bin.cjs) for an MCP connection: its client is the one
 * Baton registered, read from the store (sealed) — the fast path opens it without the HTTP
 * stack, and a due token is refreshed with it (docs/architecture.md, "MCP").
 */
let w: McpWorld | null = null;
afterEach(async () => {
  await w?.close();
  w = null;
});

for (const engine of engines('sqlite', 'postgres')) {
  describe(`baton token for an MCP connection (${engine})`, () => {
    it('prints the stored token, and a refreshed one when it is due', async () => {
      w = await mcpWorld(engine);
      await connectMcp(w.baton, { mcp: w.sim.mcp.resource, connectionId: 'tools' });
      const env = { BATON_STORE: w.storeSpec as string, BATON_SECRET_KEY: w.secretKey, BATON_HOME: w.dir };
      const fresh = await run(['token', 'tools'], env);
      expect(fresh.stderr).toBe('');
      expect(fresh.stdout.trim()).toBe(await w.baton.getAccessToken('tools'));
      // Due: the simulator's tokens now live 2 s and are refreshed past half their life.
      w.sim.setAccessTokenLifetime('mcp', 2);
      await w.baton.refresh('tools', { force: true });
      await new Promise((r) => setTimeout(r, 1_100));
      const refreshed = await run(['token', 'tools'], env);
      expect(refreshed.code).toBe(0);
      expect(refreshed.stdout.trim()).not.toBe(fresh.stdout.trim());
      expect(w.sim.tokenStatus(refreshed.stdout.trim())).toBe('live');
      expect(w.sim.mcp.counters().registrations).toBe(1);
    }, 60_000);
  });
}
