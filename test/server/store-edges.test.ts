/**
 * What the store can and cannot hold, as the server meets it (README, "Input rules", "Health
 * routes", "Audit", "Out-of-scope ids"), on every engine: readiness that reads something real
 * and follows a store going down and coming back; input no store can keep refused with a typed
 * 400 before anything reaches the store; no existence oracle for ids outside a key's scope;
 * every refusal a problem document with a Baton code; and an audit log no request can stop —
 * a row the store refuses is dropped and counted, its neighbours written, rows kept while the
 * store is away and written when it is back, and at shutdown.
 */
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { ConfigError, ConnectionNotFound, StoreError } from '../../src/errors.js';
import { createCallerKey } from '../../src/server/keys.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { type AuditRow, openServerStore } from '../../src/server/server-store.js';
import { openStore } from '../../src/store/index.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { apiKeyFor, type World, world } from '../helpers/sim-baton.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from '../store/pg.js';
import { Capture, call } from './helpers.js';

type Engine = 'memory' | 'sqlite' | 'postgres';
const ENGINES: Engine[] = PG_URL ? ['memory', 'sqlite', 'postgres'] : ['memory', 'sqlite'];

const PLANTED_API_KEY = 'planted-edge-key-7f3a9c2e51';

/** A request with a raw path (undici sends it as written: %00, %c0%ae and the like reach the server). */
async function raw(
  base: string,
  method: string,
  path: string,
  opts: { key?: string; body?: string; type?: string; requestId?: string } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) headers['authorization'] = `Bearer ${opts.key}`;
  if (opts.type !== undefined) headers['content-type'] = opts.type;
  if (opts.requestId !== undefined) headers['x-request-id'] = opts.requestId;
  const res = await request(`${base}${path}`, {
    method: method as 'GET',
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return {
    status: res.statusCode,
    headers: res.headers,
    type: String(res.headers['content-type'] ?? ''),
    json,
    text,
  };
}

const until = async (what: string, ok: () => Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`still not ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe.each(ENGINES)('on %s', (engine) => {
  let w: World;
  let baton: Baton;
  let server: BatonServer;
  let faulty: FaultyStore | null = null;
  let proxy: TcpProxy | null = null;
  let schema = '';
  let spec = '';
  const logs = new Capture();
  const keys: Record<string, string> = {};
  const secrets: string[] = [PLANTED_API_KEY];
  /** Makes the server's tables and the connections unreachable (or locked) and back. */
  let down: () => Promise<void>;
  let up: () => Promise<void>;

  beforeAll(async () => {
    w = await world();
    const providers = {
      ...w.profile.providers,
      echo: {
        displayName: 'Echo',
        apiBaseUrl: 'http://127.0.0.1:1/base/',
        apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
        authModes: ['api_key' as const],
      },
    };
    if (engine === 'postgres') {
      schema = uniqueSchema();
      const target = new URL(PG_URL as string);
      proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      const u = new URL(PG_URL as string);
      u.host = `127.0.0.1:${proxy.port}`;
      u.searchParams.set('schema', schema);
      spec = u.toString();
      baton = await w.open({ store: spec, providers });
      const p = proxy;
      down = async () => p.down();
      up = async () => p.up();
    } else {
      spec = engine === 'memory' ? 'memory:' : `sqlite:${w.dbPath}`;
      faulty = new FaultyStore(await openStore(spec));
      baton = await w.open({ store: faulty, providers });
    }
    server = await startServer({
      instance: baton,
      store: spec,
      port: 0,
      keeper: false,
      logStream: logs,
      cacheTtlMs: 50,
      webhooks: { pollMs: 60_000 },
    });
    if (engine !== 'postgres') {
      // SQLite: another connection holds the write lock (its reads go on); memory: the
      // server tables refuse everything while down. The connections fail as a store that went away.
      const f = faulty as FaultyStore;
      let lock: Database.Database | null = null;
      const store = server.serverStore;
      const append = store.appendAudit.bind(store);
      const ping = store.ping.bind(store);
      let off = false;
      if (engine === 'memory') {
        store.appendAudit = async (rows) => {
          if (off) throw new StoreError('the server tables are unreachable (test)');
          return append(rows);
        };
        store.ping = async () => {
          if (off) throw new StoreError('the server tables are unreachable (test)');
          return ping();
        };
      }
      down = async () => {
        f.down = true;
        off = true;
        if (engine === 'sqlite') {
          lock = new Database(w.dbPath);
          lock.prepare('BEGIN EXCLUSIVE').run();
        }
      };
      up = async () => {
        f.down = false;
        off = false;
        if (lock) {
          lock.prepare('COMMIT').run();
          lock.close();
          lock = null;
        }
      };
    }
    const make = async (name: string, allow: string[], ops: ('read' | 'token' | 'proxy' | 'manage')[]) => {
      keys[name] = (await createCallerKey(server.serverStore, { name, allow, ops })).key;
      secrets.push(keys[name] as string);
    };
    await make('admin', ['*'], ['read', 'token', 'proxy', 'manage']);
    await make('acme', ['acme-*'], ['read', 'token', 'manage']);
    await make('cronofy', ['provider:cronofy'], ['read', 'token', 'manage']);
    const made = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'acme-echo',
      provider: 'echo',
      credentials: { apiKey: PLANTED_API_KEY },
    });
    expect(made.status).toBe(201);
    const cf = apiKeyFor(w, 'checkfront', { company: 'acme' });
    secrets.push(cf.apiKey, cf.apiSecret as string);
    const other = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'other-cf',
      provider: 'checkfront',
      params: { company: 'acme' },
      credentials: { apiKey: cf.apiKey, apiSecret: cf.apiSecret },
    });
    expect(other.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await up?.();
    await server?.close();
    await w?.close();
    await proxy?.close();
    if (engine === 'postgres') await dropSchema(schema);
  });

  const auditRows = () => server.serverStore.audit({ limit: 10_000 });
  const rowsFor = async (prefix: string) =>
    (await auditRows()).filter((r: AuditRow) => r.requestId.startsWith(prefix));

  it('readiness reads the store: 200 when up and migrated, 503 with a reason while down, 200 again', async () => {
    const ready = await call(server.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });
    await down();
    try {
      const r = await call(server.url, 'GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.type).toContain('application/problem+json');
      expect(r.json['code']).toBe('store_error');
      expect(String(r.json['detail']).length).toBeGreaterThan(0);
      expect((await call(server.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await up();
    }
    await until('ready again', async () => (await call(server.url, 'GET', '/readyz')).status === 200);
  }, 30_000);

  it('readiness is 503 when the server tables are behind this build’s migrations', async () => {
    if (engine === 'memory') {
      // Memory has no migration track; its readiness is the store's read.
      expect((await call(server.url, 'GET', '/readyz')).status).toBe(200);
      return;
    }
    const latest = async (): Promise<number> =>
      engine === 'sqlite'
        ? (
            new Database(w.dbPath, { readonly: true })
              .prepare('SELECT MAX(version) AS v FROM server_schema_migrations')
              .get() as { v: number }
          ).v
        : Number(
            (await sql(`SELECT max(version) AS v FROM ${schema}.baton_server_schema_migrations`)).rows[0].v,
          );
    const v = await latest();
    const run = async (text: string, param: number) => {
      if (engine === 'sqlite') {
        const db = new Database(w.dbPath);
        db.prepare(text.replace('$1', '?').replaceAll('SCHEMA.', '')).run(param);
        db.close();
      } else await sql(text.replaceAll('SCHEMA.', `${schema}.`), [param]);
    };
    const table = engine === 'sqlite' ? 'server_schema_migrations' : 'baton_server_schema_migrations';
    await run(`DELETE FROM SCHEMA.${table} WHERE version = $1`, v);
    try {
      const r = await call(server.url, 'GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.json['code']).toBe('store_error');
      expect(String(r.json['detail'])).toContain(`migration ${v - 1} of ${v}`);
    } finally {
      await run(
        engine === 'sqlite'
          ? `INSERT INTO ${table} (version, applied_at) VALUES ($1, 0)`
          : `INSERT INTO SCHEMA.${table} (version) VALUES ($1)`,
        v,
      );
    }
    expect((await call(server.url, 'GET', '/readyz')).status).toBe(200);
  });

  it('input the store cannot hold is a typed 400 before anything reaches it, for any key', async () => {
    const bad = [
      ['POST', '/v1/connections/cal-b%00/token', keys['admin']],
      ['POST', '/v1/connections/cal-b%00/token', keys['acme']],
      ['POST', '/v1/connections/acme-%01x/token', keys['acme']],
      ['GET', '/v1/connections/acme-%7Fx', keys['acme']],
      ['GET', '/v1/connections/acme-%C2%85x', keys['acme']],
      ['GET', `/v1/connections/acme-${'x'.repeat(300)}`, keys['acme']],
      ['GET', '/v1/connections?prefix=acme%00', keys['admin']],
      ['GET', '/v1/connections?cursor=%00', keys['admin']],
      ['GET', '/v1/connections?limit=lots', keys['admin']],
      ['DELETE', '/v1/connections/acme-echo%00', keys['admin']],
      ['GET', '/v1/proxy/acme-%00echo/x', keys['admin']],
      ['GET', '/v1/connect-sessions/cs_%00', keys['admin']],
      ['GET', '/v1/webhooks/deliveries?connection=a%00b', keys['admin']],
      ['GET', '/v1/callback?state=%00', undefined],
    ] as const;
    for (const [method, path, key] of bad) {
      const r = await raw(server.url, method, path, key !== undefined ? { key } : {});
      expect([r.status, r.json['code'], method, path]).toEqual([400, 'invalid_request', method, path]);
      expect(r.type).toContain('application/problem+json');
    }
    const bodies: [string, unknown][] = [
      ['/v1/connections', { id: 'acme-\u0000x', provider: 'echo', credentials: { apiKey: 'k-1' } }],
      ['/v1/connections', { id: 'acme-\ud800x', provider: 'echo', credentials: { apiKey: 'k-1' } }],
      ['/v1/connections', { id: 'a'.repeat(201), provider: 'echo', credentials: { apiKey: 'k-1' } }],
      ['/v1/connections', { id: 42, provider: 'echo', credentials: { apiKey: 'k-1' } }],
      [
        '/v1/connections',
        { id: 'acme-p', provider: 'echo', params: { 'a\u0000': 'x' }, credentials: { apiKey: 'k' } },
      ],
      ['/v1/connections', { id: 'acme-p', provider: 'echo', scopes: ['a\nb'], credentials: { apiKey: 'k' } }],
      ['/v1/connections', { id: 'acme-p', provider: ['echo'], credentials: { apiKey: 'k-1' } }],
      ['/v1/connect-sessions', { connectionId: 'acme-new', providers: ['cronofy'], label: 'Al\u0000ice' }],
      ['/v1/connect-sessions', { connectionId: 'acme-new', providers: ['cronofy'], label: 'x'.repeat(201) }],
      ['/v1/connect-sessions', { connectionId: 'acme-new', providers: ['cronofy'], ttlSeconds: 'soon' }],
      ['/v1/webhooks', { url: 'http://127.0.0.1:1/hook', description: 'd\u001bscription' }],
      ['/v1/webhooks', { url: 'http://127.0.0.1:1/h\u0000ook' }],
      ['/v1/connections/acme-echo/authorize', { provider: 'cronofy', redirectUri: 'http://x/\u0000' }],
    ];
    for (const [path, body] of bodies) {
      const r = await call(server.url, 'POST', path, keys['admin'], body);
      expect([r.status, r.json['code'], path]).toEqual([400, 'invalid_request', path]);
      expect(String(r.json['detail'])).not.toContain('\u0000');
    }
    // Nothing was stored: the two connections of the setup, no webhook endpoint, no key.
    const list = await call(server.url, 'GET', '/v1/connections', keys['admin']);
    expect((list.json['items'] as { id: string }[]).map((c) => c.id)).toEqual(['acme-echo', 'other-cf']);
    expect(
      ((await call(server.url, 'GET', '/v1/webhooks', keys['admin'])).json['items'] as unknown[]).length,
    ).toBe(0);
    // Key names: the same rule at the only place keys are made.
    await expect(
      createCallerKey(server.serverStore, { name: 'k\u0000', allow: ['*'], ops: ['read'] }),
    ).rejects.toThrow(ConfigError);
    expect((await server.serverStore.listKeys()).map((k) => k.name)).toEqual(['acme', 'admin', 'cronofy']);
  });

  it('the library refuses an unusable connection id the same way on this engine, and finds none', async () => {
    for (const id of ['cal-b\u0000', 'a\u0007b', 'x'.repeat(201), '', 'lone-\udc00']) {
      await expect(
        baton.connect({ connectionId: id, provider: 'echo', credentials: { apiKey: 'k-1' } }),
      ).rejects.toBeInstanceOf(ConfigError);
      await expect(
        baton.beginAuthorization({
          connectionId: id,
          provider: 'cronofy',
          redirectUri: 'http://127.0.0.1:1/cb',
        }),
      ).rejects.toBeInstanceOf(ConfigError);
      await expect(baton.get(id)).rejects.toBeInstanceOf(ConnectionNotFound);
      await expect(baton.release(id)).rejects.toBeInstanceOf(ConnectionNotFound);
    }
    expect((await baton.list()).map((c) => c.id)).toEqual(['acme-echo', 'other-cf']);
  });

  it('an id outside the key’s scope gets the same answer whether or not it exists, on every route', async () => {
    const same = (
      a: Awaited<ReturnType<typeof call>>,
      b: Awaited<ReturnType<typeof call>>,
      idA: string,
      idB: string,
    ) => {
      expect(a.status).toBe(403);
      expect(b.status).toBe(a.status);
      expect(b.json['code']).toBe(a.json['code']);
      expect(String(b.json['detail']).replace(idB, 'ID')).toBe(String(a.json['detail']).replace(idA, 'ID'));
    };
    for (const key of [keys['acme'], keys['cronofy']]) {
      // other-cf exists (checkfront, token pair); other-nope does not.
      same(
        await call(server.url, 'POST', '/v1/connect-sessions', key, { connectionId: 'other-cf' }),
        await call(server.url, 'POST', '/v1/connect-sessions', key, { connectionId: 'other-nope' }),
        'other-cf',
        'other-nope',
      );
      same(
        await call(server.url, 'POST', '/v1/connect-sessions', key, {
          connectionId: 'other-cf',
          providers: ['checkfront'],
        }),
        await call(server.url, 'POST', '/v1/connect-sessions', key, {
          connectionId: 'other-nope',
          providers: ['checkfront'],
        }),
        'other-cf',
        'other-nope',
      );
      for (const [method, suffix] of [
        ['GET', ''],
        ['POST', '/token'],
        ['POST', '/refresh'],
        ['POST', '/revoke'],
        ['DELETE', ''],
      ] as const)
        same(
          await call(server.url, method, `/v1/connections/other-cf${suffix}`, key),
          await call(server.url, method, `/v1/connections/other-nope${suffix}`, key),
          'other-cf',
          'other-nope',
        );
    }
    // A key scoped to cronofy naming cronofy for an id stored under checkfront learns nothing either.
    same(
      await call(server.url, 'POST', '/v1/connections/other-cf/authorize', keys['cronofy'], {
        provider: 'checkfront',
      }),
      await call(server.url, 'POST', '/v1/connections/other-nope/authorize', keys['cronofy'], {
        provider: 'checkfront',
      }),
      'other-cf',
      'other-nope',
    );
    const stolen = await call(server.url, 'POST', '/v1/connections', keys['cronofy'], {
      id: 'other-cf',
      provider: 'cronofy',
      authMode: 'client_credentials',
    });
    expect([stolen.status, stolen.json['code']]).toEqual([403, 'forbidden']);
    expect((await baton.get('other-cf')).provider).toBe('checkfront');
  });

  it('every refusal is RFC 9457 problem+json with a Baton code; 401 carries WWW-Authenticate: Bearer', async () => {
    const cases: [string, string, { key?: string; body?: string; type?: string }, number, string][] = [
      ['GET', '/v1/connections/%c0%ae', { key: keys['admin'] as string }, 400, 'invalid_url'],
      ['GET', '/v1/connections/%ff', { key: keys['admin'] as string }, 400, 'invalid_url'],
      ['GET', '/v1/connections/%zz', { key: keys['admin'] as string }, 400, 'invalid_url'],
      [
        'POST',
        '/v1/connections',
        { key: keys['admin'] as string, body: '{"id":', type: 'application/json' },
        400,
        'invalid_json',
      ],
      [
        'POST',
        '/v1/connections',
        { key: keys['admin'] as string, body: '', type: 'application/json' },
        400,
        'invalid_json',
      ],
      [
        'POST',
        '/v1/connections',
        { key: keys['admin'] as string, body: 'id=x', type: 'application/x-www-form-urlencoded' },
        415,
        'unsupported_media_type',
      ],
      [
        'POST',
        '/v1/connections',
        { key: keys['admin'] as string, body: `{"id":"${'x'.repeat(1_100_000)}"}`, type: 'application/json' },
        413,
        'body_too_large',
      ],
      ['GET', '/v1/nothing-here', {}, 404, 'not_found'],
      ['PUT', '/v1/connections/acme-echo', { key: keys['admin'] as string }, 405, 'method_not_allowed'],
      ['GET', '/v1/connections', {}, 401, 'unauthorized'],
      ['GET', '/v1/connections', { key: 'bk_not-a-key' }, 401, 'unauthorized'],
    ];
    for (const [method, path, opts, status, code] of cases) {
      const r = await raw(server.url, method, path, opts);
      expect([method, path.slice(0, 40), r.status, r.json['code']]).toEqual([
        method,
        path.slice(0, 40),
        status,
        code,
      ]);
      expect(r.type).toContain('application/problem+json');
      expect(r.json['type']).toBe(`urn:baton:problem:${code}`);
      expect(typeof r.json['remediation']).toBe('string');
      expect(r.text).not.toMatch(/FST_|fst_err/i);
      if (status === 401) {
        expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer realm="baton"/);
        if (opts.key) expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
      }
      if (status === 405) expect(String(r.headers['allow'])).toContain('GET');
    }
  });

  it('metrics are baton_… once, and count audit rows that could not be written', async () => {
    const text = (await call(server.url, 'GET', '/metrics')).text;
    expect(text).not.toContain('baton_process_process_');
    expect(text).not.toContain('baton_process_nodejs_');
    expect(text).toContain('baton_process_cpu_user_seconds_total');
    expect(text).toContain('baton_audit_rows_dropped_total{reason="refused"}');
    for (const line of text.split('\n'))
      if (line && !line.startsWith('#')) expect(line).toMatch(/^baton_[a-z]/);
  });

  it('a row the store refuses is dropped and counted; its neighbours are written; the NUL request is audited', async () => {
    // The store refuses one row: a trigger on SQLite and PostgreSQL, the memory tables' write.
    if (engine === 'sqlite') {
      const db = new Database(w.dbPath);
      db.exec(
        `CREATE TRIGGER refuse_poison BEFORE INSERT ON server_audit WHEN NEW.request_id = 'poison-1'
         BEGIN SELECT RAISE(ABORT, 'refused by test'); END`,
      );
      db.close();
    } else if (engine === 'postgres') {
      await sql(`CREATE FUNCTION ${schema}.refuse_poison() RETURNS trigger AS $$
        BEGIN IF NEW.request_id = 'poison-1' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await sql(
        `CREATE TRIGGER refuse_poison BEFORE INSERT ON ${schema}.baton_server_audit FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_poison()`,
      );
    } else {
      const store = server.serverStore;
      const append = store.appendAudit.bind(store);
      store.appendAudit = async (rows) => {
        if (rows.some((r) => r.requestId === 'poison-1')) throw new StoreError('refused by test');
        return append(rows);
      };
    }
    const before = Number(
      /baton_audit_rows_dropped_total\{reason="refused"\} (\d+)/.exec(
        (await call(server.url, 'GET', '/metrics')).text,
      )?.[1],
    );
    const sent = ['nb-1', 'nb-2', 'poison-1', 'nb-3', 'nb-4'];
    await Promise.all(
      sent.map((id) =>
        raw(server.url, 'POST', '/v1/connections/acme-echo/token', {
          key: keys['acme'] as string,
          requestId: id,
        }),
      ),
    );
    await raw(server.url, 'POST', '/v1/connections/cal-b%00/token', {
      key: keys['acme'] as string,
      requestId: 'nb-nul',
    });
    await until('the neighbours written', async () => (await rowsFor('nb-')).length === 5);
    const rows = await rowsFor('nb-');
    expect(rows.map((r) => r.requestId).sort()).toEqual(['nb-1', 'nb-2', 'nb-3', 'nb-4', 'nb-nul']);
    expect(rows.find((r) => r.requestId === 'nb-nul')).toMatchObject({
      status: 400,
      outcome: 'invalid_request',
      keyName: 'acme',
    });
    expect(await rowsFor('poison-')).toEqual([]);
    await until('the drop counted', async () => {
      const m = /baton_audit_rows_dropped_total\{reason="refused"\} (\d+)/.exec(
        (await call(server.url, 'GET', '/metrics')).text,
      );
      return Number(m?.[1]) === before + 1;
    });
    expect(logs.text).toContain('an audit row could not be written and was dropped');
    expect(logs.text).toContain('"requestId":"poison-1"');
    // Later rows are written as ever: nothing stopped.
    await raw(server.url, 'POST', '/v1/connections/acme-echo/token', {
      key: keys['acme'] as string,
      requestId: 'after-1',
    });
    await until('later rows written', async () => (await rowsFor('after-')).length === 1);
  }, 30_000);

  it('rows are kept while the store is away and written when it is back; the replica keeps serving', async () => {
    await down();
    const sent: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const id = `away-${i}`;
        sent.push(id);
        // Answered (by the cache, a 503, or a 400), and audited whatever the answer.
        const r = await raw(server.url, 'POST', '/v1/connections/acme-echo/token', {
          key: keys['acme'] as string,
          requestId: id,
        });
        expect(r.status).toBeGreaterThanOrEqual(200);
        await new Promise((res) => setTimeout(res, 150));
      }
      // SQLite waits out the lock for a while before giving up: hold it past that.
      if (engine === 'sqlite') await new Promise((res) => setTimeout(res, 6000));
    } finally {
      await up();
    }
    await until('every row written', async () => (await rowsFor('away-')).length === sent.length, 30_000);
    const released = await call(server.url, 'POST', '/v1/connections/acme-echo/token', keys['acme']);
    expect(released.status).toBe(200);
    expect((await call(server.url, 'GET', '/readyz')).status).toBe(200);
    // A store that was away drops nothing: only the one refused row of the test before.
    const m = /baton_audit_rows_dropped_total\{reason="refused"\} (\d+)/.exec(
      (await call(server.url, 'GET', '/metrics')).text,
    );
    expect(Number(m?.[1])).toBe(1);
    expect(logs.text).toContain('audit rows could not be written (store unreachable)');
  }, 60_000);

  it('logs, audit rows and problem documents carry no secret', async () => {
    const text = JSON.stringify(await auditRows());
    for (const s of secrets) {
      expect(logs.text).not.toContain(s);
      expect(text).not.toContain(s);
      expect(logs.text).not.toContain(Buffer.from(s).toString('base64'));
    }
    expect(text).not.toContain('\u0000');
  });

  it('rows queued when the server stops are written before it closes', async () => {
    const ids = ['last-1', 'last-2', 'last-3'];
    for (const id of ids)
      await raw(server.url, 'POST', '/v1/connections/acme-echo/token', {
        key: keys['acme'] as string,
        requestId: id,
      });
    const store = server.serverStore;
    await server.close();
    let rows: AuditRow[];
    if (engine === 'memory') rows = await store.audit({ limit: 10_000 });
    else {
      const connections = await openStore(engine === 'sqlite' ? `sqlite:${w.dbPath}` : spec);
      const again = await openServerStore(connections, spec);
      rows = await again.audit({ limit: 10_000 });
      await again.close();
      await connections.close();
    }
    expect(
      rows
        .filter((r) => r.requestId.startsWith('last-'))
        .map((r) => r.requestId)
        .sort(),
    ).toEqual(ids);
  }, 30_000);
});
