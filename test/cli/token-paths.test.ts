import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';
import { run, simulatorSecrets, transcript } from './run.js';

/**
 * `baton token <id>` as a script calls it, without a simulator configured: a fresh token is
 * printed by the fast path in dist/cli/bin.cjs, a due one is refreshed by dist/cli/token.cjs,
 * a static connection is explained (README, "Benchmark": cold start), on each store engine the
 * CLI can point at (a memory store does not outlive a process).
 */
const CALLBACK = 'http://127.0.0.1:9/callback';
const key = randomBytes(32).toString('base64');
let sim: Simulator;
let dir: string;
const secrets = new Set<string>([key]);

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto', cronofyRotation: 'always' });
  // Cronofy tokens live 2 s and are due after 1 s (half their lifetime).
  sim.setAccessTokenLifetime('cronofy', 2);
  dir = mkdtempSync(join(tmpdir(), 'baton-token-paths-'));
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery);
  writeFileSync(
    join(dir, 'baton.config.json'),
    JSON.stringify({ providers: profile.providers, clients: profile.clients }),
  );
  for (const s of simulatorSecrets(sim)) secrets.add(s);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Baton over `store` with the simulator's endpoints and clients. */
async function open(store: string): Promise<Baton> {
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery);
  return Baton.open({
    store,
    secretKey: key,
    providers: profile.providers,
    clients: profile.clients,
    env: {},
  });
}

async function seed(store: string): Promise<void> {
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery);
  const baton = await open(store);
  try {
    const pair = profile.apiKeys['checkfront']?.find((k) => k.params['company'] === 'acme');
    await baton.connect({
      provider: 'checkfront',
      connectionId: 'pair',
      params: { company: 'acme' },
      credentials: { apiKey: pair?.apiKey as string, apiSecret: pair?.apiSecret as string },
    });
    const apiKey = profile.apiKeys['checkbook']?.find((k) => k.params['environment'] === 'sandbox');
    await baton.connect({
      provider: 'checkbook',
      connectionId: 'key',
      params: { environment: 'sandbox' },
      authMode: 'api_key',
      credentials: { apiKey: apiKey?.apiKey as string, apiSecret: apiKey?.apiSecret as string },
    });
    for (const [provider, id, params] of [
      ['checkfront', 'fresh', { company: 'acme' }],
      ['cronofy', 'due', { dataCenter: 'us' }],
    ] as const) {
      const { url } = await baton.beginAuthorization({
        provider,
        connectionId: id,
        params,
        redirectUri: CALLBACK,
      });
      const u = new URL(url);
      u.searchParams.set('sim_decision', 'approve');
      const res = await fetch(u, { redirect: 'manual' });
      await res.text();
      await baton.completeAuthorization({ callbackUrl: res.headers.get('location') as string });
    }
    await baton.connect({ provider: 'checkissuing', connectionId: 'cc', params: { environment: 'sandbox' } });
    for (const id of ['fresh', 'due', 'cc']) {
      const t = (await baton.reveal(id)).tokens;
      if (t?.accessToken) secrets.add(t.accessToken);
      if (t?.refreshToken) secrets.add(t.refreshToken);
    }
  } finally {
    await baton.close();
  }
}

async function stored(store: string, id: string): Promise<string | undefined> {
  const baton = await open(store);
  try {
    return (await baton.reveal(id)).tokens?.accessToken;
  } finally {
    await baton.close();
  }
}

const engines: [string, () => Promise<{ store: string; done: () => Promise<void> }>][] = [
  [
    'SQLite',
    async () => ({
      store: `sqlite:${join(dir, `t${Math.random().toString(36).slice(2)}.db`)}`,
      done: async () => {},
    }),
  ],
];
if (PG_URL) {
  engines.push([
    'PostgreSQL',
    async () => {
      const schema = uniqueSchema();
      const u = new URL(PG_URL as string);
      u.searchParams.set('schema', schema);
      return { store: u.toString(), done: () => dropSchema(schema) };
    },
  ]);
}

describe.each(engines)('baton token on %s, no simulator configured', (_name, make) => {
  let store: string;
  let done: () => Promise<void>;
  let env: Record<string, string>;
  beforeAll(async () => {
    ({ store, done } = await make());
    await seed(store);
    env = { BATON_STORE: store, BATON_SECRET_KEY: key, BATON_HOME: join(dir, 'home') };
  });
  afterAll(async () => done());

  it('prints a fresh OAuth2 or client-credentials token as stored, without a token request', async () => {
    const before = sim.counters().token;
    for (const id of ['fresh', 'cc']) {
      const r = await run(['token', id], env, undefined, dir);
      transcript.splice(transcript.length - 2, 2); // prints a token by design
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${await stored(store, id)}\n`);
    }
    expect(sim.counters().token).toEqual(before);
  });

  it('refreshes a due token once, stores the new one and prints it', async () => {
    const old = await stored(store, 'due');
    await new Promise((r) => setTimeout(r, 1100));
    const refreshes = sim.counters().token.cronofy.byGrant['refresh_token'] ?? 0;
    const r = await run(['token', 'due'], env, undefined, dir);
    transcript.splice(transcript.length - 2, 2);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const now = await stored(store, 'due');
    expect(now).not.toBe(old);
    expect(r.stdout).toBe(`${now}\n`);
    secrets.add(now as string);
    expect(sim.counters().token.cronofy.byGrant['refresh_token']).toBe(refreshes + 1);
  });

  it('a static connection has no token to print: exit 1 and what to use instead', async () => {
    for (const [id, mode] of [
      ['key', 'api_key'],
      ['pair', 'token_pair'],
    ]) {
      const message = `Connection "${id}" uses ${mode} credentials and has no access token.`;
      const remediation = `Use \`baton request ${id} <path>\`, which sends the right credentials for every auth mode.`;
      // `baton token <id>` alone is answered by dist/cli/bin.cjs's fast path; with any flag
      // the full CLI answers. Both say the same.
      const fast = await run(['token', id as string], env, undefined, dir);
      const full = await run(['--store', store, 'token', id as string], env, undefined, dir);
      expect(fast).toEqual({
        code: 1,
        stdout: '',
        stderr: `error ${message}\n→ ${remediation}\n`,
        timedOut: false,
      });
      expect(full).toEqual(fast);
      const json = await run(['token', id as string, '--json'], env, undefined, dir);
      expect(json.code).toBe(1);
      expect(json.stdout).toBe('');
      expect(JSON.parse(json.stderr)).toEqual({
        error: expect.objectContaining({
          code: 'config_error',
          message,
          remediation,
          provider: expect.any(String),
        }),
      });
    }
  });

  it('an unknown id is not found (exit 1), with the wrong key a key error (exit 1)', async () => {
    const nope = await run(['token', 'nope'], env, undefined, dir);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toMatch(/No connection named "nope"/);
    const wrong = await run(
      ['token', 'fresh'],
      { ...env, BATON_SECRET_KEY: randomBytes(32).toString('base64') },
      undefined,
      dir,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(/^error .*key/i);
  });
});

it('nothing printed a secret', () => {
  const all = transcript.join('\n');
  for (const s of secrets) expect(all).not.toContain(s);
});
