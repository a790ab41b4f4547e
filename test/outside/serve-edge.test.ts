import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, tempDir } from '../helpers/env.js';
import {
  type Reflector,
  reflector,
  runCli,
  runCommand,
  type Spawned,
  spawnServe,
} from '../server/helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

/**
 * `baton serve` driven by an outsider: a Python script (standard library only) checks the
 * proxy's edges, verified credentials, the connect pages' Origin check, the 409 reconnect link,
 * problems in HTTP words and the OpenAPI document (test/outside/py/serve_edge.py). Then the
 * script's output and the server's logs are scanned for every planted secret, raw, base64 and
 * URL-encoded. On SQLite and on PostgreSQL.
 */

const SCRIPT = fileURLToPath(new URL('./py/serve_edge.py', import.meta.url));
const API_KEY = 'planted-edge-api-key-5c0ffee1';

const python = (env: NodeJS.ProcessEnv) => runCommand('python3', [SCRIPT], env);

function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)];
}

const engines: [string, boolean][] = [
  ['sqlite', true],
  ['postgres', Boolean(PG_URL)],
];

describe.each(engines)('baton serve as an outside client finds it (%s)', (engine, available) => {
  let upstream: Reflector;
  let tmp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let server: Spawned | undefined;
  let schema: string | null = null;

  beforeAll(async () => {
    if (!available) return;
    upstream = await reflector(API_KEY);
    tmp = tempDir();
    const base = `${upstream.url}/base/`;
    const keyed = {
      apiBaseUrl: base,
      authModes: ['api_key'],
      identityPath: 'me',
      apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
    };
    writeFileSync(
      join(tmp.dir, 'baton.config.json'),
      JSON.stringify({
        providers: { keyed: { ...keyed, displayName: 'Keyed' }, cookied: { ...keyed, proxyCookies: true } },
      }),
    );
    let store = `sqlite:${join(tmp.dir, 'baton.db')}`;
    if (engine === 'postgres') {
      schema = uniqueSchema();
      store = `${PG_URL}${(PG_URL as string).includes('?') ? '&' : '?'}schema=${schema}`;
    }
    env = { BATON_HOME: tmp.dir, BATON_SECRET_KEY: randomKey(), BATON_STORE: store };
  });

  afterAll(async () => {
    server?.kill();
    await server?.exited;
    for (const res of upstream?.open ?? []) res.destroy();
    await upstream?.close();
    if (schema) await dropSchema(schema);
    tmp?.cleanup();
  });

  const newKey = async (name: string, ops: string) => {
    const config = ['--config', join(tmp.dir, 'baton.config.json')];
    const r = await runCli(env, [
      ...config,
      '--json',
      'keys',
      'create',
      '--name',
      name,
      '--allow',
      '*',
      '--ops',
      ops,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { key: string }).key;
  };

  it.skipIf(!available)(
    'the Python client’s checks pass, and no secret shows in its output or the logs',
    async () => {
      const config = ['--config', join(tmp.dir, 'baton.config.json')];
      const admin = await newKey('edge-admin', 'read,token,proxy,manage');
      const worker = await newKey('edge-worker', 'read,token,proxy');
      // (spawnServe adds `serve --port 0`; the proxy's bound, 1 s here, comes from the environment.)
      server = await spawnServe({ ...env, BATON_PROXY_TIMEOUT: '1s' }, [...config]);
      const run = await python({
        BATON_URL: server.url,
        BATON_ADMIN_KEY: admin,
        BATON_WORKER_KEY: worker,
        EDGE_API_KEY: API_KEY,
      });
      expect(run.out).toContain('ok: a wrong API key is refused with 422 credentials_rejected');
      expect(run.code, run.out).toBe(0);
      expect(run.out).toContain('all checks passed');
      // The stalls are ended by the proxy's bound and written to the audit log.
      const audit = await runCli(env, [
        ...config,
        '--json',
        'audit',
        '--connection',
        'edge-k',
        '--since',
        '1h',
      ]);
      expect(audit.code, audit.stderr).toBe(0);
      expect(audit.stdout).toContain('upstream_timeout');
      server.kill();
      expect(await server.exited).toBe(0);
      const logs = server.out();
      // The script printed what it checked; neither it nor the server shows a secret.
      for (const secret of [API_KEY, admin, worker]) {
        for (const form of forms(secret)) {
          expect(run.out).not.toContain(form);
          expect(logs).not.toContain(form);
          expect(audit.stdout).not.toContain(form);
        }
      }
    },
    120_000,
  );
});
