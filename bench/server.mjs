// `baton serve` benchmarks, run by `npm run bench` after the library's rows (or alone:
// `node bench/server.mjs [--quick]`). Prints ratios measured in the same run, see docs/benchmarks.md,
// "`baton serve`".  Every server, the simulator and the bare peer run in their own
// processes; this process is only the load generator (undici, keep-alive, fixed concurrency).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { Baton, simulatorProfile } from '../dist/index.js';
import { authorizeCronofy, simulatorAdmin } from './shared.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, '../dist/cli/main.js');
const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'baton-serverbench-'));
const secretKey = randomBytes(32).toString('base64');
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A child process whose stdout is drained (a server logging to a full pipe would stall) and searched. */
function child(args, env, ready) {
  const proc = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  exited.then(() => children.delete(proc));
  const found = new Promise((resolve, reject) => {
    let matched = false;
    // Until the line it waits for: keep the output and search it. After: only drain the pipe
    // (searching a growing log on every line would cost this load generator more than the
    // server it measures), keeping a short tail for an error message.
    const onData = (d) => {
      out = matched ? `${out}${d}`.slice(-10_000) : out + d;
      if (matched) return;
      const m = ready(out);
      if (m) {
        matched = true;
        resolve(m);
        out = '';
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (d) => {
      out += d;
    });
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
  });
  return {
    found,
    pid: proc.pid,
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

// ---- the simulator, in its own process, as a vendor would be ----
const simProc = child([CLI, 'simulate', '--port', '0', '--consent', 'auto', '--json'], {}, (out) => {
  try {
    return JSON.parse(out);
  } catch {
    return undefined;
  }
});
const discovery = await simProc.found;
const adminCall = simulatorAdmin(discovery);
const refreshCalls = async () => (await adminCall('counters')).token.cronofy.byGrant.refresh_token ?? 0;
const profile = simulatorProfile(discovery);

/** `baton serve --port 0` in its own process; resolves with the URL it logs once listening. */
async function serve(store, args = []) {
  const s = child(
    [CLI, 'serve', '--port', '0', ...args],
    { BATON_HOME: dir, BATON_STORE: store, BATON_SECRET_KEY: secretKey, BATON_SIMULATOR: discovery.origin },
    (out) => /"url":"(http:\/\/[^"]+)","store"/.exec(out)?.[1],
  );
  return { url: await s.found, pid: s.pid, stop: s.stop };
}

/** A caller key allowed every connection, for token and proxy, through the CLI as an operator would. */
async function callerKey(store) {
  const k = child(
    [CLI, '--json', 'keys', 'create', '--name', 'bench', '--allow', '*', '--ops', 'token,proxy'],
    { BATON_HOME: dir, BATON_STORE: store, BATON_SECRET_KEY: secretKey, BATON_SIMULATOR: discovery.origin },
    (out) => /"key":\s*"(bk_[^"]+)"/.exec(out)?.[1],
  );
  const key = await k.found;
  await k.stop();
  return key;
}

/** CPU time (user + system) a process has used, in µs; null where /proc is not there. */
function cpuMicros(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = 100;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (n) => (n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0));

/** `total` requests from `concurrency` loops over keep-alive connections; requests/s and each latency in ms. */
async function load(send, total, concurrency) {
  let next = 0;
  const latencies = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const started = performance.now();
        const res = await send();
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return { rps: total / ((performance.now() - t0) / 1000), latencies };
}

/** Paired rounds, alternating which side goes first; the ratio is the median of the rounds' ratios. */
async function paired(baton, peer, rounds, total, concurrency, pids) {
  const s = { baton: [], peer: [], batonP99: [], peerP99: [], ratio: [], addedP99: [] };
  // CPU each side's server process spent per request, summed over the rounds (the clock ticks
  // are coarse): unlike throughput on shared cores, it does not move with the machine's load.
  const cpu = { baton: 0, peer: 0, n: 0 };
  await load(baton, Math.min(total, 500), concurrency);
  await load(peer, Math.min(total, 500), concurrency);
  for (let round = 0; round < rounds; round++) {
    const pair = [
      ['peer', peer],
      ['baton', baton],
    ];
    if (round % 2 === 1) pair.reverse();
    const r = {};
    for (const [who, send] of pair) {
      const before = cpuMicros(pids[who]);
      r[who] = await load(send, total, concurrency);
      const after = cpuMicros(pids[who]);
      cpu[who] = before === null || after === null ? null : cpu[who] + (after - before);
    }
    cpu.n += total;
    s.baton.push(r.baton.rps);
    s.peer.push(r.peer.rps);
    s.batonP99.push(percentile(r.baton.latencies, 99));
    s.peerP99.push(percentile(r.peer.latencies, 99));
    s.ratio.push(r.baton.rps / r.peer.rps);
    s.addedP99.push(percentile(r.baton.latencies, 99) - percentile(r.peer.latencies, 99));
  }
  return {
    baton: median(s.baton),
    peer: median(s.peer),
    ratio: median(s.ratio),
    batonP99: median(s.batonP99),
    peerP99: median(s.peerP99),
    addedP99: median(s.addedP99),
    batonCpu: cpu.baton === null ? null : cpu.baton / cpu.n,
    peerCpu: cpu.peer === null ? null : cpu.peer / cpu.n,
  };
}

const rows = [];
const rounds = quick ? 7 : 21;
const agent = new Agent({ keepAliveTimeout: 60_000, connections: 64 });

// ---- 1 and 2: one `baton serve` on SQLite, a warm Cronofy connection ----
const sqlite = `sqlite:${join(dir, 'bench.db')}`;
{
  const baton = await Baton.open({
    store: sqlite,
    secretKey,
    providers: profile.providers,
    clients: profile.clients,
    env: {},
  });
  await authorizeCronofy(baton, 'warm');
  const token = await baton.getAccessToken('warm');
  await baton.close();
  const key = await callerKey(sqlite);
  const server = await serve(sqlite);
  const auth = { authorization: `Bearer ${key}` };
  const release = () =>
    request(`${server.url}/v1/connections/warm/token`, { method: 'POST', headers: auth, dispatcher: agent });

  // 1. Token release vs a bare node:http server answering the same body, byte for byte.
  const sample = await release();
  const body = await sample.body.text();
  const bare = child(
    [
      '-e',
      `const body = Buffer.from(process.env.BODY);
       const s = require('node:http').createServer((req, res) => {
         req.resume();
         req.on('end', () => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }).end(body));
       });
       s.keepAliveTimeout = 60000;
       s.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + s.address().port));`,
    ],
    { BODY: body },
    (out) => /^(http:\/\/\S+)$/m.exec(out)?.[1],
  );
  const bareUrl = await bare.found;
  const constant = () => request(`${bareUrl}/token`, { method: 'POST', headers: auth, dispatcher: agent });
  const r1 = await paired(release, constant, rounds, quick ? 1500 : 4000, 16, {
    baton: server.pid,
    peer: bare.pid,
  });
  rows.push({
    name: 'token release, warm connection (`POST /v1/connections/{id}/token`)',
    ...r1,
    target: '≥ 0.8×',
    cpuNote: 'the bare server',
    note: `bare \`node:http\` answering the same ${Buffer.byteLength(body)}-byte JSON body`,
  });
  await bare.stop();

  // 2. Proxied GET vs undici calling the simulator directly with the same credential.
  const proxied = () =>
    request(`${server.url}/v1/proxy/warm/v1/userinfo`, { headers: auth, dispatcher: agent });
  const apiBase = discovery.vendors.cronofy.endpoints.apiBase.replace('{dataCenter}', 'us');
  const directUrl = new URL('v1/userinfo', apiBase).toString();
  const direct = () =>
    request(directUrl, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
  const r2 = await paired(proxied, direct, rounds, quick ? 1000 : 3000, 8, {
    baton: server.pid,
    peer: simProc.pid,
  });
  rows.push({
    name: 'proxied GET (`/v1/proxy/{id}/v1/userinfo`)',
    ...r2,
    target: '≥ 0.7×, ≤ 2 ms added p99',
    cpuNote: 'the simulator answering it',
    note: 'undici `request` to the simulator, same path and `Authorization` header',
  });

  // For reference, the ceiling of any proxy on this machine: a bare forwarder (node:http in,
  // undici `request` out, the token fixed, no key check, audit, log or metrics) in the same
  // place as `baton serve`, measured the same way against the same direct peer.
  const bareProxy = child(
    [
      '-e',
      `const http = require('node:http');
       const { Agent } = require(process.env.UNDICI);
       const upstream = new Agent({ keepAliveTimeout: 60000 });
       const target = new URL(process.env.TARGET);
       const s = http.createServer(async (req, res) => {
         const r = await upstream.request({ origin: target.origin, path: target.pathname, method: 'GET',
           headers: { authorization: 'Bearer ' + process.env.TOKEN } });
         const body = Buffer.from(await r.body.arrayBuffer());
         res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'], 'content-length': body.length }).end(body);
       });
       s.keepAliveTimeout = 60000;
       s.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + s.address().port));`,
    ],
    { TARGET: directUrl, TOKEN: token, UNDICI: fileURLToPath(import.meta.resolve('undici')) },
    (out) => /^(http:\/\/\S+)$/m.exec(out)?.[1],
  );
  const bareProxyUrl = await bareProxy.found;
  const viaBare = () => request(`${bareProxyUrl}/v1/userinfo`, { dispatcher: agent });
  const r3 = await paired(viaBare, direct, rounds, quick ? 1000 : 3000, 8, {
    baton: bareProxy.pid,
    peer: simProc.pid,
  });
  rows.push({
    name: 'for reference: a bare forwarder in place of `baton serve` (no key, audit, log, metrics)',
    ...r3,
    target: '—',
    cpuNote: 'the simulator answering it',
    note: 'the same direct peer',
  });
  await bareProxy.stop();
  await server.stop();
}

// ---- 3. Four `baton serve` on one PostgreSQL, token expired, 1000 concurrent releases ----
const pgUrl =
  process.env.BATON_BENCH_POSTGRES_URL ??
  process.env.BATON_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `baton_serverbench_${process.pid}`;
let storm = null;
let schemaMade = false;
const servers = [];
try {
  const u = new URL(pgUrl);
  u.searchParams.set('schema', pgSchema);
  const pgStore = u.toString();
  // The servers read the clock of the machine; authorizing with a clock an hour and some behind
  // stores a token that is already past its expiry for them, and the simulator's clock is moved
  // forward by as much so that it agrees the token has expired.
  const behind = 3_700_000;
  const baton = await Baton.open({
    store: pgStore,
    secretKey,
    providers: profile.providers,
    clients: profile.clients,
    clock: { now: () => Date.now() - behind },
    env: {},
  });
  schemaMade = true;
  await authorizeCronofy(baton, 'storm');
  await baton.close();
  await adminCall('clock/advance', { ms: behind });
  const key = await callerKey(pgStore);
  // No keeper: it would refresh the expired token before the callers arrive.
  servers.push(...(await Promise.all(Array.from({ length: 4 }, () => serve(pgStore, ['--no-keeper'])))));
  const stormAgent = new Agent({ keepAliveTimeout: 60_000 });
  const before = await refreshCalls();
  const t0 = performance.now();
  const answers = await Promise.allSettled(
    Array.from({ length: 1000 }, async (_, i) => {
      const res = await request(`${servers[i % 4].url}/v1/connections/storm/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        dispatcher: stormAgent,
      });
      const json = await res.body.json();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${json.code}`);
      return json.accessToken;
    }),
  );
  const ms = performance.now() - t0;
  const ok = answers.filter((a) => a.status === 'fulfilled');
  storm = {
    tokenCalls: (await refreshCalls()) - before,
    ok: ok.length,
    failed: answers.length - ok.length,
    distinct: new Set(ok.map((a) => a.value)).size,
    ms,
    errors: [...new Set(answers.filter((a) => a.status === 'rejected').map((a) => a.reason.message))],
  };
  await stormAgent.close();
} catch (err) {
  console.error(`PostgreSQL row skipped: ${err.message}`);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  if (schemaMade) {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
    await c.end();
  }
}

await agent.close();
await simProc.stop();
rmSync(dir, { recursive: true, force: true });

// ---- report ----
const lines = [
  '| `baton serve` | Baton | peer | ratio | p99 Baton / peer | target | peer is |',
  '|---|---|---|---|---|---|---|',
];
for (const r of rows) {
  lines.push(
    `| ${r.name} | ${fmt(r.baton)} req/s | ${fmt(r.peer)} req/s | ${r.ratio.toFixed(2)}× | ${r.batonP99.toFixed(2)} / ${r.peerP99.toFixed(2)} ms (+${r.addedP99.toFixed(2)}) | ${r.target} | ${r.note} |`,
  );
}
if (rows.every((r) => r.batonCpu !== null)) {
  lines.push(
    '',
    '| `baton serve`, CPU per request | `baton serve` process | peer process | peer process is |',
    '|---|---|---|---|',
  );
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.batonCpu.toFixed(0)} µs | ${r.peerCpu.toFixed(0)} µs | ${r.cpuNote} |`);
  }
}
if (storm) {
  lines.push(
    '',
    '| `baton serve` refresh storm (token expired, rotation on) | token-endpoint calls | callers answered | callers failed | distinct tokens | until every caller had an answer |',
    '|---|---|---|---|---|---|',
    `| 4 processes on one PostgreSQL, 1000 concurrent releases (250 each) | ${storm.tokenCalls} | ${storm.ok} | ${storm.failed} | ${storm.distinct} | ${Math.round(storm.ms)} ms |`,
  );
  if (storm.errors.length) console.error(`failed releases: ${storm.errors.join('; ')}`);
}
console.log(lines.join('\n'));
console.log(
  `\nnode ${process.version}, ${quick ? 'quick run' : 'full run'}; ratios are \`baton serve\` ÷ peer in the same run (median of paired rounds).`,
);
