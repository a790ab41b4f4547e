import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { keyIdOf } from '../../src/store/sealer.js';
import { parseSecretKey } from '../../src/store/secret-key.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { record } from '../store/contract.js';
import { BIN, run, transcript } from './run.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

let dir: string;
let env: Record<string, string>;
let sim: Simulator;
let keyA: string;
const planted = new Set<string>();
const idOf = (key: string) => keyIdOf(parseSecretKey(key).key);

/** Seven real connections (token pairs, sealed under key A) and `synthetic` rows in the same store. */
async function seed(db: string, key: string, synthetic = 0): Promise<void> {
  const baton = await Baton.open({ store: `sqlite:${db}`, secretKey: key, env: {} });
  try {
    for (const [id, provider, params] of [
      ['acme-1', 'checkfront', { company: 'acme' }],
      ['acme-2', 'checkfront', { company: 'acme' }],
      ['acme-3', 'checkfront', { company: 'acme' }],
      ['beta-1', 'checkfront', { company: 'beta' }],
      ['cb-1', 'checkbook', { environment: 'sandbox' }],
      ['cb-2', 'checkbook', { environment: 'sandbox' }],
      ['zed', 'checkfront', { company: 'zed' }],
    ] as const) {
      const secret = `planted-secret-${randomBytes(8).toString('hex')}`;
      planted.add(secret);
      await baton.connect({
        provider,
        connectionId: id,
        params,
        credentials: { apiKey: `key-${id}`, apiSecret: secret },
        authMode: provider === 'checkbook' ? 'api_key' : 'token_pair',
        // Made-up keys for hosts this test never reaches.
        verify: false,
      });
    }
    await baton.revoke('cb-2');
  } finally {
    await baton.close();
  }
  if (synthetic > 0) {
    const store = await SqliteStore.open(db);
    await store.putMany(
      Array.from({ length: synthetic }, (_, i) =>
        record({ id: `m-${String(i).padStart(5, '0')}`, version: 1, sealed: `v2.${idOf(key)}.iv.body${i}` }),
      ),
      false,
    );
    await store.close();
  }
}

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-scale-'));
  keyA = randomBytes(32).toString('base64');
  planted.add(keyA);
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${join(dir, 'baton.db')}`,
    BATON_SECRET_KEY: keyA,
  };
  await seed(join(dir, 'baton.db'), keyA, 1200);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const ids = (stdout: string) => (JSON.parse(stdout) as { id: string }[]).map((c) => c.id);

describe('baton list pages', () => {
  it('shows one page and says how to get the next; --after walks the pages', async () => {
    const first = await run(['list', '--limit', '2', '--prefix', 'acme-'], env);
    expect(first.code).toBe(0);
    expect(first.stdout.trim().split('\n')).toHaveLength(3);
    expect(first.stdout).toMatch(/^ID\s+PROVIDER\s+MODE/);
    expect(first.stderr).toMatch(
      /2 shown; more after acme-2: baton list --limit 2 --prefix acme- --after acme-2 \(or --all\)/,
    );
    // The last page says nothing more.
    expect((await run(['list', '--limit', '3', '--prefix', 'acme-'], env)).stderr).toBe('');
    const json = await run(['list', '--limit', '3', '--json'], env);
    expect(ids(json.stdout)).toEqual(['acme-1', 'acme-2', 'acme-3']);
    expect(json.stderr).toBe('');
    const next = await run(['list', '--limit', '3', '--after', 'acme-3', '--json'], env);
    expect(ids(next.stdout)).toEqual(['beta-1', 'cb-1', 'cb-2']);
    // The default page is 100.
    expect(ids((await run(['list', '--json'], env)).stdout)).toHaveLength(100);
  });

  it('filters by provider, status and id prefix', async () => {
    expect(ids((await run(['list', '--provider', 'checkbook', '--json'], env)).stdout)).toEqual([
      'cb-1',
      'cb-2',
    ]);
    expect(ids((await run(['list', '--status', 'revoked', '--json'], env)).stdout)).toEqual(['cb-2']);
    expect(ids((await run(['list', '--prefix', 'acme-', '--limit', '2', '--json'], env)).stdout)).toEqual([
      'acme-1',
      'acme-2',
    ]);
    const none = await run(['list', '--prefix', 'nobody'], env);
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/No connections match/);
  });

  it('--all streams every page: one JSON array, or one table with one header', async () => {
    const all = await run(['list', '--all', '--json'], env);
    expect(all.code).toBe(0);
    const got = ids(all.stdout);
    expect(got).toHaveLength(1207);
    expect(got.slice(0, 7)).toEqual(['acme-1', 'acme-2', 'acme-3', 'beta-1', 'cb-1', 'cb-2', 'm-00000']);
    expect(got.at(-1)).toBe('zed');
    const text = await run(['list', '--all', '--provider', 'cronofy'], env);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(1201);
    expect(lines.filter((l) => l.startsWith('ID '))).toHaveLength(1);
    // Off a terminal there is no progress line.
    expect(text.stderr).toBe('');
    expect((await run(['list', '--all', '--prefix', 'nobody', '--json'], env)).stdout).toBe('[]\n');
  });

  it.skipIf(!hasScript)(
    '--all draws a progress line on a terminal, and leaves the output clean',
    async () => {
      const out = join(dir, 'all.json');
      // `script` gives the command a pseudo-terminal for stderr; stdout goes to a file.
      const cmd = `${process.execPath} ${BIN} list --all --json > ${out}`;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
        env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env },
        encoding: 'utf8',
      });
      transcript.push(r.stdout, r.stderr);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/500 of 1,207 listed…/);
      expect(r.stdout).toMatch(/1,000 of 1,207 listed…/);
      expect(r.stdout).toMatch(/1,207 listed\./);
      expect(ids(readFileSync(out, 'utf8'))).toHaveLength(1207);
    },
  );

  it('refuses flags it cannot honour (exit 2), before opening anything', async () => {
    for (const [args, message] of [
      [['--limit', '0'], /--limit 0 is not a positive whole number/],
      [['--limit', '2x'], /--limit 2x/],
      [['--status', 'gone'], /--status gone is not a status. *\n→ Use one of: active, needs_reauth, revoked/],
      [['--all', '--limit', '5'], /--all lists every connection/],
      [['--all', '--after', 'x'], /--all lists every connection from the first/],
    ] as const) {
      const r = await run(['list', ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('baton migrate in batches', () => {
  it('resumes after the last batch stored when a run is interrupted, and --restart starts over', async () => {
    const to = join(dir, 'copy.db');
    const target = await SqliteStore.open(to);
    await target.close();
    // The target refuses one row of the third batch: the run stops there, as if interrupted.
    const db = new Database(to);
    db.exec(
      `CREATE TRIGGER boom BEFORE INSERT ON connections WHEN NEW.id = 'm-00900' BEGIN SELECT RAISE(ABORT, 'disk full'); END;`,
    );
    db.close();
    const args = [
      'migrate',
      '--from',
      env['BATON_STORE'] as string,
      '--to',
      `sqlite:${to}`,
      '--batch-size',
      '400',
    ];
    const failed = await run([...args, '--json'], env);
    expect(failed.code).toBe(1);
    const checkpoints = readdirSync(join(env['BATON_HOME'] as string, 'migrate'));
    expect(checkpoints).toHaveLength(1);
    const partly = await SqliteStore.open(to);
    expect(await partly.count()).toBe(800);
    await partly.close();
    const fixed = new Database(to);
    fixed.exec('DROP TRIGGER boom');
    fixed.close();
    const resumed = await run(args, env);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(
      /Resuming after m-00793, where an interrupted run stopped \(800 copied then\)/,
    );
    expect(resumed.stdout).toMatch(/1207 copied, 0 already there/);
    expect(readdirSync(join(env['BATON_HOME'] as string, 'migrate'))).toEqual([]);
    const again = JSON.parse((await run([...args, '--restart', '--json'], env)).stdout) as Record<
      string,
      unknown
    >;
    expect(again).toMatchObject({ copied: 0, skipped: 1207 });
    expect(again).not.toHaveProperty('resumedAfter');
    expect((await run(['migrate', '--from', 'x.db', '--to', 'y.db', '--batch-size', '0'], env)).code).toBe(2);
  });
});

describe('baton rekey', () => {
  it('re-seals the store under the new key while the old one is loaded, verifies, and reports what it cannot', async () => {
    const db = join(dir, 'rekey.db');
    const a = randomBytes(32).toString('base64');
    const b = randomBytes(32).toString('base64');
    planted.add(a);
    planted.add(b);
    await seed(db, a);
    const base = { BATON_HOME: join(dir, 'home2'), BATON_STORE: `sqlite:${db}` };
    const rotated = { ...base, BATON_SECRET_KEY: b, BATON_SECRET_KEY_PREVIOUS: a };
    const check = JSON.parse((await run(['rekey', '--check', '--json'], rotated)).stdout) as {
      current: string;
      inUse: { keyId: string; connections: number; loaded: boolean }[];
    };
    expect(check.current).toBe(idOf(b));
    expect(check.inUse).toEqual([
      { keyId: idOf(a), connections: 7, pendingAuthorizations: 0, clientRegistrations: 0, loaded: true },
    ]);
    const text = await run(['rekey', '--check'], rotated);
    expect(text.stdout).toMatch(new RegExp(`${idOf(a)}\\s+7\\s+0\\s+yes`));
    expect(text.stderr).toMatch(/Run `baton rekey` to re-seal/);
    // doctor says which keys seal the store, and what to do about an old one.
    const keysCheck = async (e: Record<string, string>) =>
      (
        JSON.parse(
          (await run(['doctor', 'acme-1', '--json'], { ...e, BATON_SIMULATOR: sim.url })).stdout,
        ) as {
          checks: { check: string; level: string; message: string; remediation?: string }[];
        }
      ).checks.find((c) => c.check === 'keys');
    expect(await keysCheck(rotated)).toMatchObject({
      level: 'warn',
      message: `current key ${idOf(b)}; sealed under: ${idOf(a)} (7 connection(s)).`,
      remediation: expect.stringMatching(/Run `baton rekey`/),
    });
    const done = await run(['rekey', '--batch-size', '3'], rotated);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(
      new RegExp(
        `7 connection\\(s\\) and 0 pending authorization\\(s\\) re-sealed under key ${idOf(b)} in [\\d.]+ s \\(\\d[\\d,]* rows/s\\); nothing is left under another key`,
      ),
    );
    // The new key alone opens everything now; the old one alone is refused, naming the key it needs.
    const shown = await run(['show', 'acme-1', '--json'], { ...base, BATON_SECRET_KEY: b });
    expect(shown.code).toBe(0);
    const old = await run(['list'], { ...base, BATON_SECRET_KEY: a });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(new RegExp(`sealed under key ${idOf(b)}, and none of them is loaded`));
    expect((await run(['rekey'], rotated)).stdout).toMatch(/Everything is already sealed under key/);
    expect(await keysCheck(rotated)).toMatchObject({
      level: 'ok',
      message: `current key ${idOf(b)}; sealed under: ${idOf(b)} (7 connection(s)).`,
    });

    // A row under a key nobody loaded: reported, left alone, exit 1 with what to do.
    const c = randomBytes(32).toString('base64');
    planted.add(c);
    const other = await Baton.open({
      store: `sqlite:${db}`,
      secretKey: c,
      env: { BATON_SECRET_KEY_PREVIOUS: b },
    });
    await other.connect({
      provider: 'checkfront',
      connectionId: 'stray',
      params: { company: 'stray' },
      credentials: { apiKey: 'k', apiSecret: 'planted-stray-secret' },
      verify: false,
    });
    planted.add('planted-stray-secret');
    await other.close();
    const partial = await run(['rekey'], { ...base, BATON_SECRET_KEY: b });
    expect(partial.code).toBe(1);
    expect(partial.stderr).toMatch(/connection stray: .*sealed with key/);
    expect(partial.stderr).toMatch(new RegExp(`still under another key: ${idOf(c)} \\(1 connection`));
    expect(partial.stderr).toMatch(new RegExp(`→ Load key ${idOf(c)} in BATON_SECRET_KEY_PREVIOUS`));
    expect((await run(['rekey', '--batch-size', 'lots'], rotated)).code).toBe(2);
  });

  it('never prints a secret or a key', () => {
    const all = transcript.join('\n');
    for (const s of planted) expect(all).not.toContain(s);
    expect(existsSync(join(dir, 'home', 'secret.key'))).toBe(false);
  });
});
