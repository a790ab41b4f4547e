import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ClientDirectory } from '../../src/core/clients.js';
import type { CoreContext } from '../../src/core/context.js';
import { releaseCredentials } from '../../src/core/release.js';
import type { TokenSource } from '../../src/core/token-source.js';
import {
  BatonError,
  ConnectionMismatch,
  ConnectionNotFound,
  InvalidClient,
  ProviderError,
  ReauthorizationRequired,
  SecretKeyError,
  StoreError,
} from '../../src/errors.js';
import { resolveParams } from '../../src/providers/params.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { endpointsFor } from '../../src/providers/template.js';
import { createCallerKey } from '../../src/server/keys.js';
import { toProblem } from '../../src/server/problem.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { apiKeyFor, authorize, type World, world } from '../helpers/sim-baton.js';
import { storeEngines } from '../store/pg.js';
import { Capture, call } from './helpers.js';

/**
 * Problems speak HTTP (README, "Problems"): a remediation names the route to call, what to
 * send and the operation a key needs — never the library (`Baton.open`, `baton.connect()`) or
 * the CLI (`baton connect`, `--param`). A 409 for a connection that needs a person carries a
 * connect-page link for keys that may manage it.
 */

/** Words of the library or the CLI that mean nothing to an HTTP client. */
const LIBRARY =
  /Baton\.open|baton\.[a-zA-Z]+\(|\bin code\b|`baton (connect|reconnect|list|request|import|doctor)|--(param|ops|allow|secret-stdin|id|no-verify)\b|providers: \{|\[redacted\]/;

function catchSync(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

/**
 * The errors as the library makes them: each comes from the code that raises it, so what it
 * says to an HTTP client is what that code gives it.
 */
describe('every problem the library raises is told in HTTP words', () => {
  const registry = ProviderRegistry.create();
  const checkfront = registry.get('checkfront');
  /** An identity endpoint that refuses every key. */
  let refusing: Server;
  let baton: Baton;
  beforeAll(async () => {
    refusing = createServer((_req, res) => res.writeHead(401).end());
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const key = {
      authModes: ['api_key' as const],
      identityPath: 'me',
      apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
    };
    baton = await Baton.open({
      store: 'memory:',
      secretKey: randomBytes(32).toString('base64'),
      env: {},
      providers: {
        refusing: {
          ...key,
          apiBaseUrl: `http://127.0.0.1:${(refusing.address() as { port: number }).port}/`,
        },
        gone: { ...key, apiBaseUrl: 'http://127.0.0.1:1/' },
      },
    });
  });
  afterAll(async () => {
    await baton?.close();
    await new Promise((r) => refusing?.close(r));
  });
  const refused = (run: () => Promise<unknown>) =>
    run().then(
      () => {
        throw new Error('did not throw');
      },
      (err: unknown) => err as Error,
    );
  const cases: Record<string, () => Error | Promise<Error>> = {
    'unknown provider': () => catchSync(() => registry.get('nope')),
    'missing param': () => catchSync(() => resolveParams(checkfront, {})),
    'not found': () => new ConnectionNotFound('acme'),
    'needs reauth': () =>
      new ReauthorizationRequired('Connection "acme" was revoked.', {
        connectionId: 'acme',
        provider: 'cronofy',
      }),
    mismatch: () =>
      new ConnectionMismatch(
        'Connection "acme" already exists for another account or client',
        { provider: 'a', clientId: null, params: {} },
        { provider: 'b', clientId: null, params: {} },
        { connectionId: 'acme' },
      ),
    rejected: () =>
      refused(() =>
        baton.connect({ provider: 'refusing', connectionId: 'x', credentials: { apiKey: 'k-1234567' } }),
      ),
    'invalid client': () => new InvalidClient('invalid_client', { provider: 'cronofy' }),
    store: () => new StoreError('The store is down.'),
    'secret key': () => new SecretKeyError('Cannot open.', { connectionId: 'acme' }),
    'provider odd': () => new ProviderError('HTML instead of JSON', { status: 200 }),
    network: () =>
      refused(() =>
        baton.connect({ provider: 'gone', connectionId: 'x', credentials: { apiKey: 'k-1234567' } }),
      ),
    'no client': () => catchSync(() => new ClientDirectory({}, {}).require('cronofy', {})),
    'needs credentials': () =>
      refused(() =>
        baton.connect({
          provider: 'checkfront',
          connectionId: 'x',
          params: { company: 'acme' },
          authMode: 'token_pair',
        }),
      ),
    'oauth only': () => refused(() => baton.connect({ provider: 'cronofy', connectionId: 'x' })),
    'a spec problem': () =>
      catchSync(() =>
        endpointsFor(ProviderRegistry.create({ cronofy: { tokenUrl: 'x-{dataCenter}' } }).get('cronofy'), {
          dataCenter: 'us',
        }),
      ),
    'dpop release': () => {
      const conn = {
        record: { id: 'x', provider: 'acme', authMode: 'oauth2' },
        secrets: { tokens: { tokenType: 'DPoP', accessToken: 'at' } },
      };
      const ctx = { cache: { fresh: () => undefined }, clock: { now: () => 0 } } as unknown as CoreContext;
      const tokens = { usable: async () => conn } as unknown as TokenSource;
      return refused(() => releaseCredentials(ctx, tokens, 'x'));
    },
  };

  it.each(Object.keys(cases))('%s', async (name) => {
    const err = await cases[name]?.();
    expect(err).toBeInstanceOf(BatonError);
    const p = toProblem(err, 'req-1');
    expect(p.remediation).not.toMatch(LIBRARY);
    expect(p.detail).not.toMatch(LIBRARY);
    expect(p.remediation.length).toBeGreaterThan(20);
  });

  it('names the routes to call', async () => {
    const of = async (name: string) => toProblem(await cases[name]?.(), 'r').remediation;
    expect(await of('unknown provider')).toMatch(/Use one of: .*checkfront/);
    expect(await of('missing param')).toMatch(/Send params: \{"company": …\} in the request body/);
    expect(await of('not found')).toMatch(/GET \/v1\/connections .*POST \/v1\/connections/);
    expect(await of('needs reauth')).toMatch(/POST \/v1\/connect-sessions \{"connectionId": "acme"\}/);
    expect(await of('rejected')).toMatch(/send "verify": false in the body/);
    expect(await of('network')).toMatch(/send "verify": false in the body/);
    expect(await of('oauth only')).toMatch(/POST \/v1\/connections\/x\/authorize/);
    expect(await of('dpop release')).toMatch(/\/v1\/proxy\/x\/<path>/);
  });
});

const engines = storeEngines();

describe.each(engines)('over HTTP on $name', ({ store: makeStore }) => {
  let w: World;
  let server: BatonServer;
  let drop: () => Promise<void>;
  const keys: Record<string, string> = {};
  const logs = new Capture();

  beforeAll(async () => {
    const s = makeStore();
    drop = s.drop;
    w = await world({ baton: s.spec ? { store: s.spec } : {} });
    server = await startServer({
      instance: w.baton,
      store: s.spec ?? `sqlite:${w.dbPath}`,
      port: 0,
      keeper: false,
      webhooks: false,
      logStream: logs,
    });
    for (const [name, ops] of [
      ['admin', ['read', 'token', 'proxy', 'manage']],
      ['worker', ['read', 'token', 'proxy']],
    ] as const) {
      keys[name] = (await createCallerKey(server.serverStore, { name, allow: ['*'], ops: [...ops] })).key;
    }
    await authorize(w, { provider: 'cronofy', connectionId: 'cal' });
    await w.baton.revoke('cal');
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await w?.close();
    await drop?.();
  });

  it('a 409 for a revoked connection carries a connect-page link for a manage key, and HTTP words for every key', async () => {
    const admin = await call(server.url, 'POST', '/v1/connections/cal/token', keys['admin']);
    expect(admin.status).toBe(409);
    expect(admin.json['code']).toBe('reauthorization_required');
    expect(admin.json['reconnect']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/connect\/cst_[A-Za-z0-9_-]{43}$/);
    // The link is a working connect page.
    const page = await fetch(admin.json['reconnect'] as string, { redirect: 'manual' });
    expect(page.status).toBe(303);
    const worker = await call(server.url, 'GET', '/v1/proxy/cal/v1/calendars', keys['worker']);
    expect(worker.status).toBe(409);
    expect(worker.json['reconnect']).toBeUndefined();
    for (const p of [admin, worker]) {
      expect(p.json['remediation']).toMatch(/POST \/v1\/connect-sessions/);
      expect(p.text).not.toMatch(LIBRARY);
    }
  });

  it('the problems of the connection routes name routes and body fields', async () => {
    const unknown = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'x',
      provider: 'nope',
      credentials: { apiKey: 'whatever-123' },
    });
    const noParam = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'x',
      provider: 'checkfront',
      credentials: { apiKey: 'whatever-123', apiSecret: 'whatever-456' },
    });
    const missing = await call(server.url, 'POST', '/v1/connections/none/token', keys['worker']);
    const oauthOnly = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'y',
      provider: 'cronofy',
    });
    const cf = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const wrong = await call(server.url, 'POST', '/v1/connections', keys['admin'], {
      id: 'wrong',
      provider: 'checkfront',
      params: { company: 'acme' },
      credentials: { apiKey: cf.apiKey, apiSecret: 'planted-wrong-secret-0042' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json['remediation']).toMatch(/Use one of: .*cronofy/);
    expect(noParam.json['remediation']).toMatch(/Send params: \{"company": …\}/);
    expect(missing.status).toBe(404);
    expect(missing.json['remediation']).toMatch(/GET \/v1\/connections/);
    expect(oauthOnly.json['remediation']).toMatch(/POST \/v1\/connections\/y\/authorize/);
    expect(wrong.status).toBe(422);
    expect(wrong.json['code']).toBe('credentials_rejected');
    expect(wrong.json['remediation']).toMatch(/send "verify": false/);
    expect((await call(server.url, 'GET', '/v1/connections/wrong', keys['admin'])).status).toBe(404);
    for (const p of [unknown, noParam, missing, oauthOnly, wrong]) {
      expect(p.text).not.toMatch(LIBRARY);
      expect(p.text).not.toContain('planted-wrong-secret-0042');
    }
    expect(logs.text).not.toContain('planted-wrong-secret-0042');
  });
});
