import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Baton } from '../../src/core/baton.js';
import { ConnectionNotFound, CredentialsRejected, NetworkError, ProviderError } from '../../src/errors.js';
import { apiKeyFor, type World, world } from '../helpers/sim-baton.js';
import { storeEngines } from '../store/pg.js';

/**
 * `baton.connect` checks static credentials at the identity endpoint before storing them
 * (README, "Verifying credentials"): wrong ones are a CredentialsRejected, a provider that could
 * not be asked is a NetworkError or ProviderError, and in every case nothing is stored and no
 * `connection.created` event is written. `verify: false` stores them unchecked.
 */

const engines = storeEngines();

/** An identity endpoint that answers with the status it is told to. */
let flaky: Server;
let flakyUrl: string;
let flakyStatus = 503;
beforeAll(async () => {
  flaky = createServer((_req, res) =>
    res.writeHead(flakyStatus, { 'content-type': 'text/html' }).end('<h1>down</h1>'),
  );
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  flakyUrl = `http://127.0.0.1:${(flaky.address() as { port: number }).port}/`;
});
afterAll(async () => {
  await new Promise((r) => flaky.close(r));
});

describe.each(engines)('static credentials are verified before storing, on $name', ({ store: makeStore }) => {
  let w: World;
  let drop: () => Promise<void>;

  afterEach(async () => {
    await w?.close();
    await drop?.();
  });

  let b: Baton;
  const open = async () => {
    const s = makeStore();
    drop = s.drop;
    w = await world({ baton: s.spec ? { store: s.spec } : {} });
    const key = {
      authModes: ['api_key' as const],
      identityPath: 'me',
      apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
    };
    // Another Baton on the same store (one memory store: the only one used below), with two
    // providers more: one whose identity endpoint answers what it is told, one that is not there.
    b = await w.open({
      providers: {
        ...w.profile.providers,
        flaky: { ...key, apiBaseUrl: flakyUrl },
        gone: { ...key, apiBaseUrl: 'http://127.0.0.1:1/' },
      },
    });
  };

  const created = async (id: string) =>
    ((await b.store.outbox?.pending(1000)) ?? []).filter(
      (e) => e.type === 'connection.created' && e.connectionId === id,
    );

  it('a wrong key: CredentialsRejected, nothing stored, no event; the secret in no message', async () => {
    await open();
    const real = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const wrong = 'planted-wrong-secret-77aa01';
    const err = await b
      .connect({
        provider: 'checkfront',
        connectionId: 'desk',
        params: { company: 'acme' },
        credentials: { apiKey: real.apiKey, apiSecret: wrong },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsRejected);
    const rejected = err as CredentialsRejected;
    expect(rejected.code).toBe('credentials_rejected');
    expect(rejected.status).toBe(401);
    expect(rejected.message).toMatch(/refused these credentials \(HTTP 401\); nothing was stored/);
    expect(rejected.remediation).toMatch(/verify: false/);
    expect(JSON.stringify(rejected.toJSON())).not.toContain(wrong);
    await expect(b.get('desk')).rejects.toBeInstanceOf(ConnectionNotFound);
    expect(await created('desk')).toEqual([]);
  });

  it('a wrong key with replace over a working connection: the stored one is kept', async () => {
    await open();
    const real = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const good = { apiKey: real.apiKey, apiSecret: real.apiSecret as string };
    await b.connect({
      provider: 'checkfront',
      connectionId: 'desk',
      params: { company: 'acme' },
      credentials: good,
    });
    const before = await b.get('desk');
    await expect(
      b.connect({
        provider: 'checkfront',
        connectionId: 'desk',
        params: { company: 'acme' },
        credentials: { apiKey: 'nope-nope-nope', apiSecret: 'nope-nope-nope' },
        replace: true,
      }),
    ).rejects.toBeInstanceOf(CredentialsRejected);
    expect(await b.get('desk')).toEqual(before);
    expect((await b.reveal('desk')).credentials).toEqual(good);
    expect(await created('desk')).toHaveLength(1);
  });

  it('a provider that is down is not a rejection: ProviderError (5xx) or NetworkError, nothing stored', async () => {
    await open();
    flakyStatus = 503;
    const failing = await b
      .connect({ provider: 'flaky', connectionId: 'f', credentials: { apiKey: 'flaky-key-123456' } })
      .catch((e: unknown) => e);
    expect(failing, String(failing)).toBeInstanceOf(ProviderError);
    expect(failing).not.toBeInstanceOf(CredentialsRejected);
    expect((failing as ProviderError).message).toMatch(/HTTP 503.*not checked and nothing was stored/);
    expect((failing as ProviderError).remediation).toMatch(/try again later, or pass verify: false/);
    const gone = await b
      .connect({ provider: 'gone', connectionId: 'g', credentials: { apiKey: 'gone-key-123456' } })
      .catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(NetworkError);
    expect((gone as NetworkError).message).toMatch(/not checked and nothing was stored/);
    for (const id of ['f', 'g']) {
      await expect(b.get(id)).rejects.toBeInstanceOf(ConnectionNotFound);
      expect(await created(id)).toEqual([]);
    }
    // A 4xx from the same endpoint is a rejection.
    flakyStatus = 403;
    await expect(
      b.connect({ provider: 'flaky', connectionId: 'f', credentials: { apiKey: 'flaky-key-123456' } }),
    ).rejects.toMatchObject({ code: 'credentials_rejected', status: 403 });
  });

  it('verify: false stores them unchecked (and the event fires); a right key is stored with its account', async () => {
    await open();
    const unchecked = await b.connect({
      provider: 'checkfront',
      connectionId: 'raw',
      params: { company: 'acme' },
      credentials: { apiKey: 'wrong-wrong-1', apiSecret: 'wrong-wrong-2' },
      verify: false,
    });
    expect(unchecked.status).toBe('active');
    expect(await created('raw')).toHaveLength(1);
    const real = apiKeyFor(w, 'checkfront', { company: 'acme' });
    const ok = await b.connect({
      provider: 'checkfront',
      connectionId: 'ok',
      params: { company: 'acme' },
      credentials: { apiKey: real.apiKey, apiSecret: real.apiSecret as string },
    });
    expect(ok.status).toBe('active');
    expect(ok.account).not.toBeNull();
  });
});
