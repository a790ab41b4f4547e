// Cold start of `baton token <id>`, one row per auth mode, each beside `node -e 0` in the same
// run (README, "Benchmark"). Part of `npm run bench`; alone with `node bench/run.mjs --cold`.
//
//   node bench/run.mjs --cold [--quick] [--rounds 15] [--only static,pair,oauth2,refresh,cc,pg,help]
//                             [--profile DIR]   (one run per row under `node --cpu-prof` instead)
//
// Every round runs the two processes back to back, alternating which goes first, so a busy
// moment on the machine hits both; the ratio is the median of the per-round ratios. The
// simulator runs in this process (it is what lets the refresh row issue 30-second tokens) and
// answers while the measured process runs, as a vendor would.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Baton, simulatorProfile } from '../dist/index.js';
import { startSimulator } from '../dist/simulator/index.js';
import { authorizeAt, wallTime } from './shared.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The rows: [key, name, connection, extra environment, expected exit code]. Static modes have no
 * access token to print: `baton token` answers 1 with the command to use instead, and that
 * answer is what a script waits for.
 */
function modes(pgStore) {
  return [
    ['static', '`baton token`, API key (static)', 'static-key', {}, 1],
    ['pair', '`baton token`, token pair', 'token-pair', {}, 1],
    ['oauth2', '`baton token`, OAuth2 (token fresh)', 'oauth-fresh', {}, 0],
    ['refresh', '`baton token`, OAuth2 (token refreshed first)', 'oauth-due', {}, 0],
    ['cc', '`baton token`, client credentials', 'client-creds', {}, 0],
    ['pg', '`baton token`, OAuth2 on PostgreSQL', 'pg-fresh', { BATON_STORE: pgStore }, 0],
    ['help', '`baton --help` (for reference)', null, {}, 0],
  ];
}

/** Measures the rows; returns them as run.mjs's report takes them. */
export async function coldRows({ rounds = 15, only, profileDir } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-cold-'));
  const db = join(dir, 'cold.db');
  const key = randomBytes(32).toString('base64');
  const sim = await startSimulator({ port: 0, consent: 'auto', cronofyRotation: 'always' });
  // Cronofy tokens live 1 s and are due half-way: the refresh row waits 0.6 s (untimed) before
  // each run, so every `baton token` of that row refreshes first.
  sim.setAccessTokenLifetime('cronofy', 1);
  const discovery = sim.discovery();
  const profile = simulatorProfile(discovery);
  const pgUrl =
    process.env.BATON_BENCH_POSTGRES_URL ??
    process.env.BATON_TEST_POSTGRES_URL ??
    'postgres://postgres@127.0.0.1:5432/test';
  const pgSchema = `baton_cold_${process.pid}`;
  const u = new URL(pgUrl);
  u.searchParams.set('schema', pgSchema);
  const pgStore = u.toString();
  const open = (store) =>
    Baton.open({ store, secretKey: key, providers: profile.providers, clients: profile.clients, env: {} });
  const results = [];
  let pg = null;
  try {
    const baton = await open(`sqlite:${db}`);
    const pair = discovery.vendors.checkfront.apiKeys.find((k) => k.params.company === 'acme');
    await baton.connect({
      provider: 'checkfront',
      connectionId: 'token-pair',
      params: { company: 'acme' },
      credentials: { apiKey: pair.apiKey, apiSecret: pair.apiSecret },
    });
    const apiKey = discovery.vendors.checkbook.apiKeys.find((k) => k.params.environment === 'sandbox');
    await baton.connect({
      provider: 'checkbook',
      connectionId: 'static-key',
      params: { environment: 'sandbox' },
      authMode: 'api_key',
      credentials: { apiKey: apiKey.apiKey, apiSecret: apiKey.apiSecret },
    });
    await authorizeAt(baton, 'checkfront', 'oauth-fresh', { company: 'acme' }, 'admin');
    await authorizeAt(baton, 'cronofy', 'oauth-due', { dataCenter: 'us' });
    await baton.connect({
      provider: 'checkissuing',
      connectionId: 'client-creds',
      params: { environment: 'sandbox' },
    });
    await baton.close();
    const wanted = modes(pgStore).filter(([k]) => !only || only.includes(k));
    if (wanted.some(([k]) => k === 'pg')) {
      pg = await open(pgStore);
      await authorizeAt(pg, 'checkfront', 'pg-fresh', { company: 'acme' }, 'admin');
      await pg.close();
    }
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ store: `sqlite:${db}`, providers: profile.providers, clients: profile.clients }),
    );
    const cli = join(here, '../dist/cli/bin.cjs');
    const base = { PATH: process.env.PATH ?? '', BATON_SECRET_KEY: key, BATON_HOME: dir };
    for (const [, name, id, extra, expect] of wanted) {
      const args = id ? [cli, 'token', id] : [cli, '--help'];
      if (profileDir) {
        // One run per row under the V8 profiler instead of timing: where the time goes.
        const prof = join(profileDir, id ?? 'help');
        await sleep(id === 'oauth-due' ? 600 : 0);
        await wallTime(['--cpu-prof', '--cpu-prof-dir', prof, ...args], {
          cwd: dir,
          env: { ...base, ...extra },
          expect,
        });
        continue;
      }
      const env = { ...base, ...extra };
      const settle = id === 'oauth-due' ? () => sleep(600) : async () => {};
      const run = async () => {
        await settle();
        return wallTime(args, { cwd: dir, env, expect });
      };
      const peer = () => wallTime(['-e', '0'], { cwd: dir, env });
      await run();
      const samples = { baton: [], peer: [] };
      for (let round = 0; round < rounds; round++) {
        if (round % 2) {
          samples.peer.push(await peer());
          samples.baton.push(await run());
        } else {
          samples.baton.push(await run());
          samples.peer.push(await peer());
        }
      }
      results.push({
        name: `cold start: ${name}`,
        baton: median(samples.baton),
        peer: median(samples.peer),
        unit: 'ms',
        ratio: median(samples.baton.map((b, i) => b / samples.peer[i])),
        target: id ? '≤ 2× (wall time of the process)' : '—',
        note: '`node -e 0`',
      });
    }
    const refreshes = sim.counters().token.cronofy.byGrant.refresh_token ?? 0;
    if (!profileDir && wanted.some(([k]) => k === 'refresh') && refreshes < rounds)
      throw new Error(`the refresh row refreshed ${refreshes} times in ${rounds} rounds`);
  } finally {
    await sim.close();
    if (pg) {
      const { default: pgLib } = await import('pg');
      const c = new pgLib.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      await c.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** `node bench/run.mjs --cold`: these rows alone. */
export async function main(argv) {
  const flag = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const rounds = Number(flag('--rounds') ?? (argv.includes('--quick') ? 7 : 15));
  const only = flag('--only')?.split(',');
  const profileDir = flag('--profile');
  const rows = await coldRows({ rounds, only, profileDir });
  if (profileDir)
    return console.log(`CPU profiles in ${profileDir}/<connection>/ (open in Chrome DevTools).`);
  const lines = ['| benchmark | Baton | peer | ratio | target | peer is |', '|---|---|---|---|---|---|'];
  for (const r of rows)
    lines.push(
      `| ${r.name} | ${r.baton.toFixed(0)} ms | ${r.peer.toFixed(0)} ms | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.note} |`,
    );
  console.log(lines.join('\n'));
  console.log(`\nnode ${process.version}, ${rounds} paired rounds per row; ratios are Baton ÷ peer.`);
}
