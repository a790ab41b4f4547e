import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMcp, engines, type McpWorld, mcpWorld } from '../mcp/helpers.js';
import { type SdkServer, startSdkServer } from '../mcp/sdk-server.js';
import { runCli, runCommand, type Spawned, spawnServe } from '../server/helpers.js';

/**
 * `baton serve`'s MCP route driven by an outsider: a Python script (standard library only,
 * test/outside/py/serve_mcp.py) holds a caller key and runs an MCP session by hand against a
 * real MCP server built with the SDK behind the simulator's authorization server, then sends
 * sloppy input (no key, odd bytes in the id, wrong content types, a body too large). The
 * script's output, the server's log and the audit log are scanned for every token and key,
 * raw, base64 and URL-encoded. On SQLite and PostgreSQL.
 */

const SCRIPT = fileURLToPath(new URL('./py/serve_mcp.py', import.meta.url));

function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)];
}

for (const engine of engines('sqlite', 'postgres')) {
  describe(`baton serve's MCP route as an outside client finds it (${engine})`, () => {
    let w: McpWorld;
    let sdk: SdkServer;
    let server: Spawned | undefined;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      w = await mcpWorld(engine);
      sdk = await startSdkServer(w.sim, { stateful: true });
      await connectMcp(w.baton, { mcp: sdk.url, connectionId: 'agent-tools' });
      env = { BATON_HOME: w.dir, BATON_SECRET_KEY: w.secretKey, BATON_STORE: w.storeSpec as string };
    }, 60_000);

    afterAll(async () => {
      server?.kill();
      await server?.exited;
      await sdk?.close();
      await w?.close();
    });

    it('the Python client’s checks pass, and no secret shows in its output, the log or the audit', async () => {
      const made = await runCli(env, [
        '--json',
        'keys',
        'create',
        '--name',
        'py-agent',
        '--allow',
        '*',
        '--ops',
        'proxy',
      ]);
      expect(made.code, made.stderr).toBe(0);
      const key = (JSON.parse(made.stdout) as { key: string }).key;
      server = await spawnServe(env);
      const run = await runCommand('python3', [SCRIPT], {
        BATON_URL: server.url,
        BATON_AGENT_KEY: key,
        MCP_ID: 'agent-tools',
      });
      expect(run.code, run.out).toBe(0);
      expect(run.out).toContain('ok: tools/call echo answers through the vault');
      expect(run.out).toContain('ok: a 5 MiB message: 413 body_too_large');
      expect(run.out).toContain('all checks passed');
      server.kill();
      expect(await server.exited).toBe(0);
      const audit = await runCli(env, ['--json', 'audit', '--connection', 'agent-tools', '--since', '1h']);
      expect(audit.code, audit.stderr).toBe(0);
      const rows = JSON.parse(audit.stdout) as { operation: string; status: number; outcome: string }[];
      expect(rows.filter((r) => r.operation === 'mcp').length).toBeGreaterThan(8);
      expect(rows.some((r) => r.operation === 'mcp' && r.outcome === 'insufficient_scope')).toBe(true);
      // The token the MCP server received, the refresh token, the caller key.
      const held = (await w.baton.reveal('agent-tools')).tokens;
      const secrets = [key, held?.accessToken, held?.refreshToken].filter((s): s is string => Boolean(s));
      for (const s of sdk.seen) if (s.authorization) secrets.push(s.authorization.replace(/^Bearer /, ''));
      expect(sdk.seen.some((s) => s.authorization === `Bearer ${held?.accessToken}`)).toBe(true);
      const logs = server.out();
      // The server printed a line per refusal, with its outcome and the path without secrets.
      const lines = logs
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; outcome?: string; path?: string; status?: number });
      const refused = lines.filter((l) => l.msg === 'request' && (l.status ?? 0) >= 400);
      for (const outcome of [
        'insufficient_scope',
        'unauthorized',
        'invalid_request',
        'unsupported_media_type',
        'body_too_large',
      ])
        expect(refused.map((l) => l.outcome)).toContain(outcome);
      expect(refused.find((l) => l.outcome === 'body_too_large')?.path).toBe('/v1/mcp/agent-tools');
      for (const secret of secrets)
        for (const form of forms(secret)) {
          expect(run.out).not.toContain(form);
          expect(logs).not.toContain(form);
          expect(audit.stdout).not.toContain(form);
        }
    }, 120_000);
  });
}
