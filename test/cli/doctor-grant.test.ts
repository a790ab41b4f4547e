import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { consent } from '../helpers/sim-baton.js';
import { run } from './run.js';

/**
 * `baton doctor` says when each grant ends (README, "When tokens are refreshed"): the refresh
 * token's own end — moved by each use when it slides — and the absolute end no refresh
 * extends, a warning with the command that starts a new grant when that end is near.
 */
const LIFETIME = { seconds: 7 * 86_400, sliding: true, absoluteSeconds: 10 * 86_400 };

let sim: Simulator;
let dir: string;
let project: string;
let env: Record<string, string>;

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-doctor-grant-'));
  project = join(dir, 'project');
  mkdirSync(project);
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${join(dir, 'baton.db')}`,
    BATON_SECRET_KEY: randomBytes(32).toString('base64'),
  };
  // The provider's lifetime as the user's configuration says it.
  writeFileSync(
    join(project, 'baton.config.json'),
    JSON.stringify({ simulator: sim.url, providers: { checkfront: { refreshTokenLifetime: LIFETIME } } }),
  );
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery, 'http://127.0.0.1:1/cb');
  const baton = await Baton.open({
    store: env['BATON_STORE'],
    secretKey: env['BATON_SECRET_KEY'],
    providers: {
      ...profile.providers,
      checkfront: { ...profile.providers['checkfront'], refreshTokenLifetime: LIFETIME },
    },
    clients: profile.clients,
    env: { BATON_HOME: env['BATON_HOME'] },
  });
  for (const id of ['acme', 'cal']) {
    const { url } = await baton.beginAuthorization(
      id === 'acme'
        ? {
            provider: 'checkfront',
            connectionId: id,
            params: { company: 'acme' },
            redirectUri: 'http://127.0.0.1:1/cb',
          }
        : { provider: 'cronofy', connectionId: id, redirectUri: 'http://127.0.0.1:1/cb' },
    );
    await baton.completeAuthorization({ callbackUrl: await consent(url, 'approve') });
  }
  await baton.close();
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('baton doctor', () => {
  it('shows when each grant ends, and warns when the absolute end is near', async () => {
    const ran = await run(['doctor', '--json'], env, undefined, project);
    const report = JSON.parse(ran.stdout) as {
      checks: { check: string; level: string; message: string; remediation?: string }[];
    };
    const acme = report.checks.find((c) => c.check === 'grant acme');
    expect(acme).toMatchObject({ level: 'warn', remediation: expect.stringMatching(/baton reconnect acme/) });
    expect(acme?.message).toMatch(
      /its refresh token lapses \S+ \(in (6 d \d+ h|7 d)\) unless used before \(each use moves it; the keeper uses it in time\)/,
    );
    // The absolute end, ten days on: within the default fourteen.
    expect(acme?.message).toMatch(
      /the grant ends for good \S+ \(in (9 d \d+ h|10 d)\), whatever the refreshes/,
    );
    // Cronofy documents no lifetime.
    expect(report.checks.find((c) => c.check === 'grant cal')).toMatchObject({
      level: 'ok',
      message: 'no end known: the provider documents none.',
    });
    const text = await run(['doctor', 'acme'], env, undefined, project);
    expect(text.stdout).toMatch(/! grant acme: its refresh token lapses/);
    expect(text.stdout).toMatch(
      /→ Authorize it again before then, which starts a new grant: baton reconnect acme/,
    );
  });

  it('says why a grant cannot be read (a row whose seal does not open) instead of leaving it out', async () => {
    // A copy of the store with acme's sealed secrets damaged: the connection check and the
    // grant check each say so, and doctor still reports the rest.
    const copy = join(dir, 'damaged.db');
    copyFileSync(join(dir, 'baton.db'), copy);
    const db = new Database(copy);
    const sealed = (
      db.prepare("SELECT sealed FROM connections WHERE id = 'acme'").get() as { sealed: string }
    ).sealed;
    const damaged = `${sealed.slice(0, -8)}${sealed.slice(-8).split('').reverse().join('')}`;
    db.prepare("UPDATE connections SET sealed = ? WHERE id = 'acme'").run(damaged);
    db.close();
    const ran = await run(
      ['doctor', '--json'],
      { ...env, BATON_STORE: `sqlite:${copy}` },
      undefined,
      project,
    );
    const report = JSON.parse(ran.stdout) as {
      checks: { check: string; level: string; message: string; remediation?: string }[];
    };
    const grant = report.checks.find((c) => c.check === 'grant acme');
    expect(grant?.level).toBe('warn');
    expect(grant?.message).toMatch(/\S/);
    expect(grant?.remediation).toMatch(/\S/);
    expect(report.checks.find((c) => c.check === 'grant cal')?.level).toBe('ok');
    expect(ran.stdout + ran.stderr).not.toMatch(/\n\s+at /);
  });
});
