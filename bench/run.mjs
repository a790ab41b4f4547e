// npm run bench: Baton beside its peers, in one run, on loopback against the simulator.
// Prints ratios (never absolute targets in tests); see docs/benchmarks.md.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthorizationCode } from 'simple-oauth2';
import { fetch } from 'undici';
import { Baton, simulatorProfile } from '../dist/index.js';
import { rotationTable, rotationWindow } from './rotation.mjs';
import { authorizeCronofy, badgatewayFetch, simulatorAdmin } from './shared.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
if (process.argv.includes('--scale')) {
  // Many connections instead of the peers: bench/scale.mjs (docs/benchmarks.md, "Scale").
  await (await import('./scale.mjs')).main(process.argv.slice(2));
  process.exit(0);
}
if (process.argv.includes('--cold')) {
  // Only the cold-start rows, one per auth mode: bench/cold.mjs.
  await (await import('./cold.mjs')).main(process.argv.slice(2));
  process.exit(0);
}
const quick = process.argv.includes('--quick');
// `--only rotation`: only the rotation-window rows (bench/rotation.mjs); `--only warm`: only
// the warm getAccessToken row.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
if (only !== null && only !== 'rotation' && only !== 'warm')
  throw new Error(`--only takes one of: rotation, warm (got ${only})`);
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-'));
const db = join(dir, 'bench.db');
const key = randomBytes(32).toString('base64');
// The simulator runs in its own process, as a vendor would: Baton's client-side cost is what is measured.
const simProc = spawn(
  process.execPath,
  [join(here, '../dist/cli/main.js'), 'simulate', '--port', '0', '--consent', 'auto', '--json'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
process.on('exit', () => simProc.kill());
const discovery = await new Promise((resolve, reject) => {
  let out = '';
  simProc.stdout.on('data', (d) => {
    out += d;
    try {
      resolve(JSON.parse(out));
    } catch {
      // not complete yet
    }
  });
  simProc.on('exit', (code) => reject(new Error(`simulator exited ${code}`)));
});
const adminCall = simulatorAdmin(discovery);
const sim = {
  url: discovery.origin,
  discovery: () => discovery,
  counters: () => adminCall('counters'),
  advance: (ms) => adminCall('clock/advance', { ms }),
};
const profile = simulatorProfile(discovery);
let offset = 0;
const open = (store = `sqlite:${db}`) =>
  Baton.open({
    store,
    secretKey: key,
    providers: profile.providers,
    clients: profile.clients,
    clock: { now: () => Date.now() + offset },
    env: {},
  });
const baton = await open();
const results = [];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Rounds are paired (Baton and peer back to back); the ratio is the median of the per-round ratios. */
const row = (name, samples, unit, target, note = '') => {
  const ratios = samples.baton.map((b, i) => b / samples.peer[i]);
  results.push({
    name,
    baton: median(samples.baton),
    peer: median(samples.peer),
    unit,
    ratio: median(ratios),
    target,
    note,
  });
};
const fmt = (n) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
const cronofy = sim.discovery().vendors.cronofy;
const client = cronofy.clients[0];
const tokenUrl = cronofy.endpoints.token.replace('{dataCenter}', 'us');
const apiBase = cronofy.endpoints.apiBase.replace('{dataCenter}', 'us');
const pgUrl =
  process.env.BATON_BENCH_POSTGRES_URL ??
  process.env.BATON_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/test';
const pgStoreUrl = (schema) => {
  const u = new URL(pgUrl);
  u.searchParams.set('schema', schema);
  return u.toString();
};
const dropSchema = async (schema) => {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
};

// ---- the rotation window, warm, on SQLite and PostgreSQL (bench/rotation.mjs) ----
const rotationRows = [];
async function measureRotation() {
  const samples = quick ? 100 : 300;
  await authorizeCronofy(baton, 'rotation');
  rotationRows.push({ name: 'SQLite', ...(await rotationWindow(baton, 'rotation', tokenUrl, { samples })) });
  const schema = `baton_bench_rotation_${process.pid}`;
  let pgb = null;
  try {
    pgb = await open(pgStoreUrl(schema));
    await authorizeCronofy(pgb, 'rotation');
    rotationRows.push({
      name: 'PostgreSQL',
      ...(await rotationWindow(pgb, 'rotation', tokenUrl, { samples })),
    });
  } catch (err) {
    console.error(`PostgreSQL rotation window skipped: ${err.message}`);
  } finally {
    await pgb?.close();
    if (pgb) await dropSchema(schema);
  }
}
/** Ends a partial run (`--only`) after printing `text`. */
async function finish(text) {
  console.log(`${text}\n\nnode ${process.version}, ${quick ? 'quick run' : 'full run'}, --only ${only}.`);
  await baton.close();
  simProc.kill('SIGINT');
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
if (only === 'rotation') {
  await measureRotation();
  await finish(rotationTable(rotationRows));
}

// ---- 1. warm getAccessToken vs @badgateway/oauth2-client's getAccessToken ----
await authorizeCronofy(baton, 'warm');
const warmSecrets = await baton.reveal('warm');
const peerClient = { clientId: client.clientId, clientSecret: client.clientSecret, tokenUrl };
const bg = await badgatewayFetch(peerClient, warmSecrets.tokens, () => Date.now() + 3_000_000);
await bg.getAccessToken();
await baton.getAccessToken('warm');
async function callsPerSecond(fn, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return n / ((performance.now() - t0) / 1000);
}
const N = quick ? 200_000 : 2_000_000;
const warm = { baton: [], peer: [] };
for (let round = 0; round < 7; round++) {
  warm.baton.push(await callsPerSecond(() => baton.getAccessToken('warm'), N));
  warm.peer.push(await callsPerSecond(() => bg.getAccessToken(), N));
}
row('warm getAccessToken', warm, 'calls/s', '≥ 2 M/s and ≥ 1.5×', '@badgateway OAuth2Fetch.getAccessToken');
if (only === 'warm') {
  const r = results[0];
  await finish(
    `| ${r.name} | ${fmt(r.baton)} ${r.unit} | ${fmt(r.peer)} ${r.unit} | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.note} |`,
  );
}

// ---- 2. authenticated GET throughput vs undici fetch with a static header ----
const token = await baton.getAccessToken('warm');
const url = new URL('v1/userinfo', apiBase);
async function rps(fn, total, concurrency) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const res = await fn();
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
      }
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}
/** Requests per second of this process's own CPU: what the client side costs, whatever the server and the VM do. */
async function rpsPerCpu(fn, total, concurrency) {
  const c0 = process.cpuUsage();
  await rps(fn, total, concurrency);
  const c = process.cpuUsage(c0);
  return total / ((c.user + c.system) / 1e6);
}
const REQ = quick ? 1000 : 3000;
const viaBaton = () => baton.fetch('warm', 'v1/userinfo');
const viaUndici = () => fetch(url, { headers: { authorization: `Bearer ${token}` } });
await rps(viaBaton, 500, 8);
await rps(viaUndici, 500, 8);
const http = { baton: [], peer: [] };
const httpCpu = { baton: [], peer: [] };
for (let round = 0; round < (quick ? 7 : 21); round++) {
  // Alternate which goes first so neither always meets a warmer (or busier) server.
  const pair = [
    ['peer', viaUndici],
    ['baton', viaBaton],
  ];
  if (round % 2 === 1) pair.reverse();
  for (const [who, fn] of pair) {
    http[who].push(await rps(fn, REQ, 8));
    httpCpu[who].push(await rpsPerCpu(fn, REQ, 8));
  }
}
row('authenticated GET, wall clock', http, 'req/s', '≥ 0.97×', 'undici fetch + static Authorization header');
row(
  'authenticated GET, per client CPU second',
  httpCpu,
  'req/s',
  '≥ 0.97×',
  'the same, counting only this process’s CPU',
);

// ---- 3. refresh storms: 1000 callers, token expired ----
const refreshCalls = async () => (await sim.counters()).token.cronofy.byGrant.refresh_token ?? 0;
async function storm(label, prepare, fire) {
  const ctx = await prepare();
  const before = await refreshCalls();
  const t0 = performance.now();
  const outcome = await fire(ctx);
  const ms = performance.now() - t0;
  results.push({
    name: `refresh storm: ${label}`,
    tokenCalls: (await refreshCalls()) - before,
    ms,
    ...outcome,
  });
  return outcome;
}
const expire = async () => {
  offset += 3_700_000;
  await sim.advance(3_700_000);
};
const settle = (xs) => {
  const ok = xs.filter((x) => x.status === 'fulfilled');
  return { ok: ok.length, failed: xs.length - ok.length, distinct: new Set(ok.map((x) => x.value)).size };
};

await storm(
  'Baton, 1 process × 1000',
  async () => {
    await authorizeCronofy(baton, 'storm1');
    expire();
  },
  async () =>
    settle(await Promise.allSettled(Array.from({ length: 1000 }, () => baton.getAccessToken('storm1')))),
);

function runWorkers(kind, env, processes = 4, callers = 250) {
  const startAt = Date.now() + 2500;
  return Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [join(here, 'storm-worker.mjs'), kind], {
            env: { ...process.env, ...env, START_AT: String(startAt), CALLERS: String(callers) },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}`)),
          );
        }),
    ),
  ).then((rs) => ({
    ok: rs.reduce((a, r) => a + r.ok, 0),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    distinct: Math.max(...rs.map((r) => r.distinct)),
    ms: Math.max(...rs.map((r) => r.elapsed)),
  }));
}

await storm(
  'Baton, 4 processes × 250 (shared SQLite)',
  async () => {
    await authorizeCronofy(baton, 'storm4');
    expire();
  },
  () =>
    runWorkers('baton', {
      SIM_URL: sim.url,
      STORE: `sqlite:${db}`,
      KEY: key,
      ID: 'storm4',
      CLOCK_OFFSET: String(offset),
    }),
);

async function seedToken(id) {
  await authorizeCronofy(baton, id);
  const s = await baton.reveal(id);
  await baton.remove(id);
  return { accessToken: s.tokens.accessToken, refreshToken: s.tokens.refreshToken };
}

await storm(
  'simple-oauth2, 1 process × 1000',
  async () => {
    const seed = await seedToken('so');
    const oauth = new AuthorizationCode({
      client: { id: client.clientId, secret: client.clientSecret },
      auth: { tokenHost: new URL(tokenUrl).origin, tokenPath: new URL(tokenUrl).pathname },
      options: { authorizationMethod: 'body' },
    });
    return oauth.createToken({
      access_token: seed.accessToken,
      refresh_token: seed.refreshToken,
      expires_at: new Date(Date.now() - 1000),
    });
  },
  async (stored) => {
    let current = stored;
    const get = async () => {
      if (current.expired()) current = await current.refresh();
      return current.token.access_token;
    };
    return settle(await Promise.allSettled(Array.from({ length: 1000 }, get)));
  },
);

await storm(
  '@badgateway/oauth2-client, 1 process × 1000',
  async () => {
    const seed = await seedToken('bg1');
    return badgatewayFetch(peerClient, seed, () => Date.now() - 1000);
  },
  async (w) => settle(await Promise.allSettled(Array.from({ length: 1000 }, () => w.getAccessToken()))),
);

await storm(
  '@badgateway/oauth2-client, 4 processes × 250',
  async () => seedToken('bg4'),
  (seed) =>
    runWorkers('badgateway', {
      TOKEN_JSON: JSON.stringify({
        ...seed,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        tokenUrl,
      }),
    }),
);

// ---- 4. PostgreSQL: warm reads off the same hot path, and 8 processes × 250 ----
const pgSchema = `baton_bench_${process.pid}`;
let pgBaton = null;
try {
  const pgStore = pgStoreUrl(pgSchema);
  pgBaton = await open(pgStore);
  await authorizeCronofy(pgBaton, 'pgwarm');
  await pgBaton.getAccessToken('pgwarm');
  const pgWarm = [];
  const sqliteWarm = [];
  for (let round = 0; round < 5; round++) {
    pgWarm.push(await callsPerSecond(() => pgBaton.getAccessToken('pgwarm'), N));
    sqliteWarm.push(await callsPerSecond(() => baton.getAccessToken('warm'), N));
  }
  row(
    'warm getAccessToken, PostgreSQL store',
    { baton: pgWarm, peer: sqliteWarm },
    'calls/s',
    '≈ 1.0× (hot path never touches the store)',
    'Baton on SQLite',
  );
  await storm(
    'Baton, 8 processes × 250 (PostgreSQL)',
    async () => {
      await authorizeCronofy(pgBaton, 'pgstorm');
      await expire();
    },
    () =>
      runWorkers(
        'baton',
        { SIM_URL: sim.url, STORE: pgStore, KEY: key, ID: 'pgstorm', CLOCK_OFFSET: String(offset) },
        8,
        250,
      ),
  );
} catch (err) {
  console.error(`PostgreSQL legs skipped: ${err.message}`);
} finally {
  await pgBaton?.close();
  if (pgBaton) await dropSchema(pgSchema);
}
await measureRotation();

// ---- 5. cold start: `baton token <id>` per auth mode, beside `node -e 0` (bench/cold.mjs) ----
results.push(...(await (await import('./cold.mjs')).coldRows({ rounds: quick ? 7 : 21 })));

await baton.close();
simProc.kill('SIGINT');
rmSync(dir, { recursive: true, force: true });

// ---- report ----
const lines = ['| benchmark | Baton | peer | ratio | target | peer is |', '|---|---|---|---|---|---|'];
for (const r of results.filter((r) => r.unit)) {
  lines.push(
    `| ${r.name} | ${fmt(r.baton)} ${r.unit} | ${fmt(r.peer)} ${r.unit} | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.note} |`,
  );
}
lines.push(
  '',
  '| refresh storm (token expired, rotation on) | token-endpoint calls | callers served | callers failed | distinct tokens | until every caller had an answer |',
  '|---|---|---|---|---|---|',
);
for (const r of results.filter((r) => r.tokenCalls !== undefined)) {
  lines.push(
    `| ${r.name.replace('refresh storm: ', '')} | ${r.tokenCalls} | ${r.ok} | ${r.failed} | ${r.distinct} | ${Math.round(r.ms)} ms |`,
  );
}
lines.push('', rotationTable(rotationRows));
console.log(lines.join('\n'));
console.log(
  `\nnode ${process.version}, ${quick ? 'quick run' : 'full run'}; ratios are Baton ÷ peer in the same run.`,
);

// ---- `baton serve`: its own processes and simulator, after the library's rows ----
console.log('');
await new Promise((resolve, reject) => {
  const server = spawn(process.execPath, [join(here, 'server.mjs'), ...(quick ? ['--quick'] : [])], {
    stdio: 'inherit',
  });
  server.on('exit', (code) =>
    code === 0 ? resolve() : reject(new Error(`bench/server.mjs exited ${code}`)),
  );
});
