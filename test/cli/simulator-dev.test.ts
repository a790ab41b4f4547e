import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { run, simulatorSecrets, start, transcript, waitFor } from './run.js';

/**
 * Developing against the simulator (README, "baton simulate"): credentials that survive a
 * restart, read-only commands with the simulator down, the "simulator restarted?" hint, and
 * `baton demo --db FILE` keeping the key that opens the file.
 */
let dir: string;
let env: Record<string, string>;
let deadUrl: string;
const key = randomBytes(32).toString('base64');
const secrets = new Set<string>([key]);

async function seedStore(sim: Simulator, store: string): Promise<void> {
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery);
  for (const s of simulatorSecrets(sim)) secrets.add(s);
  const baton = await Baton.open({
    store,
    secretKey: key,
    providers: profile.providers,
    clients: profile.clients,
    env: {},
  });
  try {
    const { url } = await baton.beginAuthorization({
      provider: 'cronofy',
      connectionId: 'alice',
      params: { dataCenter: 'us' },
    });
    const consent = await fetch(`${url}&sim_decision=approve`, { redirect: 'manual' });
    await consent.text();
    await baton.completeAuthorization({ callbackUrl: consent.headers.get('location') as string });
    const t = (await baton.reveal('alice')).tokens;
    if (t?.accessToken) secrets.add(t.accessToken);
    if (t?.refreshToken) secrets.add(t.refreshToken);
  } finally {
    await baton.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-sim-dev-'));
  // A simulator that stored the connection and then stopped: its URL answers nothing now.
  const gone = await startSimulator();
  deadUrl = gone.url;
  const store = `sqlite:${join(dir, 'baton.db')}`;
  await seedStore(gone, store);
  await gone.close();
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: store,
    BATON_SECRET_KEY: key,
    BATON_SIMULATOR: deadUrl,
  };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the simulator in development', () => {
  it('simulate --state keeps the same credentials across a restart, in a 0600 file', async () => {
    const file = join(dir, 'sim-state.json');
    const discover = async () => {
      const p = start(['simulate', '--port', '0', '--state', file], {}, dir);
      const url = (await waitFor(p, /Simulator running at (\S+)\. /))[1] as string;
      expect(p.stderrSoFar()).toMatch(/kept in .*sim-state\.json \(saved on Ctrl-C\)/);
      const d = (await (await fetch(new URL('/.well-known/baton-simulator', url))).json()) as {
        vendors: Record<string, { clients: unknown[] }>;
      };
      p.child.kill('SIGINT');
      const ran = await p.done;
      transcript.splice(transcript.length - 2, 2); // simulate lists its (fake) credentials by design
      expect(ran.code).toBe(0);
      return Object.fromEntries(Object.entries(d.vendors).map(([v, x]) => [v, x.clients]));
    };
    const first = await discover();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await discover()).toEqual(first);
    for (const clients of Object.values(first))
      for (const c of clients as { clientSecret: string }[]) secrets.add(c.clientSecret);
  }, 30_000);

  it('simulate: a state file that is not JSON exits 1 and is left alone; an empty --seed is a usage error', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{oops');
    const r = await run(['simulate', '--port', '0', '--state', file], {}, undefined, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error The simulator state file .*broken\.json is not JSON/);
    expect(r.stderr).toMatch(/→ Fix or move the file, or start without --state\./);
    expect(readFileSync(file, 'utf8')).toBe('{oops');
    const seed = await run(['simulate', '--port', '0', '--seed', ''], {}, undefined, dir);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/--seed is empty/);
  });

  it('with the simulator down, list and show answer from the store and say what needs it', async () => {
    const list = await run(['list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/alice\s+cronofy/);
    expect(list.stderr).toMatch(`The simulator at ${deadUrl} does not answer; this shows what is stored.`);
    const json = await run(['list', '--json'], env);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { id: string }[]).map((c) => c.id)).toEqual(['alice']);
    const show = await run(['show', 'alice'], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/cronofy/);
    // What calls the provider still needs it, and says so.
    const refresh = await run(['refresh', 'alice'], env);
    expect(refresh.code).toBe(1);
    expect(refresh.stderr).toMatch(`No simulator answers at ${deadUrl}`);
  });

  it('doctor with the simulator down: the offline checks pass, one simulator check names what was not run', async () => {
    const r = await run(['doctor', '--json'], env);
    expect(r.code).toBe(1);
    const { checks } = JSON.parse(r.stdout) as {
      checks: { check: string; level: string; message: string }[];
    };
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by['store']?.level).toBe('ok');
    expect(by['keys']?.level).toBe('ok');
    expect(by['simulator']).toMatchObject({ level: 'fail' });
    expect(by['simulator']?.message).toMatch(
      /does not answer, so the client, connection, clock and introspection checks were not run/,
    );
    expect(checks.filter((c) => c.level === 'fail').map((c) => c.check)).toEqual(['simulator']);
  });

  it('a simulator that restarted with new clients: the error and doctor ask whether it restarted', async () => {
    const fresh = await startSimulator();
    try {
      const e = { ...env, BATON_SIMULATOR: fresh.url };
      const r = await run(['refresh', 'alice'], e);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/another Cronofy client than the one configured now/);
      expect(r.stderr).toMatch(
        `→ Did the simulator at ${fresh.url} restart? Without --seed or --state it makes new clients at every start`,
      );
      const doctor = await run(['doctor'], e);
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/✓ simulator: answers at/);
      expect(doctor.stdout).toMatch(
        /✗ connection alice: .*With a simulator that usually means it restarted\./,
      );
      expect(doctor.stdout).toMatch(/→ Did the simulator at .* restart\?/);
    } finally {
      await fresh.close();
    }
  });

  it('demo --db FILE keeps the key beside the file, and the printed command opens it', async () => {
    const db = join(dir, 'demo.db');
    const home = { BATON_HOME: join(dir, 'demo-home') };
    const r = await run(['demo', '--db', db, '--callers', '3'], home, undefined, undefined, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(`${db}.key`).mode & 0o777).toBe(0o600);
    secrets.add(readFileSync(`${db}.key`, 'utf8').trim());
    expect(r.stdout).toMatch(
      `The store is kept in ${db}, sealed with the key in ${db}.key: baton --store sqlite:${db} --key-file ${db}.key list`,
    );
    const list = await run(['--store', `sqlite:${db}`, '--key-file', `${db}.key`, 'list'], home);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/acme-desk/);
    expect(list.stdout).toMatch(/alice/);
    // Without the key beside it, the file is refused and no new key is made.
    rmSync(`${db}.key`);
    const again = await run(['demo', '--db', db], home, undefined, undefined, 60_000);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds data sealed under key/);
    expect(existsSync(`${db}.key`)).toBe(false);
  }, 120_000);

  it('nothing printed a secret', () => {
    const all = transcript.join('\n');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
