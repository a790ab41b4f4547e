/**
 * `npm run soak` — long runs of the two correctness soaks.
 *
 *   npm run soak -- --runs 200 [--seed S] [--engine memory|sqlite|postgres] [--steps 40]
 *                   [--persona cronofy|xero|atlassian|mcp-dcr|mcp-cimd|all[,…]] [--reuse window|family] [--verbose]
 *     Model-based interleavings (test/model/driver.ts): run i uses seed S+i (S random unless
 *     given, and printed); `--persona` picks the provider (test/model/personas.ts; default
 *     Cronofy; a comma list or `all` runs each in turn, `npm run soak:personas` is `all`);
 *     `--reuse` gives Cronofy a reuse window for a replaced refresh token (with `family`,
 *     revocation of the whole grant after it). Any failure prints its seed, step, operation and
 *     trace, and how to replay it; replaying a seed replays the same operation sequence.
 *
 *   npm run soak -- --kill --runs 1000 [--engine sqlite|postgres] [--seed S] [--min-procs 2] [--max-procs 6]
 *     SIGKILL soak: per run, 2–6 worker processes (plain node on dist/) share one store, the
 *     token is due, Cronofy rotates on every refresh, the workers refresh together and one of
 *     them is SIGKILLed at a seeded point of the refresh. A fresh Baton then reads the
 *     connection and asks for a token. Each run is ok, or a loss inside the window (the killed
 *     process had its token request answered, or arriving, and never committed) or outside it.
 *     Prints counts and the width of the answer→commit window (p50/p99).
 *
 * PostgreSQL needs BATON_TEST_POSTGRES_URL. Exit code 1 on any model violation or any loss
 * outside the window.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { fetch } from 'undici';
import { Baton } from '../../src/core/baton.js';
import { startSimulator, type TokenLogEntry } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type Engine, type PersonaName, type ReuseVariant, runModel } from '../model/driver.js';
import { PERSONAS } from '../model/personas.js';
import { describeFailure } from '../model/report.js';
import { Rng } from '../model/rng.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    seed: { type: 'string' },
    engine: { type: 'string' },
    reuse: { type: 'string' },
    persona: { type: 'string' },
    steps: { type: 'string', default: '40' },
    kill: { type: 'boolean', default: false },
    'min-procs': { type: 'string', default: '2' },
    'max-procs': { type: 'string', default: '6' },
    verbose: { type: 'boolean', default: false },
  },
});

const PG_URL = process.env['BATON_TEST_POSTGRES_URL'];
const runs = Number(args.runs);
const firstSeed = args.seed !== undefined ? Number(args.seed) : Math.floor(Math.random() * 2 ** 31);

if (args.kill) await killSoak();
else await modelSoak();
// Pending wait timers of finished runs must not hold the process open.
process.exit(process.exitCode ?? 0);

async function modelSoak(): Promise<void> {
  const engines: Engine[] = args.engine
    ? [args.engine as Engine]
    : (['memory', 'sqlite', ...(PG_URL ? ['postgres'] : [])] as Engine[]);
  if (engines.includes('postgres') && !PG_URL)
    throw new Error('--engine postgres needs BATON_TEST_POSTGRES_URL');
  const steps = Number(args.steps);
  const reuse = args.reuse as ReuseVariant | undefined;
  if (reuse !== undefined && reuse !== 'window' && reuse !== 'family')
    throw new Error('--reuse takes window or family');
  const personas = (
    args.persona === 'all' ? [...PERSONAS] : (args.persona ?? 'cronofy').split(',')
  ) as PersonaName[];
  const unknown = personas.find((p) => !PERSONAS.includes(p));
  if (unknown !== undefined)
    throw new Error(`--persona takes ${PERSONAS.join(', ')} or all (not "${unknown}")`);
  if (reuse !== undefined && personas.some((p) => p !== 'cronofy'))
    throw new Error('--reuse applies to Cronofy only: Xero, Atlassian and MCP have their own rules');
  console.log(
    `model soak: engines=${engines.join(',')} personas=${personas.join(',')} runs=${runs} steps=${steps}${reuse ? ` reuse=${reuse}` : ''} first seed=${firstSeed}`,
  );
  const failures: string[] = [];
  const kinds = new Map<string, string[]>();
  const tally = { named: 0, recovered: 0, gaveUp: 0, evictions: 0, reRegistrations: 0 };
  const counted = new Map<string, number>();
  const started = Date.now();
  for (const persona of personas) {
    for (const engine of engines) {
      for (let i = 0; i < runs; i++) {
        const seed = (firstSeed + i) >>> 0;
        const result = await runModel({
          engine,
          seed,
          steps,
          postgresUrl: PG_URL,
          reuse,
          persona,
          ...(args.verbose ? { onTrace: (l: string) => console.log(l) } : {}),
        });
        tally.named += result.namedLosses.crashWindow + result.namedLosses.unanswered;
        tally.recovered += result.recovered;
        tally.gaveUp += result.gaveUpInDoubt;
        tally.evictions += result.evictions;
        tally.reRegistrations += result.reRegistrations;
        for (const [k, n] of Object.entries(result.stats)) counted.set(k, (counted.get(k) ?? 0) + n);
        const v = result.violations[0];
        console.log(
          `seed=${seed} engine=${engine} persona=${persona} steps=${result.steps} ${v ? `FAIL step=${v.step} op=${v.op} ${v.kind}` : 'ok'}`,
        );
        if (v) {
          failures.push(describeFailure(result, 20));
          const list = kinds.get(v.kind) ?? [];
          list.push(`${persona}/${engine}/${seed}`);
          kinds.set(v.kind, list);
        }
      }
    }
  }
  const total = runs * engines.length * personas.length;
  console.log(
    `\n${failures.length} failing runs of ${total} (${runs} runs × ${steps} steps × ${personas.length} persona(s) × ${engines.length} engine(s)); named losses ${tally.named}; recovered inside a window ${tally.recovered}; given up in doubt ${tally.gaveUp}; evictions ${tally.evictions}, re-registrations ${tally.reRegistrations}; ${Math.round((Date.now() - started) / 1000)} s`,
  );
  console.log(`  counted: ${[...counted].map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing'}`);
  for (const [kind, runsOf] of kinds)
    console.log(`  ${kind}: ${runsOf.length} (${runsOf.slice(0, 10).join(', ')})`);
  if (failures.length > 0) {
    console.log(`\nfirst failure:\n${failures[0]}`);
    process.exitCode = 1;
  }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL soak

interface Worker {
  child: ChildProcess;
  tag: string;
  lines: Record<string, unknown>[];
  waitFor(pred: (o: Record<string, unknown>) => boolean, ms: number): Promise<Record<string, unknown> | null>;
  exited: Promise<number | null>;
}

function spawnWorker(env: Record<string, string>, tag: string): Worker {
  const child = spawn(process.execPath, ['test/soak/kill-worker.mjs'], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ garbage: line });
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    tag,
    lines,
    exited,
    async waitFor(pred, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find(pred);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          if (stderr && child.signalCode === null && args.verbose) console.error(stderr.slice(-1500));
          return null;
        }
        await Promise.race([
          new Promise<void>((r) => waiters.push(r)),
          sleep(Math.max(1, deadline - Date.now())),
        ]);
      }
    },
  };
}

type KillPoint = 'token-request' | 'token-response' | 'after-response' | 'delay';

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

async function killSoak(): Promise<void> {
  const engine = (args.engine ?? 'sqlite') as Engine;
  if (engine === 'memory')
    throw new Error('the SIGKILL soak needs a store processes share: sqlite or postgres');
  if (engine === 'postgres' && !PG_URL) throw new Error('--engine postgres needs BATON_TEST_POSTGRES_URL');
  if (!existsSync('dist/index.js')) throw new Error('build first: npm run build');
  const minProcs = Number(args['min-procs']);
  const maxProcs = Number(args['max-procs']);
  const rng = new Rng(firstSeed);
  console.log(
    `SIGKILL soak: engine=${engine} runs=${runs} processes=${minProcs}-${maxProcs} seed=${firstSeed}`,
  );

  const sim = await startSimulator({ consent: 'auto', cronofyRotation: 'always' });
  const profile = simulatorProfile(
    sim.discovery() as unknown as SimulatorDiscovery,
    'http://127.0.0.1:1/callback',
  );
  const { dir, cleanup } = tempDir('baton-soak-');
  const counts = { runs: 0, ok: 0, lossInside: 0, lossOutside: 0, noKill: 0, doubleSpends: 0 };
  const byPoint = new Map<string, { runs: number; inside: number; outside: number }>();
  const windows: number[] = [];
  const outside: string[] = [];
  const LEASE_TTL_MS = 1_500;
  const started = Date.now();

  try {
    for (let run = 0; run < runs; run++) {
      const runSeed = firstSeed + run;
      const procs = rng.int(minProcs, maxProcs);
      const victimIndex = rng.int(0, procs - 1);
      const point: KillPoint = rng.weighted([
        ['token-request', 2],
        ['token-response', 2],
        ['after-response', 2],
        ['delay', 4],
      ] as const);
      const delayMs = point === 'delay' ? rng.int(0, 250) : point === 'after-response' ? rng.int(0, 4) : 0;
      const connectionId = 'alice';
      const secretKey = randomKey();
      let store: string;
      let schema: string | null = null;
      if (engine === 'sqlite') store = `sqlite:${dir}/run-${run}.db`;
      else {
        schema = `baton_soak_${process.pid}_${run}`;
        const u = new URL(PG_URL as string);
        u.searchParams.set('schema', schema);
        store = u.toString();
      }
      const baseOpts = {
        store,
        secretKey,
        providers: profile.providers,
        clients: profile.clients,
        clock: { now: () => sim.clock.now() },
        env: { BATON_HOME: dir },
      };
      // Authorize with the simulator, then make the token due everywhere.
      const setup = await Baton.open(baseOpts);
      const { url } = await setup.beginAuthorization({ provider: 'cronofy', connectionId });
      const consent = new URL(url);
      consent.searchParams.set('sim_decision', 'approve');
      const res = await fetch(consent, { redirect: 'manual' });
      await res.text();
      await setup.completeAuthorization({ callbackUrl: res.headers.get('location') as string });
      await setup.close();
      sim.clock.advance(3_600_000 + 5_000);
      const clockOffsetMs = sim.clock.now() - Date.now();
      const logStart = sim.tokenLog().length;

      const tags = Array.from({ length: procs }, (_, i) => `r${run}w${i}`);
      // A timed kill hits a seeded worker; a kill at a point of the refresh hits the worker whose
      // token request arrives first (the one refreshing).
      let victimTag: string | null = point === 'delay' ? (tags[victimIndex] as string) : null;
      const workers = tags.map((tag) =>
        spawnWorker(
          {
            BATON_SOAK_WORKER: JSON.stringify({
              store,
              secretKey,
              providers: profile.providers,
              clients: profile.clients,
              clockOffsetMs,
              callers: 20,
              leaseTtlMs: LEASE_TTL_MS,
              connectionId,
              tag,
              home: dir,
            }),
          },
          tag,
        ),
      );
      const victimOf = () => workers.find((w) => w.tag === victimTag) ?? (workers[victimIndex] as Worker);
      let killedAt: number | null = null;
      const kill = () => {
        if (killedAt !== null) return;
        killedAt = performance.timeOrigin + performance.now();
        victimOf().child.kill('SIGKILL');
      };
      const untap = sim.tap((phase, info) => {
        if (info.endpoint !== 'token') return;
        if (victimTag === null && phase === 'request') victimTag = info.tag;
        if (info.tag !== victimTag) return;
        if (point === 'token-request' && phase === 'request') kill();
        if (point === 'token-response' && phase === 'response') kill();
        if (point === 'after-response' && phase === 'response') setTimeout(kill, delayMs);
      });
      const ready = await Promise.all(workers.map((w) => w.waitFor((o) => 'ready' in o, 20_000)));
      if (ready.some((r) => r === null)) throw new Error(`run ${run}: a worker did not start`);
      for (const w of workers) w.child.stdin?.write('go\n');
      if (point === 'delay') setTimeout(kill, delayMs);
      // Survivors finish (waiting out the victim's lease if it held one); the victim is killed or done.
      await sleep(point === 'delay' ? delayMs : 0);
      const target = victimOf();
      await Promise.all(
        workers.map((w) =>
          w === target ? Promise.race([w.exited, sleep(10_000)]) : w.waitFor((o) => 'done' in o, 30_000),
        ),
      );
      untap();
      if (killedAt === null) {
        // The kill point never came (the victim did not make the token call): kill it now, after the fact.
        counts.noKill++;
        kill();
      }
      for (const w of workers)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));

      // A fresh process's view.
      const fresh = await Baton.open(baseOpts);
      const info = await fresh.get(connectionId);
      let tokenOk = false;
      try {
        await fresh.getAccessToken(connectionId);
        tokenOk = true;
      } catch {
        tokenOk = false;
      }
      const stored = (await fresh.reveal(connectionId).catch(() => null))?.tokens?.refreshToken ?? null;
      await fresh.close();

      const entries = sim.tokenLog().slice(logStart) as TokenLogEntry[];
      const rotations = entries.filter((e) => e.rotated);
      const spentAgain = entries.filter(
        (e) =>
          e.grantType === 'refresh_token' &&
          rotations.some((r) => r.presentedRefreshToken === e.presentedRefreshToken && r.seq < e.seq),
      );
      const storedStatus = stored ? sim.tokenStatus(stored) : 'unknown';
      const lost = !tokenOk || info.status !== 'active' || storedStatus !== 'live';
      const victim = victimOf();
      const victimRotation = rotations.find((r) => r.tag === victim.tag);
      const victimCommitted = victim.lines.some((o) => 'refreshed' in o);
      // Inside the window: the victim's token request reached the provider (which rotated) and the
      // victim died before its commit.
      const inside = lost && victimRotation !== undefined && !victimCommitted && killedAt !== null;
      for (const w of workers) {
        const rot = rotations.find((r) => r.tag === w.tag);
        const committed = w.lines.find((o) => 'refreshed' in o) as { refreshed: number } | undefined;
        if (rot && committed) windows.push(committed.refreshed - rot.answeredWallMs);
      }
      counts.runs++;
      counts.doubleSpends += spentAgain.length;
      const bp = byPoint.get(point) ?? { runs: 0, inside: 0, outside: 0 };
      bp.runs++;
      if (!lost) counts.ok++;
      else if (inside) {
        counts.lossInside++;
        bp.inside++;
      } else {
        counts.lossOutside++;
        bp.outside++;
        outside.push(
          `seed=${runSeed} run=${run} procs=${procs} kill=${point}${delayMs ? `+${delayMs}ms` : ''} victim=${victim.tag} status=${info.status} token=${tokenOk ? 'ok' : 'refused'} stored-refresh=${storedStatus} rotations=${rotations.map((r) => r.tag).join(',')} spent-again=${spentAgain.length} victim-committed=${victimCommitted}`,
        );
      }
      byPoint.set(point, bp);
      if (args.verbose || lost)
        console.log(
          `run ${run} seed=${runSeed} procs=${procs} kill=${point}${delayMs ? `+${delayMs}ms` : ''}: ${lost ? (inside ? 'loss inside the window' : 'LOSS OUTSIDE THE WINDOW') : 'ok'} (status ${info.status}, rotations ${rotations.length}, spent again ${spentAgain.length})`,
        );
      else if ((run + 1) % 50 === 0) console.log(`… ${run + 1} runs`);
      if (schema) {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
        await client.end();
      }
    }
  } finally {
    await sim.close();
    cleanup();
  }
  const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)} ms`);
  console.log(
    `\nSIGKILL soak on ${engine}: runs=${counts.runs} ok=${counts.ok} losses inside the window=${counts.lossInside} losses outside=${counts.lossOutside} (kill point never reached: ${counts.noKill}; refresh tokens spent twice: ${counts.doubleSpends})`,
  );
  for (const [p, c] of byPoint)
    console.log(`  kill ${p}: ${c.runs} runs, ${c.inside} inside, ${c.outside} outside`);
  console.log(
    `answer→commit window (provider answered → refreshed event), ${windows.length} samples: p50 ${fmt(percentile(windows, 50))}, p99 ${fmt(percentile(windows, 99))}, max ${fmt(Math.max(...windows))}`,
  );
  console.log(`${Math.round((Date.now() - started) / 1000)} s`);
  if (outside.length > 0) {
    console.log(`\nlosses outside the window:\n${outside.slice(0, 20).join('\n')}`);
    process.exitCode = 1;
  }
}
