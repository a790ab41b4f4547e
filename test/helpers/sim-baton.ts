import { fetch } from 'undici';
import { Baton, type BatonOptions } from '../../src/core/baton.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';
import { randomKey, tempDir } from './env.js';

export const CALLBACK = 'http://127.0.0.1:1/callback';

export interface World {
  sim: Simulator;
  baton: Baton;
  profile: ReturnType<typeof simulatorProfile>;
  dbPath: string;
  secretKey: string;
  /** Opens another Baton on the same store and key (another "process" in-process). */
  open(extra?: Partial<BatonOptions>): Promise<Baton>;
  close(): Promise<void>;
}

/** A simulator and a Baton on a fresh SQLite file whose clock is the simulator's virtual clock. */
export async function world(
  options: { sim?: SimulatorOptions; baton?: Partial<BatonOptions> } = {},
): Promise<World> {
  const sim = await startSimulator({ consent: 'auto', ...options.sim });
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery, CALLBACK);
  const { dir, cleanup } = tempDir();
  const dbPath = `${dir}/baton.db`;
  const secretKey = randomKey();
  const opened: Baton[] = [];
  const open = async (extra: Partial<BatonOptions> = {}): Promise<Baton> => {
    const b = await Baton.open({
      store: `sqlite:${dbPath}`,
      secretKey,
      providers: profile.providers,
      clients: profile.clients,
      clock: { now: () => sim.clock.now() },
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      // The data dir (rescue journals of non-file stores) stays inside the test's temp dir.
      env: { BATON_HOME: dir },
      ...options.baton,
      ...extra,
    });
    opened.push(b);
    return b;
  };
  const baton = await open();
  return {
    sim,
    baton,
    profile,
    dbPath,
    secretKey,
    open,
    async close() {
      for (const b of opened) await b.close();
      await sim.close();
      cleanup();
    },
  };
}

/** Runs the consent step the way a browser would and completes the authorization. */
export async function authorize(
  w: World,
  input: {
    provider: string;
    connectionId: string;
    params?: Record<string, string>;
    scopes?: string[];
    account?: string;
  },
  baton: Baton = w.baton,
) {
  const { url } = await baton.beginAuthorization({
    provider: input.provider,
    connectionId: input.connectionId,
    ...(input.params ? { params: input.params } : {}),
    ...(input.scopes ? { scopes: input.scopes } : {}),
    redirectUri: CALLBACK,
  });
  const location = await consent(url, 'approve', input.account);
  return baton.completeAuthorization({ callbackUrl: location });
}

/** GETs an authorization URL with the simulator's decision shortcut and returns the redirect target. */
export async function consent(url: string, decision: 'approve' | 'deny', account?: string): Promise<string> {
  const u = new URL(url);
  u.searchParams.set('sim_decision', decision);
  if (account) u.searchParams.set('sim_account', account);
  const res = await fetch(u, { redirect: 'manual' });
  await res.text();
  const location = res.headers.get('location');
  if (!location) throw new Error(`authorize answered ${res.status} without a redirect`);
  return location;
}

export function apiKeyFor(w: World, provider: string, params: Record<string, string>) {
  const key = w.profile.apiKeys[provider]?.find((k) =>
    Object.entries(params).every(([p, v]) => k.params[p] === v),
  );
  if (!key) throw new Error(`simulator has no API key for ${provider} ${JSON.stringify(params)}`);
  return key;
}

export function tokenCalls(
  w: World,
  vendor: 'checkfront' | 'checkbook' | 'checkissuing' | 'cronofy',
  grant?: string,
): number {
  const c = w.sim.counters().token[vendor];
  return grant ? (c.byGrant[grant] ?? 0) : c.total;
}
