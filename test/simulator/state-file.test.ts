import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../src/simulator-client/profile.js';

/** Stable simulator credentials (README, "baton simulate": --seed and --state). */
const dir = mkdtempSync(join(tmpdir(), 'baton-sim-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const credentials = (sim: Simulator) =>
  Object.fromEntries(
    Object.entries(sim.discovery().vendors).map(([v, d]) => [v, { clients: d.clients, apiKeys: d.apiKeys }]),
  );

async function open(sim: Simulator, store: string, key: string): Promise<Baton> {
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery);
  return Baton.open({
    store,
    secretKey: key,
    providers: profile.providers,
    clients: profile.clients,
    clock: { now: () => sim.clock.now() },
    env: {},
  });
}

describe('simulator credentials across starts', () => {
  it('the same seed gives the same credentials; another seed or none, new ones', async () => {
    const a = await startSimulator({ seed: 'one' });
    const b = await startSimulator({ seed: 'one' });
    const c = await startSimulator({ seed: 'two' });
    const d = await startSimulator();
    try {
      expect(credentials(b)).toEqual(credentials(a));
      expect(credentials(c)).not.toEqual(credentials(a));
      expect(credentials(d)).not.toEqual(credentials(a));
      // Every client and key differs from every other: a seed does not repeat itself.
      const all = Object.values(credentials(a)).flatMap((v) => [
        ...v.clients.flatMap((x) => [x.clientId, x.clientSecret]),
        ...v.apiKeys.flatMap((x) => [x.apiKey, x.apiSecret]),
      ]);
      expect(new Set(all).size).toBe(all.length);
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), d.close()]);
    }
  });

  it('a state file keeps credentials, grants and tokens: a stored connection refreshes after a restart', async () => {
    const file = join(dir, 'sim.json');
    const store = `sqlite:${join(dir, 'baton.db')}`;
    const key = randomBytes(32).toString('base64');
    const first = await startSimulator({ stateFile: file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    let baton = await open(first, store, key);
    const { url } = await baton.beginAuthorization({
      provider: 'cronofy',
      connectionId: 'alice',
      params: { dataCenter: 'us' },
    });
    const consent = await fetch(`${url}&sim_decision=approve`, { redirect: 'manual' });
    await consent.text();
    await baton.completeAuthorization({ callbackUrl: consent.headers.get('location') as string });
    const before = await baton.reveal('alice');
    await baton.close();
    const creds = credentials(first);
    await first.close();

    const second = await startSimulator({ stateFile: file });
    try {
      expect(credentials(second)).toEqual(creds);
      baton = await open(second, store, key);
      const res = await baton.fetch('alice', 'v1/userinfo');
      await res.text();
      expect(res.status).toBe(200);
      second.clock.advance(3601_000);
      const refreshed = await baton.getAccessToken('alice');
      expect(refreshed).not.toBe(before.tokens?.accessToken);
      expect(second.counters().token.cronofy.byGrant['refresh_token']).toBe(1);
      await baton.close();
    } finally {
      await second.close();
    }
  });

  it("a state file keeps the MCP persona's registered clients: the stored client still refreshes after a restart", async () => {
    const file = join(dir, 'sim-mcp.json');
    const store = `sqlite:${join(dir, 'baton-mcp.db')}`;
    const key = randomBytes(32).toString('base64');
    const first = await startSimulator({ stateFile: file, consent: 'auto' });
    // The same origin after the restart: the resource and issuer are URLs on it.
    const port = Number(new URL(first.url).port);
    const mcpBaton = (sim: Simulator) =>
      Baton.open({
        store,
        secretKey: key,
        clock: { now: () => sim.clock.now() },
        env: {},
        mcp: { redirectUri: 'http://127.0.0.1:1/callback', clientName: 'state file test' },
      });
    let baton = await mcpBaton(first);
    const begun = await baton.beginAuthorization({ mcp: first.mcp.resource, connectionId: 'tools' });
    const approved = await fetch(`${begun.url}&sim_decision=approve`, { redirect: 'manual' });
    await approved.text();
    await baton.completeAuthorization({ callbackUrl: approved.headers.get('location') as string });
    expect(first.mcp.counters().registrations).toBe(1);
    await baton.close();
    await first.close();
    expect(JSON.stringify(JSON.parse(readFileSync(file, 'utf8')).state.personas.mcp.registered)).toContain(
      'state file test',
    );

    const second = await startSimulator({ stateFile: file, port });
    try {
      baton = await mcpBaton(second);
      second.clock.advance(3601_000);
      // The refresh authenticates the client registered before the restart: no invalid_client,
      // no new registration.
      expect(await baton.getAccessToken('tools')).toBeTruthy();
      expect((await baton.get('tools')).status).toBe('active');
      expect(second.mcp.counters().registrations).toBe(0);
      await baton.close();
    } finally {
      await second.close();
    }
  });

  it('a state file that is not JSON, or has no seed, is refused and left as it was', async () => {
    for (const text of ['{not json', '{"state":{}}']) {
      const file = join(dir, `bad-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(file, text);
      await expect(startSimulator({ stateFile: file })).rejects.toThrow(
        new RegExp(
          `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (is not JSON|holds no seed).*move it away`,
        ),
      );
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
    expect(existsSync(join(dir, 'sim.json'))).toBe(true);
  });
});
