/**
 * The model-based interleaving driver: three Baton instances ("processes") on one store, a
 * simulator as the provider, and a seeded schedule of operations, provider events, store
 * faults and crashes. After every step it checks Baton's invariants (docs/architecture.md, "Invariants")
 * with the SIMULATOR as the oracle of what the provider issued, rotated, accepted and refused.
 *
 * How interleavings are produced. The operation sequence is a pure function of the seed: each
 * step draws 1–4 operations (each on one instance) and 0–2 provider/store events from one
 * generator. Within a step the operations are started together, each after a seeded delay of
 * 0–4 ms, and every store call of every instance first waits a seeded moment (a setImmediate or
 * 0–3 ms, from a per-instance generator), so the read-modify-writes of the instances interleave
 * differently per seed. Some events fire mid-step: after a seeded delay, or when the simulator
 * sees a token request of a given instance arrive or be answered (crash points). Real I/O still
 * decides the finest order, so a seed replays the same operations and usually, not always, the
 * same interleaving; failures print the seed and the trace of the last steps.
 *
 * Crashes. A crashed instance's store connection and HTTP agent die at once (every later store
 * call rejects, open sockets are destroyed), its in-flight results are ignored, and a fresh
 * instance takes its slot at the next step, as a restarted process would.
 *
 * What is checked after every step (violation kinds in quotes):
 * - no token is handed out ("dead-token-handed-out") or sent to the API ("dead-token-sent",
 *   "refused-token-resent") that the provider refused with a 401 to that instance, that had
 *   naturally expired, or that was issued before its connection became revoked / removed /
 *   needs_reauth — known to the same instance before the call started, or to any instance
 *   VISIBILITY_MS earlier (the cross-process bound of each engine);
 * - at most one token-endpoint call per rotation: a refresh token the provider rotated away is
 *   never presented again ("rotated-refresh-token-spent-again"), and a step makes no more
 *   refresh calls than its operations justify ("extra-refresh-calls");
 * - a rotated refresh token is never lost: an active connection never holds a refresh token the
 *   provider rotated away ("rotated-refresh-token-lost") — unless the new one went to an
 *   instance that crashed after the provider answered (the named crash window) or its answer
 *   never arrived (a timeout after the provider handled it); those are counted as named losses;
 * - with a reuse window (`reuse`), a refresh token the provider replaced is presented again only
 *   inside the window, counted from the replacement ("reuse-outside-window"); inside it, the
 *   presentation that recovers a lost answer is counted (`recovered`);
 * - revoked / needs_reauth / removed become active only by a new authorization ("resurrected");
 *   a revoke that resolved leaves the connection revoked ("revoke-lost") and its provider grant
 *   dead ("grant-alive-after-revoke");
 * - versions never move back ("version-moved-back"); an explicit refresh that resolves was a
 *   refresh ("forced-refresh-false-success"); every failure is a BatonError ("untyped-error");
 *   no step hangs ("hang").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { Baton } from '../../src/core/baton.js';
import { BatonError, ReauthorizationRequired } from '../../src/errors.js';
import { type Simulator, startSimulator, type TokenLogEntry } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { MemoryStore, openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type ModelStoreControl, modelStore } from './model-store.js';
import { type Persona, type PersonaName, persona as personaOf, type ReuseVariant } from './personas.js';
import { Rng } from './rng.js';

export type { PersonaName, ReuseVariant } from './personas.js';

export type Engine = 'memory' | 'sqlite' | 'postgres';

export interface ModelOptions {
  engine: Engine;
  seed: number;
  steps: number;
  /** PostgreSQL URL (a unique schema per run is added). */
  postgresUrl?: string | undefined;
  /** Called with every trace line as it happens (the soak's --verbose). */
  onTrace?: (line: string) => void;
  /**
   * The provider's reuse window for a replaced refresh token, the same in the simulator and in
   * the spec: `window` — 30 minutes, refused after (Xero); `family` — 10 minutes, and presenting
   * it after revokes the whole grant (Atlassian). Absent: no window (refused at once).
   */
  reuse?: ReuseVariant | undefined;
  /**
   * The provider (personas.ts): Cronofy (default, with `reuse` if given), Xero, Atlassian, or
   * the MCP persona with a registered client (`mcp-dcr`) or a client metadata document (`mcp-cimd`).
   */
  persona?: PersonaName | undefined;
}

export interface Violation {
  kind: string;
  step: number;
  op: string;
  detail: string;
}

export interface ModelResult {
  engine: Engine;
  persona: PersonaName;
  reuse: ReuseVariant | undefined;
  seed: number;
  steps: number;
  violations: Violation[];
  /** Rotations lost in the windows Baton cannot close: a crash between answer and commit, an answer never delivered. */
  namedLosses: { crashWindow: number; unanswered: number };
  /**
   * Connections Baton marked needs_reauth (`refresh_lost`) while the provider still honoured the
   * refresh token: its answer was in doubt (a crash, a lost answer) and the window had passed,
   * so Baton did not send it (invariant 13).
   */
  gaveUpInDoubt: number;
  /** MCP: clients the authorization server forgot, and the registrations Baton made after. */
  evictions: number;
  reRegistrations: number;
  /** With a reuse window: lost answers recovered by sending the replaced refresh token again inside it. */
  recovered: number;
  trace: string[];
  stats: Record<string, number>;
}

const CONN = 'alice';
const CC = 'cc';
const INSTANCES = 3;
const HTTP_TIMEOUT_MS = 400;
const LEASE_TTL_MS = 700;
/**
 * How long a change made by one instance may take to reach another's cache: the change feed
 * (memory, PostgreSQL LISTEN/NOTIFY) or SQLite's background check (1 s by the README's rule).
 */
const VISIBILITY_MS: Record<Engine, number> = { memory: 50, postgres: 250, sqlite: 1_250 };
const STEP_LIMIT_MS = 20_000;
/** A forced refresh may be satisfied by a refresh in flight when it was asked for. */
const JOIN_SLACK_MS = 50;
/** How long after the simulator writes an answer the client may take to read it (a loaded 2-core machine). */
const ANSWER_READ_SLACK_MS = 25;

const wall = () => performance.timeOrigin + performance.now();

/** The browser got an error page at the authorization server: no callback came back to complete. */
class ConsentPageError extends Error {}

interface Instance {
  slot: number;
  gen: number;
  tag: string;
  baton: Baton;
  store: ModelStoreControl;
  agent: Agent;
  crashedAt: number | null;
}

interface OpRecord {
  id: string;
  kind: string;
  conn: string;
  tag: string;
  startWall: number;
  startSeq: number;
  startVirtual: number;
  endWall: number;
  endSeq: number;
  ok: boolean;
  value: unknown;
  error: unknown;
  /** maximum version known (any source) when the op started */
  versionAtStart: number;
}

interface StatusEvent {
  conn: string;
  status: 'revoked' | 'removed' | 'needs_reauth';
  /** Simulator event number when it became known: tokens issued before it belong to the old state. */
  seq: number;
  wall: number;
  /** The instance that made the change, or null when the observer saw it. */
  tag: string | null;
}

interface Snapshot {
  exists: boolean;
  status: string | null;
  lastError: string | null;
  version: number;
  refreshToken: string | null;
  accessToken: string | null;
}

export async function runModel(opts: ModelOptions): Promise<ModelResult> {
  const rng = new Rng(opts.seed);
  const jitterRoot = new Rng(opts.seed ^ 0x5bd1e995);
  const trace: string[] = [];
  const violations: Violation[] = [];
  const stats: Record<string, number> = {};
  const bump = (k: string) => {
    stats[k] = (stats[k] ?? 0) + 1;
  };
  const named = { crashWindow: 0, unanswered: 0 };
  const log = (line: string) => {
    trace.push(line);
    opts.onTrace?.(line);
  };

  const p: Persona = personaOf(opts.persona ?? 'cronofy', opts.reuse);
  const vendor = p.vendor;
  const vendorOf = (conn: string) => (conn === CC ? 'checkissuing' : vendor);
  const sim: Simulator = await startSimulator({ consent: 'auto', ...p.simOptions });
  const discovery = sim.discovery() as unknown as SimulatorDiscovery;
  const profile = simulatorProfile(discovery, 'http://127.0.0.1:1/callback');
  const world = await p.setUp(sim, profile);
  const reuse = p.reuse;
  /** The virtual clock's offset from the wall clock, from each moment the driver moved it. */
  const offsets: { wall: number; offset: number }[] = [{ wall: 0, offset: sim.clock.now() - Date.now() }];
  const virtualAt = (wallMs: number) => {
    let offset = 0;
    for (const o of offsets) if (o.wall <= wallMs) offset = o.offset;
    return wallMs + offset;
  };
  let recovered = 0;
  const { dir, cleanup } = tempDir('baton-model-');
  const secretKey = randomKey();
  let schema: string | null = null;
  let storeSpec: string | null = null;
  const shared = opts.engine === 'memory' ? new MemoryStore() : null;
  if (opts.engine === 'sqlite') storeSpec = `sqlite:${dir}/baton.db`;
  if (opts.engine === 'postgres') {
    if (!opts.postgresUrl) throw new Error('the postgres engine needs a URL');
    schema = `baton_model_${process.pid}_${opts.seed >>> 0}_${Math.random().toString(36).slice(2, 6)}`;
    const u = new URL(opts.postgresUrl);
    u.searchParams.set('schema', schema);
    storeSpec = u.toString();
  }
  const innerStores: Store[] = [];
  const openInner = async (): Promise<Store> => {
    if (shared) return shared;
    const s = await openStore(storeSpec as string, { env: {} });
    innerStores.push(s);
    return s;
  };

  let gens = 0;
  const openInstance = async (slot: number): Promise<Instance> => {
    const gen = gens++;
    const tag = `i${slot}.${gen}`;
    const store = modelStore(await openInner(), jitterRoot.fork(gen));
    const agent = new Agent({ keepAliveTimeout: 10_000 }).compose(
      (dispatch) => (o, handler) =>
        dispatch(
          {
            ...o,
            headers: Array.isArray(o.headers)
              ? [...o.headers, 'x-sim-tag', tag]
              : { ...((o.headers as Record<string, string> | null | undefined) ?? {}), 'x-sim-tag': tag },
          },
          handler,
        ),
    ) as unknown as Agent;
    const baton = await Baton.open({
      store: store.store,
      secretKey,
      ...world.batonOptions,
      clock: { now: () => sim.clock.now() },
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      leaseTtlMs: LEASE_TTL_MS,
      http: { timeoutMs: HTTP_TIMEOUT_MS, dispatcher: agent },
      env: { BATON_HOME: dir },
    });
    return { slot, gen, tag, baton, store, agent, crashedAt: null };
  };

  const instances: Instance[] = [];
  const dead: Instance[] = [];
  const observerStore = shared ?? (await openStore(storeSpec as string, { env: {} }));
  if (!shared) innerStores.push(observerStore);
  const observer = await Baton.open({
    store: observerStore,
    secretKey,
    ...world.batonOptions,
    clock: { now: () => sim.clock.now() },
    env: { BATON_HOME: dir },
  });

  // ---- oracle state ----
  const statusEvents: StatusEvent[] = [];
  const maxVersion = new Map<string, number>();
  const seenStoredRefresh = new Set<string>();
  const reportedLost = new Set<string>();
  let prev = new Map<string, Snapshot>();
  let logIndex = 0;
  let stepNo = 0;
  let opCounter = 0;
  const crashes = new Map<string, number>(); // tag → wall time of the crash
  // Instances that crashed holding rotated pairs the store had refused: a memory store has no
  // rescue journal (README, "When the store is down"), so those pairs die with the process.
  const diedHolding = new Set<string>();
  /** MCP: each time the authorization server forgot its clients, and the registrations it had answered by then. */
  const evictions: { seq: number; registrations: number; clients: number }[] = [];
  /** Grants the provider revoked for a reason the model gave it (its own revoke, an eviction, RFC 7009, a named loss). */
  const explained = new Set<string>();
  const reportedRevoked = new Set<string>();
  /** Replaced refresh tokens presented again that the model names (lost answers recovered or retried). */
  let excusedReuses = 0;
  let gaveUpInDoubt = 0;
  let reRegistrationsSeen = 0;
  /** Grants of the connection's vendor the simulator has issued tokens for. */
  const grantsSeen = new Set<string>();
  const grantOf = (token: string | null | undefined): string | null => {
    if (!token) return null;
    const info = sim.tokenInfo(token);
    return info.kind === 'unknown' ? null : info.grantId;
  };
  /** Every grant already revoked now was revoked by the event that just fired. */
  function explainRevocations(): void {
    for (const e of sim.tokenLog())
      for (const t of [e.issuedRefreshToken, e.issuedAccessToken]) {
        const g = grantOf(t);
        if (g && sim.grantStatus(g)?.revoked) explained.add(g);
      }
  }

  const violate = (kind: string, op: string, detail: string) => {
    violations.push({ kind, step: stepNo, op, detail });
    log(`  !! ${kind} (${op}): ${detail}`);
  };
  const short = (t: string | null | undefined) => (t ? `${t.slice(0, 6)}…` : String(t));

  async function snapshot(conn: string): Promise<Snapshot> {
    const record = await observerStore.get(conn);
    if (!record)
      return {
        exists: false,
        status: null,
        lastError: null,
        version: 0,
        refreshToken: null,
        accessToken: null,
      };
    let refreshToken: string | null = null;
    let accessToken: string | null = null;
    try {
      const secrets = await observer.reveal(conn);
      refreshToken = secrets.tokens?.refreshToken ?? null;
      accessToken = secrets.tokens?.accessToken ?? null;
    } catch {
      // Sealed under another binding mid-change: the status and version still count.
    }
    return {
      exists: true,
      status: record.status,
      lastError: record.lastError?.code ?? null,
      version: record.version,
      refreshToken,
      accessToken,
    };
  }

  /** Token, revocation and API requests the simulator has received and not answered yet. */
  let heldAnswers = 0;
  const untapHeld = sim.tap((phase) => {
    heldAnswers += phase === 'request' ? 1 : -1;
  });

  // ---- setup: one authorized Cronofy connection and one client-credentials connection ----
  for (let slot = 0; slot < INSTANCES; slot++) instances.push(await openInstance(slot));
  world.ready((instances[0] as Instance).baton);
  await authorize(instances[0] as Instance, false);
  await (instances[0] as Instance).baton.connect({
    provider: 'checkissuing',
    connectionId: CC,
    params: { environment: 'sandbox' },
  });
  for (const c of [CONN, CC]) {
    const s = await snapshot(c);
    prev.set(c, s);
    maxVersion.set(c, s.version);
    if (s.refreshToken) seenStoredRefresh.add(s.refreshToken);
  }
  logIndex = sim.tokenLog().length;

  async function authorize(inst: Instance, replace: boolean, completer: Instance = inst): Promise<unknown> {
    const { url } = await world.begin(inst.baton, CONN, 'http://127.0.0.1:1/callback', replace);
    const u = new URL(url);
    u.searchParams.set('sim_decision', 'approve');
    u.searchParams.set('sim_account', 'alice');
    const res = await fetch(u, { redirect: 'manual' });
    const page = await res.text();
    const location = res.headers.get('location');
    // The authorization server showed the browser an error page instead of redirecting (an MCP
    // server that forgot the client Baton registered): no callback, nothing for Baton to complete.
    if (!location) throw new ConsentPageError(`authorize answered ${res.status}: ${page.slice(0, 120)}`);
    return completer.baton.completeAuthorization({ callbackUrl: location });
  }

  function crash(inst: Instance, why: string): void {
    if (inst.crashedAt !== null) return;
    inst.crashedAt = wall();
    crashes.set(inst.tag, inst.crashedAt);
    if (opts.engine === 'memory' && inst.baton.pendingCommits.length > 0) diedHolding.add(inst.tag);
    inst.store.crash();
    void inst.agent.destroy().catch(() => undefined);
    void inst.baton.close().catch(() => undefined);
    dead.push(inst);
    log(`  ✝ crash ${inst.tag} (${why})`);
    bump('crash');
  }

  async function replaceCrashed(): Promise<void> {
    for (let i = 0; i < instances.length; i++) {
      const inst = instances[i] as Instance;
      if (inst.crashedAt !== null) {
        const fresh = await openInstance(inst.slot);
        instances[i] = fresh;
        log(`  ↻ ${fresh.tag} replaces ${inst.tag}`);
      }
    }
  }

  const knownVersion = (conn: string) => maxVersion.get(conn) ?? 0;

  // ---- the operations ----
  type OpKind =
    | 'get'
    | 'fetch'
    | 'refresh'
    | 'revoke'
    | 'remove'
    | 'reauth'
    | 'info'
    | 'connect'
    | 'get-cc'
    | 'fetch-cc';
  const OPS: (readonly [OpKind, number])[] = [
    ['get', 30],
    ['fetch', 20],
    ['refresh', 10],
    ['info', 6],
    ['revoke', 3],
    ['remove', 1],
    ['reauth', 10],
    ['connect', 3],
    ['get-cc', 5],
    ['fetch-cc', 4],
  ];

  async function runOp(
    kind: OpKind,
    inst: Instance,
    other: Instance,
    delayMs: number,
    replace: boolean,
  ): Promise<OpRecord> {
    const id = `op${++opCounter}`;
    const conn = kind === 'connect' || kind === 'get-cc' || kind === 'fetch-cc' ? CC : CONN;
    if (delayMs > 0) await sleep(delayMs);
    const rec: OpRecord = {
      id,
      kind,
      conn,
      tag: inst.tag,
      startWall: wall(),
      startSeq: sim.seq(),
      startVirtual: sim.clock.now(),
      endWall: 0,
      endSeq: 0,
      ok: false,
      value: undefined,
      error: undefined,
      versionAtStart: knownVersion(conn),
    };
    const b = inst.baton;
    try {
      switch (kind) {
        case 'get':
        case 'get-cc':
          rec.value = await b.getAccessToken(conn);
          break;
        case 'fetch':
        case 'fetch-cc': {
          const res = await b.fetch(conn, conn === CC ? 'v1/account' : p.apiPath, {
            headers: { 'x-sim-op': id },
          });
          await res.text();
          rec.value = res.status;
          break;
        }
        case 'refresh':
          rec.value = await b.refresh(conn, { force: true });
          break;
        case 'info':
          rec.value = await b.get(conn);
          break;
        case 'revoke':
          rec.value = await b.revoke(conn);
          break;
        case 'remove':
          rec.value = await b.remove(conn);
          break;
        case 'reauth':
          rec.value = await authorize(inst, replace, other);
          break;
        case 'connect':
          rec.value = await b.connect({
            provider: 'checkissuing',
            connectionId: CC,
            params: { environment: 'sandbox' },
            ...(replace ? { replace: true } : {}),
          });
          break;
      }
      rec.ok = true;
    } catch (err) {
      rec.error = err;
    }
    rec.endWall = wall();
    rec.endSeq = sim.seq();
    return rec;
  }

  const describeOp = (r: OpRecord) => {
    const out = r.ok
      ? typeof r.value === 'string'
        ? `→ ${short(r.value)}`
        : r.value && typeof r.value === 'object' && 'version' in r.value
          ? `→ v${(r.value as { version: number }).version} ${(r.value as { status?: string }).status ?? ''}`
          : `→ ${JSON.stringify(r.value)}`
      : `✗ ${(r.error as { code?: string })?.code ?? (r.error as Error)?.name ?? r.error}`;
    return `${r.id} ${r.tag} ${r.kind}${r.conn === CC && !r.kind.endsWith('cc') && r.kind !== 'connect' ? ' cc' : ''} ${out}`;
  };

  type EventKind =
    | 'advance'
    | 'expire'
    | 'rotation'
    | 'provider-revoke'
    | 'token-5xx'
    | 'token-drop'
    | 'token-slow'
    | 'token-timeout'
    | 'store-fail'
    | 'crash'
    | 'pause'
    | 'token-lost-answer'
    | 'token-lost-answer-outage'
    | 'evict-clients';

  // ---- the loop ----
  try {
    for (stepNo = 1; stepNo <= opts.steps; stepNo++) {
      await replaceCrashed();
      const live = instances.filter((i) => i.crashedAt === null);
      const events: string[] = [];
      let windowPassesAfter = false;
      let refreshNow = false;
      const midStep: (() => void)[] = [];
      const untap: (() => void)[] = [];

      // Provider and store events at the start of the step (or armed for mid-step).
      const nEvents = rng.weighted([
        [0, 5],
        [1, 4],
        [2, 1],
      ] as const);
      for (let e = 0; e < nEvents; e++) {
        const ev = rng.weighted<EventKind>([
          ['advance', 6],
          ['expire', 3],
          ...(p.rotationSwitch ? ([['rotation', 3]] as const) : []),
          ['provider-revoke', 1],
          ['token-5xx', 3],
          ['token-drop', 1],
          ['token-slow', 1],
          ['token-timeout', 1],
          ['store-fail', 3],
          ['crash', 3],
          ['pause', 0.4],
          // The provider rotates and its answer comes after the client gave up.
          ...(p.lostAnswers
            ? ([
                ['token-lost-answer', 3],
                ['token-lost-answer-outage', 3],
              ] as const)
            : []),
          // MCP: the authorization server forgets its clients.
          ...(p.clientMode ? ([['evict-clients', 2]] as const) : []),
        ]);
        switch (ev) {
          case 'advance': {
            const ms = rng.pick([30, 45, 58, 59, 61, 65]) * 60_000;
            sim.clock.advance(ms);
            offsets.push({ wall: wall(), offset: sim.clock.now() - Date.now() });
            events.push(`advance ${ms / 60_000}min`);
            break;
          }
          case 'expire': {
            const which = rng.pick([vendor, 'checkissuing'] as const);
            const later = rng.chance(0.4) ? rng.int(1, 8) : 0;
            const fire = () => sim.expireAccessTokens({ vendor: which });
            if (later) midStep.push(() => void sleep(later).then(fire));
            else fire();
            events.push(`provider-expires ${which}${later ? ` @+${later}ms` : ''}`);
            break;
          }
          case 'rotation': {
            const mode = rng.pick(['never', 'always', 'sometimes'] as const);
            sim.setCronofyRotation(mode);
            events.push(`rotation=${mode}`);
            break;
          }
          case 'provider-revoke': {
            const later = rng.chance(0.5) ? rng.int(1, 8) : 0;
            const fire = () => {
              sim.revokeGrants({ vendor });
              explainRevocations();
            };
            if (later) midStep.push(() => void sleep(later).then(fire));
            else fire();
            events.push(`provider-revokes ${vendor}${later ? ` @+${later}ms` : ''}`);
            break;
          }
          case 'token-5xx': {
            const count = rng.int(1, 3);
            const kind = rng.pick(['status', 'html'] as const);
            sim.failNext({
              vendor,
              endpoint: 'token',
              kind,
              status: rng.pick([500, 502, 503]),
              count,
            });
            events.push(`token ${kind} 5xx ×${count}`);
            break;
          }
          case 'token-drop':
            sim.failNext({ vendor, endpoint: 'token', kind: 'drop', count: 1 });
            events.push('token drop ×1');
            break;
          case 'token-slow': {
            const delayMs = rng.int(50, 150);
            sim.failNext({ vendor, endpoint: 'token', kind: 'delay', delayMs, count: 1 });
            events.push(`token slow ${delayMs}ms`);
            break;
          }
          case 'token-timeout':
            sim.failNext({
              vendor,
              endpoint: 'token',
              kind: 'delay',
              delayMs: HTTP_TIMEOUT_MS + 200,
              count: 1,
            });
            events.push('token timeout');
            break;
          case 'token-lost-answer':
            sim.failNext({
              vendor,
              endpoint: 'token',
              kind: 'slow-answer',
              delayMs: HTTP_TIMEOUT_MS + 200,
              count: 1,
            });
            events.push('token answer lost');
            break;
          case 'token-lost-answer-outage': {
            // ... and the retries that follow find the provider unreachable: the refresh token
            // stays in doubt past the step, and often past the window (the next `advance`).
            const count = rng.int(2, 4);
            sim.failNext({
              vendor,
              endpoint: 'token',
              kind: 'slow-answer',
              delayMs: HTTP_TIMEOUT_MS + 200,
              count: 1,
            });
            sim.failNext({ vendor, endpoint: 'token', kind: 'drop', count });
            // Someone refreshes in this step (the lost answer is this step's), and most of the time
            // the window passes before anyone refreshes again.
            refreshNow = true;
            windowPassesAfter = rng.chance(0.75);
            events.push(
              `token answer lost, then drop ×${count}${windowPassesAfter ? ', then the window passes' : ''}`,
            );
            break;
          }
          case 'store-fail': {
            const inst = rng.pick(live);
            inst.store.failPuts = rng.int(1, 3);
            events.push(`${inst.tag} store refuses ${inst.store.failPuts} writes`);
            break;
          }
          case 'crash': {
            const inst = rng.pick(live);
            const point = rng.pick(['immediate', 'token-request', 'token-response', 'delay'] as const);
            if (point === 'delay') {
              const ms = rng.int(0, 6);
              midStep.push(() => void sleep(ms).then(() => crash(inst, `after ${ms}ms`)));
            } else if (point === 'token-request' || point === 'token-response') {
              const phase = point === 'token-request' ? 'request' : 'response';
              untap.push(
                sim.tap((p, info) => {
                  if (p === phase && info.endpoint === 'token' && info.tag === inst.tag)
                    crash(inst, `at ${point}`);
                }),
              );
            } else {
              midStep.push(() => crash(inst, 'mid-step'));
            }
            events.push(`crash ${inst.tag} @${point}`);
            break;
          }
          case 'pause':
            events.push('pause');
            break;
          case 'evict-clients': {
            const later = rng.chance(0.4) ? rng.int(1, 8) : 0;
            const fire = () => {
              const { clients, documents } = sim.mcp.evictClients();
              evictions.push({ seq: sim.seq(), registrations: sim.mcp.counters().registrations, clients });
              explainRevocations();
              log(`  (the authorization server forgot ${clients} client(s) and ${documents} document(s))`);
            };
            if (later) midStep.push(() => void sleep(later).then(fire));
            else fire();
            events.push(`evict-clients${later ? ` @+${later}ms` : ''}`);
            break;
          }
        }
      }
      if (events.includes('pause')) await sleep(VISIBILITY_MS[opts.engine] + 50);

      // The operations, started together with seeded delays.
      const nOps = rng.weighted([
        [1, 3],
        [2, 4],
        [3, 3],
        [4, 2],
      ] as const);
      const planned: { kind: OpKind; inst: Instance; other: Instance; delay: number; replace: boolean }[] =
        [];
      for (let i = 0; i < nOps; i++) {
        planned.push({
          kind: rng.weighted(OPS),
          inst: rng.pick(live),
          other: rng.pick(live),
          delay: rng.chance(0.5) ? 0 : rng.int(1, 4),
          replace: rng.chance(0.3),
        });
      }
      if (refreshNow)
        planned.push({
          kind: 'refresh',
          inst: rng.pick(live),
          other: rng.pick(live),
          delay: 0,
          replace: false,
        });
      log(
        `step ${stepNo}: ${planned.map((p) => `${p.inst.tag} ${p.kind}${p.delay ? `@+${p.delay}` : ''}`).join(', ')}${events.length ? ` | ${events.join(', ')}` : ''}`,
      );
      const started = planned.map((p) => runOp(p.kind, p.inst, p.other, p.delay, p.replace));
      for (const fire of midStep) fire();
      const all = Promise.all(started);
      const timer = sleep(STEP_LIMIT_MS).then(() => 'hang' as const);
      const outcome = await Promise.race([all, timer]);
      for (const u of untap) u();
      if (outcome === 'hang') {
        violate(
          'hang',
          planned.map((p) => p.kind).join('+'),
          `the step did not finish within ${STEP_LIMIT_MS} ms`,
        );
        break;
      }
      const records = outcome;
      for (const r of records) log(`  ${describeOp(r)}`);
      // Let mid-step timers that are still pending fire before the boundary, and the answers the
      // simulator still holds (a delay past the client's timeout) be written to its log.
      await sleep(10);
      for (const until = wall() + STEP_LIMIT_MS; heldAnswers > 0 && wall() < until; ) await sleep(10);
      const lostNow = sim
        .tokenLog()
        .slice(logIndex)
        .some((e) => e.fault === 'slow-answer');
      if (windowPassesAfter && reuse && lostNow) {
        sim.clock.advance(reuse.seconds * 1000 + 60_000);
        offsets.push({ wall: wall(), offset: sim.clock.now() - Date.now() });
        log(`  (the clock moves ${reuse.seconds / 60 + 1} min: the reuse window passes)`);
      }
      await check(records);
      if (violations.length > 0) break;
    }
  } finally {
    untapHeld();
    for (const inst of instances) await inst.baton.close().catch(() => undefined);
    for (const inst of [...instances, ...dead]) await inst.agent.close().catch(() => undefined);
    await observer.close().catch(() => undefined);
    for (const s of innerStores) await s.close().catch(() => undefined);
    if (shared) await shared.close();
    await sim.close();
    await world.close().catch(() => undefined);
    if (schema) {
      const pg = await import('pg');
      const client = new pg.default.Client({ connectionString: opts.postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await client.end();
    }
    cleanup();
  }
  return {
    engine: opts.engine,
    persona: p.name,
    reuse: opts.reuse,
    seed: opts.seed,
    steps: stepNo,
    violations,
    namedLosses: named,
    gaveUpInDoubt,
    evictions: evictions.length,
    reRegistrations: reRegistrationsSeen,
    recovered,
    trace,
    stats,
  };

  /** A held request (answered after the client's timeout) whose token a rotation replaced before it was carried out. */
  function lateReuse(e: TokenLogEntry): boolean {
    return (
      answerLost(e) &&
      sim
        .tokenLog()
        .some((x) => x.rotated && x.presentedRefreshToken === e.presentedRefreshToken && x.seq < e.seq)
    );
  }

  /** A refresh token a held request replaced after it was issued (the new one went to a client that gave up). */
  function replacedByLostAnswer(rt: string): boolean {
    const info = sim.tokenInfo(rt);
    if (info.kind === 'unknown') return false;
    return sim
      .tokenLog()
      .some(
        (x) =>
          answerLost(x) &&
          x.status === 200 &&
          x.rotated &&
          x.issuedRefreshToken !== rt &&
          x.seq > info.issuedSeq &&
          grantOf(x.issuedRefreshToken) === info.grantId,
      );
  }

  /** A token request the provider answered only after the client's timeout (a `delay` or `slow-answer` fault). */
  function answerLost(e: TokenLogEntry): boolean {
    return (
      (e.fault === 'delay' || e.fault === 'slow-answer') &&
      e.answeredWallMs - e.receivedWallMs >= HTTP_TIMEOUT_MS
    );
  }

  // ---- the invariants ----
  async function check(records: OpRecord[]): Promise<void> {
    const entries = sim.tokenLog().slice(logIndex);
    logIndex += entries.length;
    if (process.env['BATON_MODEL_DEBUG'])
      for (const e of entries)
        if (e.endpoint === 'token')
          log(
            `    [tok seq ${e.seq} ${e.tag} ${e.grantType} ${e.status}${e.fault ? ` ${e.fault}` : ''} rcv ${Math.round(e.receivedWallMs) % 100000} ans ${Math.round(e.answeredWallMs) % 100000} presented ${short(e.presentedRefreshToken)} issued ${short(e.issuedRefreshToken)} rot ${e.rotated} at ${new Date(e.at).toISOString()}]`,
          );
    if (process.env['BATON_MODEL_DEBUG'])
      for (const r of records) if (!r.ok) log(`    [err ${r.id} ${(r.error as Error)?.message}]`);
    const fullLog = sim.tokenLog();
    const liveRecords = records.filter((r) => !crashes.has(r.tag));
    const crashedDuring = (tag: string, afterWall: number) => {
      const at = crashes.get(tag);
      return at !== undefined && at >= afterWall;
    };

    // Untyped errors: every failure is a BatonError with a remediation.
    for (const r of liveRecords) {
      if (r.error instanceof ConsentPageError) {
        bump('consent-page-error');
        continue;
      }
      if (!r.ok && !(r.error instanceof BatonError)) {
        violate('untyped-error', `${r.id} ${r.kind}`, String((r.error as Error)?.stack ?? r.error));
      }
    }

    // Status changes the instances made (or learned) themselves.
    for (const r of liveRecords) {
      // Tokens issued before the op started belong to the state it ended; later ones may be a
      // concurrent new authorization's.
      if (r.ok && r.kind === 'revoke')
        statusEvents.push({ conn: r.conn, status: 'revoked', seq: r.startSeq, wall: r.endWall, tag: r.tag });
      if (r.ok && r.kind === 'remove')
        statusEvents.push({ conn: r.conn, status: 'removed', seq: r.startSeq, wall: r.endWall, tag: r.tag });
      if (!r.ok && r.error instanceof ReauthorizationRequired) {
        // A new authorization running beside it (its code exchanged before this op started, its
        // connection written after this op read the old state) issued tokens of the new state:
        // only tokens issued before that authorization began belong to the state this op ended.
        const renewing = records.filter(
          (o) =>
            o.conn === r.conn &&
            (o.kind === 'reauth' || o.kind === 'connect') &&
            o.ok &&
            o.startWall <= r.endWall &&
            o.endWall >= r.startWall,
        );
        statusEvents.push({
          conn: r.conn,
          status: 'needs_reauth',
          seq: Math.min(r.startSeq, ...renewing.map((o) => o.startSeq)),
          wall: r.endWall,
          tag: r.tag,
        });
      }
    }

    /** Why `token` must not be used by `tag` in an op that started at `startWall`, if it must not. */
    const deadReason = (
      token: string,
      conn: string,
      tag: string,
      startWall: number,
      startVirtual: number,
    ): string | null => {
      const info = sim.tokenInfo(token);
      if (info.kind !== 'access') return info.kind === 'unknown' ? 'a token the provider never issued' : null;
      // (A second of slack: Baton dates the expiry from when it read the answer, a little later.)
      if (info.naturalExpiresAt + 1_000 <= startVirtual)
        return `expired at ${new Date(info.naturalExpiresAt).toISOString()} before the call started`;
      const refused = fullLog.find(
        (e) =>
          e.endpoint === 'api' &&
          e.accessToken === token &&
          e.accepted === false &&
          e.tag === tag &&
          // The instance knows of the 401 once it has read the answer, a moment after the
          // simulator wrote it: a call started within that moment cannot have known.
          e.answeredWallMs + ANSWER_READ_SLACK_MS < startWall,
      );
      if (refused)
        return `the provider refused it (401, seq ${refused.seq}) to this instance before the call started`;
      const bound = VISIBILITY_MS[opts.engine];
      const ev = statusEvents.find(
        (s) =>
          s.conn === conn &&
          info.issuedSeq < s.seq &&
          (s.tag === tag ? s.wall < startWall : s.wall + bound < startWall),
      );
      if (ev)
        return `its connection became ${ev.status} (${ev.tag ? `by ${ev.tag}` : 'seen in the store'}) ${Math.round(startWall - ev.wall)} ms before the call started`;
      return null;
    };

    // 1. No dead token handed out.
    for (const r of liveRecords) {
      if (!r.ok || typeof r.value !== 'string') continue;
      const why = deadReason(r.value, r.conn, r.tag, r.startWall, r.startVirtual);
      if (why) violate('dead-token-handed-out', `${r.id} ${r.tag} ${r.kind}`, `${short(r.value)}: ${why}`);
    }
    // ... nor sent to the API.
    for (const e of entries) {
      if (e.endpoint !== 'api' || !e.accessToken || !e.op || !e.tag || crashes.has(e.tag)) continue;
      const r = records.find((x) => x.id === e.op);
      if (!r) continue;
      const why = deadReason(e.accessToken, r.conn, r.tag, r.startWall, r.startVirtual);
      if (why) violate('dead-token-sent', `${r.id} ${r.tag} ${r.kind}`, `${short(e.accessToken)}: ${why}`);
      const again = entries.find(
        (x) => x.op === e.op && x.seq > e.seq && x.accessToken === e.accessToken && e.accepted === false,
      );
      if (again)
        violate(
          'refused-token-resent',
          `${r.id} ${r.tag} ${r.kind}`,
          `${short(e.accessToken)} was sent again after its 401`,
        );
    }

    // 2. At most one token-endpoint call per rotation: a rotated refresh token is never spent again.
    for (const e of entries) {
      if (e.endpoint !== 'token' || e.grantType !== 'refresh_token' || !e.presentedRefreshToken) continue;
      if (e.tag && crashedDuring(e.tag, e.receivedWallMs) && e.status === 0) continue;
      // A request the provider held past the client's timeout and carried out after the client's
      // retry had rotated the token (or one whose token a held request replaced unseen): the
      // provider refuses it and, where reuse revokes the grant, revokes it. Baton could not
      // know; the retry's new pair is lost with the grant. Named, as an unanswered loss.
      // (A request dropped or refused by a fault never reached the provider: no reuse.)
      const handled = e.fault === null || e.fault === 'delay' || e.fault === 'slow-answer';
      // (invalid_client, 401, is about the client, not the token)
      if (
        handled &&
        e.status !== 200 &&
        e.status !== 401 &&
        (lateReuse(e) || replacedByLostAnswer(e.presentedRefreshToken))
      ) {
        if (!reportedLost.has(`excused:${e.seq}`)) {
          reportedLost.add(`excused:${e.seq}`);
          excusedReuses++;
          const g = grantOf(e.presentedRefreshToken);
          if (g) explained.add(g);
          log(
            `  (named loss: unanswered — seq ${e.seq} by ${e.tag} met a token replaced while a request was held)`,
          );
        }
        continue;
      }
      // Ordered by arrival, not by answer: a request the provider held (a delay fault) and
      // answered after a retry rotated the token was sent before that rotation was asked for.
      const rotation = fullLog.find(
        (x) =>
          x.rotated &&
          x.presentedRefreshToken === e.presentedRefreshToken &&
          x.seq !== e.seq &&
          x.receivedWallMs < e.receivedWallMs,
      );
      if (!rotation) continue;
      if (reuse) {
        // Counted from the replacement (the provider handles a request as it arrives).
        const since = virtualAt(e.receivedWallMs) - virtualAt(rotation.receivedWallMs);
        if (since > reuse.seconds * 1000) {
          violate(
            'reuse-outside-window',
            `${e.tag ?? '?'} token call seq ${e.seq}`,
            `refresh token ${short(e.presentedRefreshToken)}, replaced at seq ${rotation.seq}, was presented again ${Math.round(since / 1000)} s later, outside the provider's ${reuse.seconds} s window (answer ${e.status})`,
          );
          continue;
        }
        // (A `delay` fault's request is carried out only when answered: it replaced nothing yet.)
        const replacedFirst = rotation.fault === 'slow-answer' || rotation.seq < e.seq;
        if (e.status === 200 && replacedFirst && !reportedLost.has(`recovered:${e.seq}`)) {
          reportedLost.add(`recovered:${e.seq}`);
          recovered++;
          log(`  (recovered inside the reuse window: seq ${e.seq} by ${e.tag})`);
        }
      }
      const cls = classifyLoss(rotation);
      if (cls === 'crash-window' || cls === 'unanswered') {
        // The lost answer's retry: where the provider revokes the grant for it, that revocation is named too.
        if (!reportedLost.has(`excused:${e.seq}`)) {
          reportedLost.add(`excused:${e.seq}`);
          excusedReuses++;
          const g = grantOf(e.presentedRefreshToken);
          if (g) explained.add(g);
        }
        if (!reportedLost.has(rotation.issuedRefreshToken as string)) {
          reportedLost.add(rotation.issuedRefreshToken as string);
          named[cls === 'crash-window' ? 'crashWindow' : 'unanswered']++;
          log(`  (named loss: ${cls} — rotation seq ${rotation.seq} to ${rotation.tag})`);
        }
        continue;
      }
      violate(
        'rotated-refresh-token-spent-again',
        `${e.tag ?? '?'} token call seq ${e.seq}`,
        `refresh token ${short(e.presentedRefreshToken)} had been rotated at seq ${rotation.seq} (answered to ${rotation.tag} in ${Math.round(rotation.answeredWallMs - rotation.receivedWallMs)} ms${rotation.fault ? `, fault ${rotation.fault}` : ''}), yet was presented again by ${e.tag} (answer ${e.status})`,
      );
    }

    // ... and no more refresh calls in a step than its operations can justify: one for the
    // token falling due, one per forced refresh, one per fetch (a 401), one per crash (a survivor
    // redoes the dead instance's refresh).
    {
      // Counted by arrival: a request an earlier step sent and the provider held past the
      // client's timeout (a delay fault) is logged when answered, in this step, but belongs to
      // the step that sent it (whose retry is the named "unanswered" loss).
      const stepStart = Math.min(...records.map((r) => r.startWall));
      const granted = entries.filter(
        (e) =>
          e.endpoint === 'token' &&
          e.grantType === 'refresh_token' &&
          e.status === 200 &&
          e.receivedWallMs >= stepStart - 20 &&
          // An answer that came after the client's timeout was no grant to it.
          !answerLost(e),
      ).length;
      const justified =
        1 +
        records.filter((r) => r.conn === CONN && (r.kind === 'refresh' || r.kind === 'fetch')).length +
        records.filter((r) => crashes.has(r.tag)).length +
        [...crashes.values()].filter((at) => at >= (records[0]?.startWall ?? 0) - 20).length;
      if (granted > justified)
        violate(
          'extra-refresh-calls',
          records.map((r) => `${r.id} ${r.kind}`).join(', '),
          `${granted} refresh_token grants in one step; its operations justify at most ${justified}`,
        );
    }

    // 4. (forced refresh) An explicit refresh that reports success was a refresh.
    for (const r of liveRecords) {
      if (r.kind !== 'refresh' || !r.ok) continue;
      const granted = fullLog.some(
        (e) =>
          e.endpoint === 'token' &&
          e.vendor === vendorOf(r.conn) &&
          e.status === 200 &&
          e.issuedAccessToken !== null &&
          // answered while it ran, or just before it asked (a refresh it joined was committing)
          e.answeredWallMs >= r.startWall - JOIN_SLACK_MS &&
          e.seq <= r.endSeq,
      );
      if (!granted) {
        const answers = fullLog
          .filter(
            (e) =>
              e.endpoint === 'token' &&
              e.tag === r.tag &&
              e.receivedWallMs >= r.startWall &&
              e.seq <= r.endSeq,
          )
          .map((e) => `${e.status}${e.fault ? ` (${e.fault})` : ''}`);
        violate(
          'forced-refresh-false-success',
          `${r.id} ${r.tag} refresh`,
          `refresh({force:true}) resolved although no token was granted while it ran (this instance's token calls meanwhile: ${answers.join(', ') || 'none'})`,
        );
      }
    }

    // Versions never move back, as any op sees them.
    const removedOrReauthed = (conn: string) =>
      records.some(
        (x) => x.conn === conn && (x.kind === 'remove' || x.kind === 'reauth' || x.kind === 'connect'),
      );
    for (const r of liveRecords) {
      if (!r.ok || !r.value || typeof r.value !== 'object' || !('version' in r.value)) continue;
      const v = (r.value as { version: number }).version;
      if (v < r.versionAtStart && !removedOrReauthed(r.conn))
        violate(
          'version-moved-back',
          `${r.id} ${r.tag} ${r.kind}`,
          `saw version ${v} after version ${r.versionAtStart} was known`,
        );
      if (v > knownVersion(r.conn)) maxVersion.set(r.conn, v);
    }

    // Store-level checks at the step boundary.
    const next = new Map<string, Snapshot>();
    for (const conn of [CONN, CC]) {
      const before = prev.get(conn) as Snapshot;
      const now = await snapshot(conn);
      next.set(conn, now);
      const stepRecs = records.filter((r) => r.conn === conn);
      const renewed = stepRecs.some((r) => r.kind === 'reauth' || r.kind === 'connect');
      const removed = stepRecs.some((r) => r.kind === 'remove');

      // revoked / needs_reauth / removed are left only by a new authorization.
      if (before.status !== 'active' && now.exists && now.status === 'active' && !renewed)
        violate(
          'resurrected',
          conn,
          `${before.exists ? before.status : 'removed'} (v${before.version}) became active (v${now.version}) without a new authorization`,
        );
      // A revoke that completed in this step, with no new authorization since, leaves the connection revoked.
      const revoked = liveRecords.filter((r) => r.conn === conn && r.kind === 'revoke' && r.ok);
      if (revoked.length > 0 && !renewed && !removed && now.exists && now.status === 'active')
        violate(
          'revoke-lost',
          `${revoked[0]?.id} ${revoked[0]?.tag} revoke`,
          `revoke() resolved but the connection is active again (v${now.version})`,
        );
      // After revoke completes, the provider's grant is dead — where the provider has a
      // revocation endpoint (Atlassian has none: `revokedAtProvider: false`, the grant lives on).
      const atProvider = revoked.some(
        (r) => (r.value as { revokedAtProvider?: boolean } | undefined)?.revokedAtProvider !== false,
      );
      if (revoked.length > 0 && atProvider && !renewed && before.status === 'active' && before.refreshToken) {
        const info = sim.tokenInfo(before.refreshToken);
        const grant = info.kind !== 'unknown' ? sim.grantStatus(info.grantId) : null;
        // The refresh token the connection held had been replaced in a named loss (its answer
        // lost, or its process crashed): the grant lives on under a token nobody holds, and a
        // provider that takes only its current refresh token at revocation (Xero) ignores it.
        const lostBefore =
          info.status === 'rotated' &&
          ((rotation) =>
            rotation !== undefined && ['crash-window', 'unanswered'].includes(classifyLoss(rotation)))(
            fullLog.find((x) => x.rotated && x.presentedRefreshToken === before.refreshToken),
          );
        // Or a request the provider held past the client's timeout spent it afterwards: the new
        // token went to a client that had given up.
        const spentLate = info.status === 'rotated' && replacedByLostAnswer(before.refreshToken);
        if (grant && !grant.revoked && (lostBefore || spentLate)) {
          bump('revoked-after-named-loss');
          log(`  (revoke after a named loss: grant ${info.grantId} lives on under the lost token)`);
        } else if (grant && !grant.revoked)
          violate(
            'grant-alive-after-revoke',
            `${revoked[0]?.id} ${revoked[0]?.tag} revoke`,
            `the provider's grant ${info.kind !== 'unknown' ? info.grantId : ''} is still live`,
          );
      }
      // Versions never move back in the store.
      if (now.exists && before.exists && now.version < before.version && !(removed && renewed))
        violate('version-moved-back', conn, `store went from v${before.version} to v${now.version}`);
      if (now.version > knownVersion(conn)) maxVersion.set(conn, now.version);
      if (removed || (!now.exists && before.exists)) maxVersion.set(conn, now.version);

      // Status changes seen in the store.
      const status = now.exists ? now.status : 'removed';
      const prevStatus = before.exists ? before.status : 'removed';
      if (status !== 'active' && status !== prevStatus)
        statusEvents.push({
          conn,
          status: status as StatusEvent['status'],
          seq: sim.seq(),
          wall: wall(),
          tag: null,
        });

      // 3. A rotated refresh token is never lost: the stored one is not one the provider rotated away.
      if (now.refreshToken) seenStoredRefresh.add(now.refreshToken);

      // 7. needs_reauth only when the grant is really gone: the refresh token the connection holds
      // is one the provider no longer honours (revoked, expired, replaced and outside its window),
      // or Baton could not know it still was (its answer in doubt, invariant 13).
      if (conn === CONN && now.exists && now.status === 'needs_reauth' && before.status !== 'needs_reauth') {
        const held = now.refreshToken ?? before.refreshToken;
        const info = held ? sim.tokenInfo(held) : null;
        if (held && info?.kind === 'refresh' && info.status === 'live') {
          const inDoubt =
            now.lastError === 'refresh_lost' &&
            (crashes.size > 0 ||
              fullLog.some((x) => x.presentedRefreshToken === held && (x.fault !== null || x.status === 0)));
          if (inDoubt) {
            gaveUpInDoubt++;
            log(`  (gave up in doubt: ${short(held)} is live at the provider; its answer was in doubt)`);
          } else
            violate(
              'needs-reauth-with-live-grant',
              conn,
              `the connection became needs_reauth (v${now.version}, ${now.lastError}) while the provider still honours its refresh token ${short(held)}`,
            );
        } else if (
          held &&
          info?.kind === 'refresh' &&
          info.status === 'rotated' &&
          reuse &&
          !sim.grantStatus(info.grantId)?.revoked
        ) {
          const rotation = fullLog.find((x) => x.rotated && x.presentedRefreshToken === held);
          const left = rotation
            ? virtualAt(rotation.receivedWallMs) + reuse.seconds * 1000 - sim.clock.now()
            : 0;
          if (left > HTTP_TIMEOUT_MS + 5_000)
            violate(
              'needs-reauth-inside-window',
              conn,
              `the connection became needs_reauth (v${now.version}, ${now.lastError}) with ${Math.round(left / 1000)} s of the provider's reuse window left for ${short(held)}`,
            );
        }
      }

      // 8. A rotated refresh token is stored before its access token is used: every token a live
      // instance handed out or sent in this step that came with a new refresh token had that
      // refresh token committed (seen in the store, presented later, or held for the commit).
      if (conn === CONN && now.exists && now.status === 'active' && !renewed && !removed) {
        const used = new Set<string>();
        for (const r of liveRecords)
          if (r.conn === CONN && r.ok && typeof r.value === 'string' && r.kind === 'get') used.add(r.value);
        for (const e of entries)
          if (e.endpoint === 'api' && e.vendor === vendor && e.accessToken && e.tag && !crashes.has(e.tag))
            used.add(e.accessToken);
        const holdingAny = instances.some(
          (i) => i.crashedAt === null && i.baton.pendingCommits.includes(conn),
        );
        for (const t of used) {
          const issuer = fullLog.find(
            (x) => x.endpoint === 'token' && x.status === 200 && x.issuedAccessToken === t,
          );
          const rt = issuer?.rotated ? issuer.issuedRefreshToken : null;
          if (!rt || holdingAny || seenStoredRefresh.has(rt)) continue;
          if (fullLog.some((x) => x.presentedRefreshToken === rt)) continue;
          if (grantOf(now.refreshToken) !== grantOf(rt)) continue;
          violate(
            'used-before-stored',
            conn,
            `access token ${short(t)} was used, but the refresh token rotated with it (seq ${issuer?.seq}) was never stored`,
          );
        }
      }
      const holding = instances.some((i) => i.crashedAt === null && i.baton.pendingCommits.includes(conn));
      if (now.exists && now.status === 'active' && now.refreshToken && !holding) {
        const info = sim.tokenInfo(now.refreshToken);
        if (info.status === 'rotated' && !reportedLost.has(`stored:${now.refreshToken}`)) {
          reportedLost.add(`stored:${now.refreshToken}`);
          // Replaced by a rotation that spent it, or — within a reuse window — by a late request
          // that spent the token before it (the provider carried out a request the client had
          // abandoned, after the client's retry had already stored this one).
          const issuer = fullLog.find((x) => x.issuedRefreshToken === now.refreshToken && x.status === 200);
          const rotation =
            fullLog.find((x) => x.rotated && x.presentedRefreshToken === now.refreshToken) ??
            fullLog.find(
              (x) =>
                issuer !== undefined &&
                x.seq !== issuer.seq &&
                x.rotated &&
                answerLost(x) &&
                x.presentedRefreshToken === issuer.presentedRefreshToken,
            );
          const cls = rotation ? classifyLoss(rotation) : 'lost';
          if (cls === 'crash-window' || cls === 'unanswered') {
            if (rotation && !reportedLost.has(rotation.issuedRefreshToken as string)) {
              reportedLost.add(rotation.issuedRefreshToken as string);
              named[cls === 'crash-window' ? 'crashWindow' : 'unanswered']++;
              log(`  (named loss: ${cls} — rotation seq ${rotation.seq} to ${rotation.tag})`);
            }
          } else {
            violate(
              'rotated-refresh-token-lost',
              conn,
              `the store (v${now.version}, active) holds refresh token ${short(now.refreshToken)}, which the provider rotated at seq ${rotation?.seq} (answered to ${rotation?.tag}); the newer one was never stored`,
            );
          }
        }
      }
    }
    prev = next;

    // 5. The provider's own report of refresh-token reuse. Every grant of the connection's
    // provider the simulator revoked was revoked for a reason the model gave: its revoke control,
    // an eviction, Baton's RFC 7009 revocation, or the retry of a named lost answer — never
    // because Baton presented a replaced refresh token outside the window (Atlassian after its
    // leeway, the MCP persona at once).
    for (const e of entries) {
      if (e.vendor !== vendor) continue;
      if (e.endpoint === 'revoke') {
        const g = grantOf(e.revokedToken);
        if (g) explained.add(g);
      }
      if (e.endpoint === 'token' && e.status === 200) {
        const g = grantOf(e.issuedRefreshToken ?? e.issuedAccessToken);
        if (g) grantsSeen.add(g);
      }
    }
    if (p.reuseRevokesGrant) {
      for (const g of grantsSeen) {
        if (explained.has(g) || reportedRevoked.has(g) || !sim.grantStatus(g)?.revoked) continue;
        reportedRevoked.add(g);
        const reused = fullLog.find(
          (x) =>
            x.endpoint === 'token' &&
            x.presentedRefreshToken !== null &&
            grantOf(x.presentedRefreshToken) === g &&
            sim.tokenInfo(x.presentedRefreshToken).status !== 'live' &&
            fullLog.some(
              (y) => y.rotated && y.presentedRefreshToken === x.presentedRefreshToken && y.seq < x.seq,
            ),
        );
        violate(
          'grant-revoked-by-reuse',
          reused ? `${reused.tag ?? '?'} token call seq ${reused.seq}` : 'provider',
          reused
            ? `the provider revoked grant ${g} when ${reused.tag} presented the replaced refresh token ${short(reused.presentedRefreshToken)} again (answer ${reused.status})`
            : `the provider revoked grant ${g} and the model gave it no reason`,
        );
      }
    }
    if (p.clientMode) {
      const { reuseDetected, registrations } = sim.mcp.counters();
      if (reuseDetected > excusedReuses && !reportedLost.has(`reuse-detected:${reuseDetected}`)) {
        reportedLost.add(`reuse-detected:${reuseDetected}`);
        violate(
          'reuse-detected',
          'provider',
          `the MCP authorization server detected ${reuseDetected} reuse(s) of a rotated refresh token (each revoked its grant); the model names ${excusedReuses}`,
        );
      }
      // 6. Re-registration after eviction: a refresh refused for the forgotten client
      // (invalid_client) is followed by a new registration before the call gives up.
      for (const ev of evictions) {
        if (ev.clients === 0 || reportedLost.has(`evicted:${ev.seq}`)) continue;
        const refused = entries.find(
          (e) =>
            e.vendor === vendor &&
            e.endpoint === 'token' &&
            e.grantType === 'refresh_token' &&
            e.seq > ev.seq &&
            (e.status === 400 || e.status === 401) &&
            // (an answer held past the client's timeout never reached it)
            e.fault === null &&
            e.tag !== null &&
            !crashes.has(e.tag),
        );
        if (!refused) continue;
        reportedLost.add(`evicted:${ev.seq}`);
        if (registrations > ev.registrations) reRegistrationsSeen++;
        else
          violate(
            'no-reregistration',
            `${refused.tag} token call seq ${refused.seq}`,
            `the authorization server forgot the client at seq ${ev.seq}; ${refused.tag}'s refresh was refused (${refused.status}) and no client was registered since`,
          );
      }
      // ... and a client metadata document is used where the server takes one: no registration.
      if (p.clientMode === 'cimd' && registrations > 0 && !reportedLost.has('cimd-registered')) {
        reportedLost.add('cimd-registered');
        violate(
          'registered-despite-document',
          'provider',
          `Baton registered ${registrations} client(s) although the server takes its client metadata document`,
        );
      }
    }

    /** Whether a rotation's new refresh token was lost in a window Baton cannot close. */
    function classifyLoss(rotation: TokenLogEntry): 'crash-window' | 'unanswered' | 'stored' | 'lost' {
      if (rotation.issuedRefreshToken && seenStoredRefresh.has(rotation.issuedRefreshToken)) return 'stored';
      if (answerLost(rotation)) return 'unanswered';
      // The instance died before it could store the answer: crashed after its request left
      // (even if the provider saw the request only after the crash), or within a moment of the
      // answer — a commit then takes a few milliseconds more.
      const crashedAt = rotation.tag ? crashes.get(rotation.tag) : undefined;
      if (crashedAt !== undefined && crashedAt <= rotation.answeredWallMs + ANSWER_READ_SLACK_MS)
        return 'crash-window';
      if (rotation.tag && diedHolding.has(rotation.tag)) return 'crash-window';
      return 'lost';
    }
  }
}
