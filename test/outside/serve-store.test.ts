/**
 * `baton serve` driven over HTTP from a second language (Python's standard library), on SQLite
 * and PostgreSQL: readiness, the input rules of every route, out-of-scope answers, problem
 * documents, WWW-Authenticate, webhook redelivery bodies and metric names (the script,
 * py/serve_store_edges.py, says what it checks). Afterwards, through the public surface
 * (`baton audit --json`), every audited request the script made has its row — none lost —
 * and no planted secret is in the server's output, the script's output or the audit log.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { echoServer, runCli, runCommand, spawnServe } from '../server/helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

const SCRIPT = fileURLToPath(new URL('./py/serve_store_edges.py', import.meta.url));
const PLANTED = 'planted-outside-key-4c8e1f0b72d9';

const python = (env: NodeJS.ProcessEnv) => runCommand('python3', [SCRIPT], env);

let sim: Simulator;
let upstream: Awaited<ReturnType<typeof echoServer>>;

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  upstream = await echoServer();
});

afterAll(async () => {
  await upstream?.close();
  await sim?.close();
});

const ENGINES = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe.each(ENGINES)('on %s', (engine) => {
  const tmp = tempDir();
  const schema = uniqueSchema();

  afterAll(async () => {
    tmp.cleanup();
    if (engine === 'postgres') await dropSchema(schema);
  });

  it('a Python client finds every edge typed, nothing stored from bad input, no audit row lost, no secret leaked', async () => {
    const config = join(tmp.dir, 'baton.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: {
          echo: {
            displayName: 'Echo',
            apiBaseUrl: `${upstream.url}/base/`,
            apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
            authModes: ['api_key'],
          },
        },
      }),
    );
    const secretKey = randomKey();
    const env: NodeJS.ProcessEnv = {
      BATON_HOME: tmp.dir,
      BATON_SECRET_KEY: secretKey,
      BATON_SIMULATOR: sim.url,
      BATON_STORE: engine === 'sqlite' ? `sqlite:${join(tmp.dir, 'baton.db')}` : `${PG_URL}?schema=${schema}`,
    };
    const key = async (name: string, allow: string, ops: string) => {
      const made = await runCli(env, [
        'keys',
        'create',
        '--name',
        name,
        '--allow',
        allow,
        '--ops',
        ops,
        '--json',
      ]);
      expect(made.code, made.stderr).toBe(0);
      return JSON.parse(made.stdout).key as string;
    };
    const admin = await key('admin', '*', 'read,token,proxy,manage');
    const scoped = await key('acme', 'acme-*', 'read,token,manage');
    const server = await spawnServe(env, ['--config', config]);
    let py: Awaited<ReturnType<typeof python>>;
    try {
      py = await python({
        BATON_URL: server.url,
        BATON_ADMIN_KEY: admin,
        BATON_SCOPED_KEY: scoped,
        BATON_PLANTED: PLANTED,
      });
    } finally {
      server.kill('SIGTERM');
    }
    // Stopped: the queued audit rows are written before the process exits.
    expect(await server.exited).toBe(0);
    expect(py.code, `${py.stdout}\n${py.stderr}`).toBe(0);
    expect(py.stdout).toMatch(/checked \d+ assertions/);
    const { audited } = JSON.parse(py.stdout.trim().split('\n').pop() as string) as { audited: string[] };
    expect(audited.length).toBeGreaterThan(100);

    const audit = await runCli(env, ['audit', '--json', '--limit', '100000']);
    expect(audit.code, audit.stderr).toBe(0);
    const rows = JSON.parse(audit.stdout) as {
      requestId: string;
      status: number;
      connectionId: string | null;
    }[];
    const ids = new Set(rows.map((r) => r.requestId));
    const lost = audited.filter((id) => !ids.has(id));
    expect(lost, 'audited requests without their row').toEqual([]);
    expect(audit.stdout).not.toContain('\\u0000');

    const out = server.out();
    expect(out).not.toContain('audit row could not be written');
    for (const s of [PLANTED, admin, scoped, secretKey]) {
      for (const text of [out, py.stdout, py.stderr, audit.stdout]) {
        expect(text).not.toContain(s);
        expect(text).not.toContain(Buffer.from(s).toString('base64'));
      }
    }
  }, 120_000);
});
