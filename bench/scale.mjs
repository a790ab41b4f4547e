// npm run bench -- --scale: Baton holding many connections (docs/benchmarks.md, "Scale").
//
// For each engine and size: real Cronofy connections authorized at the simulator (0.1 % of the
// size, made due by moving the clock an hour), the rest generated in bulk and sealed the way
// Baton seals every connection (AES-256-GCM under the store's key, bound to each row), then:
// the due query, a keeper pass with nothing due and with the due set (under a token-endpoint
// rate limit), the first page of `list`, the memory of a process holding 10,000 warm
// connections, and `rekey`. Every figure comes with the facts that show it was right (which
// ids were due, how many token calls the simulator saw, what the keeper reported...), which
// test/bench/scale.test.ts checks at 10 k on every run of the suite.
//
//   node bench/run.mjs --scale [--sizes 10000,100000,1000000] [--engines sqlite,postgres]
//                              [--rate 100] [--json results.json] [--keep]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealSecrets } from '../dist/core/secrets.js';
import { Baton, simulatorProfile } from '../dist/index.js';
import { Sealer } from '../dist/store/sealer.js';
import { parseSecretKey } from '../dist/store/secret-key.js';
import { authorizeCronofy, simulatorAdmin } from './shared.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PAGE = 100;
const WARM = 10_000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...args) => process.stderr.write(`${args.join(' ')}\n`);

async function timed(fn, rounds) {
  const ms = [];
  let value;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    value = await fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), value };
}

/** The simulator in its own process, as a vendor would be: Baton's side is what is measured. */
export async function startSimulator() {
  const proc = spawn(
    process.execPath,
    [join(here, '../dist/cli/main.js'), 'simulate', '--port', '0', '--consent', 'auto', '--json'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.on('exit', () => proc.kill());
  const discovery = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out));
      } catch {
        // not complete yet
      }
    });
    proc.on('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  const call = simulatorAdmin(discovery);
  // A kept-alive socket the simulator closed while the bulk load ran is retried once, on a new one.
  const admin = (path, body) => call(path, body).catch(() => call(path, body));
  return {
    discovery,
    profile: simulatorProfile(discovery),
    clock: async () => (await admin('clock')).now,
    // Read, then set: a retried call does not move the clock twice.
    advance: async (ms) => admin('clock/set', { now: (await admin('clock')).now + ms }),
    refreshCalls: async () => (await admin('counters')).token.cronofy.byGrant.refresh_token ?? 0,
    stop: () => proc.kill('SIGINT'),
  };
}

/** Whatever a synthetic connection is: the providers' shapes, mostly active, none of them due. */
function shapeOf(i, now) {
  const roll = Math.floor(i / 20) % 200; // not in step with the provider below (i % 20)
  const status = roll < 196 ? 'active' : roll < 199 ? 'needs_reauth' : 'revoked';
  const kind = i % 20;
  // Access tokens last at least two more hours (the benchmark moves the clock by one); refresh
  // tokens that lapse do so in more than the keeper's two days.
  const access = now + 2 * HOUR + (i % 997) * 40_000;
  if (kind < 14)
    return {
      provider: 'cronofy',
      authMode: 'oauth2',
      params: { dataCenter: ['us', 'de', 'uk'][i % 3] },
      status,
      access,
      refresh: null,
      scopes: ['read_events'],
    };
  if (kind < 19)
    return {
      provider: 'checkfront',
      authMode: 'oauth2',
      // The simulator registers clients for two companies; many connections share each.
      params: { company: i % 2 ? 'acme' : 'globex' },
      status,
      access,
      refresh: now + 3 * DAY + (i % 991) * 900_000,
      scopes: null,
    };
  return {
    provider: 'checkissuing',
    authMode: 'client_credentials',
    params: { environment: i % 2 ? 'sandbox' : 'production' },
    status,
    access,
    refresh: null,
    scopes: null,
  };
}

/**
 * The bulk path: rows built and sealed exactly as Baton's write path seals them (one random IV
 * each, bound to the row's id, provider, params, client, auth mode and API base), written in
 * large batches with the engine's multi-row insert.
 */
async function generate(baton, sealer, count, now, onBatch) {
  const clientOf = new Map();
  const clientId = (provider, params) => {
    const k = `${provider} ${JSON.stringify(params)}`;
    if (!clientOf.has(k)) {
      const c = baton.clientFor(provider, params);
      if (!c) throw new Error(`the simulator has no ${provider} client for ${k}`);
      clientOf.set(k, c.clientId);
    }
    return clientOf.get(k);
  };
  const batch = baton.store.kind === 'postgres' ? 2000 : 5000;
  const samples = [];
  for (let start = 0; start < count; start += batch) {
    const rows = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const s = shapeOf(i, now);
      const random = randomBytes(48).toString('base64url');
      const tokens =
        s.status === 'revoked'
          ? null
          : {
              accessToken: random.slice(0, 32),
              tokenType: 'bearer',
              expiresAt: s.access,
              refreshToken: s.authMode === 'oauth2' ? random.slice(32) : null,
              refreshTokenExpiresAt: s.refresh,
              scope: s.scopes?.join(' ') ?? null,
              issuedAt: now - HOUR,
              extra: {},
            };
      const record = {
        id: `s-${String(i).padStart(7, '0')}`,
        provider: s.provider,
        authMode: s.authMode,
        params: s.params,
        clientId: clientId(s.provider, s.params),
        status: s.status,
        version: 1,
        sealed: '',
        accessTokenExpiresAt: tokens ? s.access : null,
        refreshTokenExpiresAt: tokens ? s.refresh : null,
        lastRefreshedAt: now - HOUR,
        lastError:
          s.status === 'needs_reauth'
            ? { code: 'reauthorization_required', message: 'The grant was revoked.', at: now - DAY }
            : null,
        apiBaseUrl: null,
        account: { id: `acct-${i}` },
        scopes: s.scopes,
        createdAt: now - 30 * DAY,
        updatedAt: now - HOUR,
      };
      record.sealed = sealSecrets(sealer, record, { tokens, credentials: null });
      if (i % Math.max(1, Math.floor(count / 5)) === 0 && tokens) samples.push({ id: record.id, tokens });
      rows.push(record);
    }
    await baton.store.putMany(rows, false);
    onBatch?.(Math.min(count, start + batch));
  }
  return samples;
}

/** Runs the whole scale path once: one engine, one size. */
export async function scaleRun({ engine, size, sim, pgUrl, dir, rate = 100, keep = false }) {
  const dueCount = Math.max(1, Math.round(size * 0.001));
  const key = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const schema = `baton_scale_${process.pid}_${size}`;
  const store =
    engine === 'sqlite'
      ? `sqlite:${join(dir, `scale-${size}.db`)}`
      : (() => {
          const u = new URL(pgUrl);
          u.searchParams.set('schema', schema);
          u.searchParams.set('statement_timeout', '600000');
          return u.toString();
        })();
  const state = { offset: (await sim.clock()) - Date.now() };
  const clock = { now: () => Date.now() + state.offset };
  const opened = [];
  const open = async (extra = {}) => {
    const b = await Baton.open({
      store,
      secretKey: key,
      providers: sim.profile.providers,
      clients: sim.profile.clients,
      clock,
      env: {},
      ...extra,
    });
    opened.push(b);
    return b;
  };
  const result = { engine, size, dueCount, rate };
  try {
    const baton = await open();
    // ---- the data: real due connections, the rest in bulk ----
    let t0 = performance.now();
    const dueIds = Array.from({ length: dueCount }, (_, i) => `due-${String(i).padStart(5, '0')}`);
    for (let next = 0; next < dueIds.length; ) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < dueIds.length) await authorizeCronofy(baton, dueIds[next++]);
        }),
      );
    }
    result.authorize = { ms: performance.now() - t0 };
    const sealer = new Sealer({ current: parseSecretKey(key) });
    t0 = performance.now();
    let shown = 0;
    const samples = await generate(baton, sealer, size - dueCount, clock.now(), (done) => {
      if (done - shown >= 100_000 || done === size - dueCount) {
        shown = done;
        log(`  ${engine} ${size}: ${done} generated`);
      }
    });
    const genMs = performance.now() - t0;
    result.generate = { ms: genMs, rowsPerSec: (size - dueCount) / (genMs / 1000) };
    result.stored = await baton.store.count();
    // Sealed honestly: a sample opens, through Baton, to the tokens that were generated.
    result.samplesOpen = 0;
    for (const s of samples) {
      const opened = await baton.reveal(s.id);
      if (
        opened.tokens?.accessToken === s.tokens.accessToken &&
        opened.tokens?.refreshToken === s.tokens.refreshToken
      )
        result.samplesOpen++;
    }
    result.samples = samples.length;
    const keyUse = await baton.keys();
    result.keyIdsBefore = keyUse.inUse.map((k) => ({ keyId: k.keyId, connections: k.connections }));

    // ---- nothing due: the keeper's pass costs two index probes ----
    const idle = await open();
    const idleKeeper = idle.startKeeper({ intervalMs: 60_000 });
    idleKeeper.stop();
    const idlePass = await timed(() => idleKeeper.runOnce(), 7);
    result.keeperIdle = { ms: idlePass.ms, run: idlePass.value };

    // ---- an hour later the real ones are due ----
    await sim.advance(HOUR + 60_000);
    state.offset += HOUR + 60_000;
    const query = {
      accessExpiresBy: clock.now() + 60_000,
      accessAuthMode: 'oauth2',
      refreshExpiresBy: clock.now() + 2 * DAY,
      limit: 500,
    };
    const dueQuery = await timed(async () => {
      const ids = [];
      for (let after = null; ; ) {
        const b = await baton.store.due({ ...query, after });
        ids.push(...b.items.map((x) => x.id));
        if (!b.next) return ids;
        after = b.next;
      }
    }, 7);
    result.dueQuery = { ms: dueQuery.ms, ids: dueQuery.value, expected: dueIds };

    const callsBefore = await sim.refreshCalls();
    const worker = await open();
    const keeper = worker.startKeeper({
      intervalMs: 10 * 60_000,
      rateLimits: { cronofy: { perSecond: rate, burst: Math.min(rate, 10) } },
    });
    keeper.stop();
    const pass = await keeper.runOnce();
    result.keeperDue = {
      ms: pass.durationMs,
      refreshesPerSec: pass.refreshed.length / (pass.durationMs / 1000),
      run: { ...pass, refreshed: [...pass.refreshed].sort() },
      tokenCalls: (await sim.refreshCalls()) - callsBefore,
    };
    const after = await keeper.runOnce();
    result.keeperAfter = { checked: after.checked, refreshed: after.refreshed.length };

    // ---- reads ----
    const first = await timed(() => baton.list({ limit: PAGE }), 21);
    const middle = `s-${String(Math.floor(size / 2)).padStart(7, '0')}`;
    const deep = await timed(() => baton.list({ limit: PAGE, after: middle }), 21);
    const filtered = await timed(
      () => baton.list({ limit: PAGE, provider: 'checkfront', status: 'needs_reauth' }),
      21,
    );
    result.list = {
      firstPageMs: first.ms,
      firstPage: first.value.map((c) => c.id),
      middlePageMs: deep.ms,
      middlePage: deep.value.map((c) => c.id),
      filteredPageMs: filtered.ms,
      filteredPage: filtered.value.map((c) => `${c.provider}/${c.status}`),
    };

    // ---- memory of a process holding 10,000 warm connections ----
    result.memory = await warmMemory({ store, key, discovery: sim.discovery, offset: state.offset, dir });

    // ---- rekey ----
    const rotated = await open({ secretKey: newKey, env: { BATON_SECRET_KEY_PREVIOUS: key } });
    let lastLog = 0;
    const rk = await rotated.rekey({
      batchSize: 1000,
      onProgress: (p) => {
        if (p.done - lastLog >= 100_000) {
          lastLog = p.done;
          log(`  ${engine} ${size}: ${p.done} re-sealed`);
        }
      },
    });
    result.rekey = {
      ms: rk.durationMs,
      rowsPerSec: (rk.rekeyed + rk.pendingRekeyed) / (rk.durationMs / 1000),
      rekeyed: rk.rekeyed,
      verified: rk.verified,
      failed: rk.failed.length,
      keyIdsAfter: (await rotated.keys()).inUse.map((k) => ({ keyId: k.keyId, connections: k.connections })),
      newKeyId: rk.keyId,
    };
  } finally {
    for (const b of opened) await b.close().catch(() => undefined);
    if (!keep) {
      if (engine === 'sqlite')
        for (const suffix of ['', '-wal', '-shm', '.rescue'])
          rmSync(join(dir, `scale-${size}.db${suffix}`), { force: true });
      else {
        const pg = (await import('pg')).default;
        const c = new pg.Client({ connectionString: pgUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    }
  }
  return result;
}

/** A fresh process warms 10,000 connections (or every usable one, if fewer) and reports its heap. */
function warmMemory({ store, key, discovery, offset, dir }) {
  const file = join(dir, `discovery-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(discovery));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, 'scale-memory.mjs')], {
      env: {
        ...process.env,
        STORE: store,
        KEY: key,
        DISCOVERY: file,
        OFFSET: String(offset),
        WARM: String(WARM),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      rmSync(file, { force: true });
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`scale-memory.mjs exited ${code}`));
    });
  });
}

const fmtMs = (ms) =>
  ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
const fmtN = (n) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);

/** The table of docs/benchmarks.md: one row per figure, one column per size. */
export function report(results) {
  const lines = [];
  for (const engine of [...new Set(results.map((r) => r.engine))]) {
    const rs = results.filter((r) => r.engine === engine);
    lines.push(
      '',
      `| ${engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'} | ${rs.map((r) => `${fmtN(r.size)} connections`).join(' | ')} | target |`,
      `|---|${rs.map(() => '---').join('|')}|---|`,
    );
    const row = (name, f, target = '') => lines.push(`| ${name} | ${rs.map(f).join(' | ')} | ${target} |`);
    row('bulk generation, sealed', (r) => `${fmtN(r.generate.rowsPerSec)} rows/s`);
    row(
      'due query (0.1 % due, whole due set)',
      (r) => `${fmtMs(r.dueQuery.ms)} (${r.dueQuery.ids.length} ids)`,
      '< 50 ms',
    );
    row('keeper pass, nothing due', (r) => fmtMs(r.keeperIdle.ms), '< 50 ms');
    row(
      'keeper pass, 0.1 % due',
      (r) =>
        `${fmtMs(r.keeperDue.ms)}: ${r.keeperDue.run.refreshed.length} refreshed, ${r.keeperDue.refreshesPerSec.toFixed(0)}/s (limit ${r.rate}/s, burst ${Math.min(r.rate, 10)})`,
    );
    row('`list` first page (100)', (r) => fmtMs(r.list.firstPageMs), '< 50 ms');
    row('`list` page after the middle id', (r) => fmtMs(r.list.middlePageMs));
    row('`list` page, provider + status filter', (r) => fmtMs(r.list.filteredPageMs));
    row(
      'warm cache of 10 k connections: heap',
      (r) =>
        `${r.memory.heapMB.toFixed(1)} MB (${fmtN(r.memory.bytesPerConnection)} B each, ${fmtN(r.memory.warmed)} warm)`,
    );
    row('rekey', (r) => `${fmtN(r.rekey.rowsPerSec)} rows/s (${fmtMs(r.rekey.ms)})`);
  }
  return lines.join('\n');
}

export async function main(argv) {
  const arg = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  };
  const sizes = arg('--sizes', '10000,100000,1000000').split(',').map(Number);
  const engines = arg('--engines', 'sqlite,postgres').split(',');
  const rate = Number(arg('--rate', '100'));
  const out = arg('--json', null);
  const keep = argv.includes('--keep');
  const pgUrl =
    process.env.BATON_BENCH_POSTGRES_URL ??
    process.env.BATON_TEST_POSTGRES_URL ??
    'postgres://postgres@127.0.0.1:5432/test';
  const dir = mkdtempSync(join(tmpdir(), 'baton-scale-'));
  const sim = await startSimulator();
  const results = [];
  try {
    for (const engine of engines) {
      for (const size of sizes) {
        log(`${engine} ${size}…`);
        const r = await scaleRun({ engine, size, sim, pgUrl, dir, rate, keep });
        results.push(r);
        log(report([r]));
        if (out) writeFileSync(out, JSON.stringify(results));
      }
    }
  } finally {
    sim.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
  console.log(report(results));
  console.log(`\nnode ${process.version}; sizes ${sizes.join(', ')}; token-endpoint limit ${rate}/s.`);
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
