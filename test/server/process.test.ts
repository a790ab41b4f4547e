import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { consent } from '../helpers/sim-baton.js';
import { call, echoServer, runCli, runCommand, spawnServe } from './helpers.js';

const PG_URL = process.env['BATON_TEST_POSTGRES_URL'];
const EXAMPLES = fileURLToPath(new URL('../../examples/server/', import.meta.url));

let sim: Simulator;
let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let configPath: string;
let slow: Awaited<ReturnType<typeof echoServer>>;

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  tmp = tempDir();
  slow = await echoServer(800);
  const config = join(tmp.dir, 'baton.config.json');
  configPath = config;
  writeFileSync(
    config,
    JSON.stringify({
      providers: {
        slow: {
          displayName: 'Slow',
          apiBaseUrl: `${slow.url}/`,
          apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
          authModes: ['api_key'],
        },
      },
    }),
  );
  env = {
    BATON_HOME: tmp.dir,
    BATON_SECRET_KEY: randomKey(),
    BATON_SIMULATOR: sim.url,
    BATON_STORE: `sqlite:${join(tmp.dir, 'baton.db')}`,
  };
});

afterAll(async () => {
  await slow?.close();
  await sim?.close();
  tmp?.cleanup();
});

async function newKey(e: NodeJS.ProcessEnv, name: string): Promise<string> {
  const r = await runCli(e, [
    '--json',
    'keys',
    'create',
    '--name',
    name,
    '--allow',
    '*',
    '--ops',
    'read,token,proxy,manage',
  ]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { key: string }).key;
}

const run = runCommand;

describe('baton serve as a process (SQLite)', () => {
  it('a curl script and a Python stdlib script release a token and proxy a call, as the README shows', async () => {
    const server = await spawnServe(env, ['--config', configPath]);
    try {
      const key = await newKey(env, 'scripts');
      const cf = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery).apiKeys[
        'checkfront'
      ]?.[0];
      const made = await call(server.url, 'POST', '/v1/connections', key, {
        id: 'acme-cf',
        provider: 'checkfront',
        params: cf?.params,
        credentials: { apiKey: cf?.apiKey, apiSecret: cf?.apiSecret },
      });
      expect(made.status).toBe(201);
      const scriptEnv = { BATON_URL: server.url, BATON_KEY: key };
      const sh = await run('sh', [join(EXAMPLES, 'release.sh'), 'acme-cf', 'api/3.0/ping'], scriptEnv);
      expect(sh.out).toContain('"version":"3.0"');
      expect(sh.code).toBe(0);
      expect(sh.out).toContain('"headers":{"authorization":"Basic ');
      expect(sh.out).toContain('"version":"3.0"');
      const py = await run('python3', [join(EXAMPLES, 'release.py'), 'acme-cf', 'api/3.0/ping'], scriptEnv);
      expect(py.code).toBe(0);
      expect(py.out).toContain('"hasToken": true');
      expect(py.out).toContain('"version": "3.0"');
      const denied = await run('python3', [join(EXAMPLES, 'release.py'), 'acme-cf', 'api/3.0/ping'], {
        ...scriptEnv,
        BATON_KEY: 'bk_wrong',
      });
      expect(denied.code).toBe(1);
      expect(denied.out).toContain('401 unauthorized');
      const audit = await runCli(env, ['--json', 'audit', '--connection', 'acme-cf']);
      expect(audit.code).toBe(0);
      const rows = JSON.parse(audit.stdout) as { operation: string; keyName: string | null }[];
      expect(rows.filter((r) => r.operation === 'proxy' && r.keyName === 'scripts')).toHaveLength(2);
      expect(audit.stdout).not.toContain(key);
      expect(audit.stdout).not.toContain(cf?.apiSecret);
    } finally {
      server.kill();
      await server.exited;
    }
  }, 30_000);

  it('a stopped server exits even when something outside Baton still holds the event loop, and names it', async () => {
    // A module preloaded into the process keeps a timer running, as a library might.
    const dir = mkdtempSync(join(tmpdir(), 'baton-linger-'));
    const linger = join(dir, 'linger.cjs');
    writeFileSync(linger, 'setInterval(() => undefined, 1000);\n');
    try {
      const server = await spawnServe({ ...env, NODE_OPTIONS: `--require ${linger}` }, [
        '--config',
        configPath,
      ]);
      server.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.out()).toContain('"msg":"stopped"');
      expect(server.out()).toMatch(
        /baton serve stopped; .*Timeout.* still held the process, which exits now/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('SIGTERM mid-request: the request in flight is answered, then the process exits 0', async () => {
    const server = await spawnServe(env, ['--config', configPath]);
    const key = await newKey(env, 'drain');
    expect(
      (
        await call(server.url, 'POST', '/v1/connections', key, {
          id: 'slow-1',
          provider: 'slow',
          credentials: { apiKey: 'slow-key-0123' },
        })
      ).status,
    ).toBe(201);
    slow.seen.length = 0;
    const inflight = fetch(`${server.url}/v1/proxy/slow-1/wait`, {
      headers: { authorization: `Bearer ${key}` },
    });
    while (slow.seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    server.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, url: '/wait' });
    expect(await server.exited).toBe(0);
    expect(server.out()).toContain('"msg":"stopped"');
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  }, 30_000);

  it.each([
    [['serve', '--port', 'abc'], /"abc" is not a port/],
    [['serve', '--log-level', 'loud'], /"loud" is not a log level/],
    [['serve', '--webhook-timeout', 'soon'], /"soon" is not a duration/],
    [['serve', '--audit-retention', '-1d'], /is not a duration/],
  ])('baton %j is a usage error (exit 2) before anything listens', async (args, message) => {
    const r = await runCli(env, args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/→ /);
    expect(r.stdout).not.toContain('listening');
  });

  it('baton serve on a PostgreSQL store that is down says so and exits 1', async () => {
    const r = await runCli({ ...env, BATON_STORE: 'postgres://postgres@127.0.0.1:1/test' }, [
      'serve',
      '--port',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unreachable/);
    expect(r.stderr).toMatch(/→ Start PostgreSQL, or fix the host and port in --store/);
  });

  it('baton providers disable|enable and baton keys list|disable|revoke work on the store', async () => {
    expect((await runCli(env, ['providers', 'disable', 'cronofy'])).code).toBe(0);
    expect((await runCli(env, ['providers', 'enable', 'cronofy'])).code).toBe(0);
    const unknown = await runCli(env, ['providers', 'disable', 'nope']);
    expect(unknown.code).not.toBe(0);
    const key = await newKey(env, 'listed');
    const list = await runCli(env, ['--json', 'keys', 'list']);
    expect(list.stdout).toContain('"name": "listed"');
    expect(list.stdout).not.toContain(key);
    expect(list.stdout).not.toContain('hash');
    expect((await runCli(env, ['keys', 'disable', 'listed'])).code).toBe(0);
    expect((await runCli(env, ['keys', 'revoke', 'listed'])).code).toBe(0);
    const again = await runCli(env, ['keys', 'revoke', 'listed']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('baton keys list');
    const dup = await runCli(env, ['keys', 'create', '--name', 'drain', '--allow', '*']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
  }, 30_000);
});

describe.skipIf(!PG_URL)('two baton serve processes on one PostgreSQL', () => {
  it('share one connection: one authorization, one token, and a refresh on one is seen by the other', async () => {
    const schema = `srv_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
    const pgEnv = { ...env, BATON_STORE: `${PG_URL}?schema=${schema}` };
    const a = await spawnServe(pgEnv);
    const b = await spawnServe(pgEnv);
    try {
      const key = await newKey(pgEnv, 'pg');
      const before = sim.counters().token.cronofy.total;
      const begun = await call(a.url, 'POST', '/v1/connections/cal-pg/authorize', key, {
        provider: 'cronofy',
        redirectUri: `${a.url}/v1/callback`,
      });
      expect(begun.text).toContain('"url"');
      const location = await consent(begun.json['url'] as string, 'approve');
      // The callback lands on the other replica: the pending authorization is in the shared store.
      const done = await call(b.url, 'GET', `/v1/callback${new URL(location).search}`);
      expect(done.status).toBe(200);
      const released = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(i % 2 ? a.url : b.url, 'POST', '/v1/connections/cal-pg/token', key),
        ),
      );
      const tokens = new Set(released.map((r) => r.json['accessToken']));
      expect(tokens.size).toBe(1);
      expect(sim.counters().token.cronofy.total - before).toBe(1);
      const refreshed = await call(a.url, 'POST', '/v1/connections/cal-pg/refresh', key, { force: true });
      expect(refreshed.status).toBe(200);
      let seen = '';
      // The other replica learns of the refresh from NOTIFY; on a loaded machine that can take a while.
      for (const until = Date.now() + 15_000; Date.now() < until && (seen === '' || tokens.has(seen)); ) {
        seen = (await call(b.url, 'POST', '/v1/connections/cal-pg/token', key)).json['accessToken'] as string;
        if (tokens.has(seen)) await new Promise((r) => setTimeout(r, 20));
      }
      expect(tokens.has(seen)).toBe(false);
      expect(sim.counters().token.cronofy.total - before).toBe(2);
      // A key disabled through one replica's store is refused by both.
      expect((await runCli(pgEnv, ['keys', 'disable', 'pg'])).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1000));
      for (const s of [a, b])
        expect((await call(s.url, 'POST', '/v1/connections/cal-pg/token', key)).status).toBe(401);
    } finally {
      a.kill();
      b.kill();
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
    }
  }, 40_000);
});
