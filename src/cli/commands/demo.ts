import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fetch } from 'undici';
import { Baton } from '../../core/baton.js';
import { ReauthorizationRequired } from '../../errors.js';
import { startSimulator } from '../../simulator/index.js';
import { type SimulatorDiscovery, simulatorProfile } from '../../simulator-client/profile.js';
import { humanDuration } from '../format.js';
import type { Cli } from '../runtime.js';
import { tidy } from '../runtime.js';

interface Step {
  step: string;
  result: string;
  proof: Record<string, unknown>;
}

const CALLBACK = 'http://127.0.0.1:9/callback';

/** The consent a person would give in the browser, through the simulator's decision shortcut. */
async function consent(url: string, account: string): Promise<string> {
  const u = new URL(url);
  u.searchParams.set('sim_decision', 'approve');
  u.searchParams.set('sim_account', account);
  const res = await fetch(u, { redirect: 'manual' });
  await res.text();
  const location = res.headers.get('location');
  if (!location) throw new Error(`the simulator's consent step answered ${res.status} without a redirect`);
  return location;
}

export async function demo(cli: Cli, opts: { db?: string; callers: string }): Promise<void> {
  const steps: Step[] = [];
  const p = cli.out;
  const say = (s: Step) => {
    steps.push(s);
    if (cli.json) return;
    cli.print(`\n${p.bold(p.cyan(`${steps.length}. ${s.step}`))}\n   ${s.result}`);
    for (const [k, v] of Object.entries(s.proof))
      cli.print(`   ${p.dim(`${k}:`)} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  };
  const dir = opts.db ? undefined : mkdtempSync(join(tmpdir(), 'baton-demo-'));
  const dbPath = opts.db ? resolve(opts.db) : join(dir as string, 'baton.db');
  const sim = await startSimulator({ consent: 'auto', cronofyRotation: 'always' });
  const profile = simulatorProfile(sim.discovery() as unknown as SimulatorDiscovery, CALLBACK);
  // A store kept with --db is sealed under a key kept beside it (FILE.key, created 0600), so
  // `baton --store sqlite:FILE --key-file FILE.key list` opens it afterwards.
  const envKey = cli.env['BATON_SECRET_KEY'];
  const keyFile = opts.db && !envKey ? `${dbPath}.key` : undefined;
  const baton = await Baton.open({
    store: `sqlite:${dbPath}`,
    ...(keyFile ? { keyFile } : { secretKey: envKey ?? randomBytes(32).toString('base64') }),
    providers: profile.providers,
    clients: profile.clients,
    clock: { now: () => sim.clock.now() },
    env: {},
  }).catch(async (err: unknown) => {
    // A --db file sealed under a key that is not beside it: nothing started may outlive that.
    await sim.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  try {
    if (!cli.json) cli.print(`${p.bold('Baton demo')} — simulator at ${sim.url}, store sqlite:${dbPath}`);

    // 1. Static token pair.
    const key = profile.apiKeys['checkfront']?.find((k) => k.params['company'] === 'acme');
    if (!key) throw new Error('the simulator lists no Checkfront token pair for acme');
    await baton.connect({
      provider: 'checkfront',
      connectionId: 'acme-desk',
      params: { company: 'acme' },
      credentials: { apiKey: key.apiKey, ...(key.apiSecret ? { apiSecret: key.apiSecret } : {}) },
      replace: true,
    });
    const ping = await baton.fetch('acme-desk', 'api/3.0/ping');
    await ping.text();
    say({
      step: 'Checkfront token pair (server-to-server)',
      result: 'Stored sealed; each request carries HTTP Basic with the key pair.',
      proof: { 'GET api/3.0/ping': ping.status },
    });

    // 2. Cronofy OAuth2 through the consent step.
    const begun = await baton.beginAuthorization({
      provider: 'cronofy',
      connectionId: 'alice',
      params: { dataCenter: 'de' },
      scopes: ['read_account', 'read_events'],
      redirectUri: CALLBACK,
      replace: true,
    });
    const callback = await consent(begun.url, 'alice');
    const alice = await baton.completeAuthorization({ callbackUrl: callback });
    say({
      step: 'Cronofy OAuth2 (authorization code + PKCE, data center de)',
      result: `Authorized as ${alice.account?.id ?? 'the consenting user'}; the token expires ${humanDuration((alice.accessTokenExpiresAt ?? 0) - sim.clock.now())} from now.`,
      proof: { 'token calls': sim.counters().token.cronofy.byGrant },
    });

    // 3. An API call.
    const who = await baton.fetch('alice', 'v1/userinfo');
    const whoBody = (await who.json()) as Record<string, unknown>;
    say({
      step: 'An authenticated API call',
      result: 'baton.fetch resolved the path against the data center’s API host and sent the bearer token.',
      proof: { 'GET v1/userinfo': who.status, sub: whoBody['sub'] ?? '?' },
    });

    // 4. Expiry and a refresh storm.
    sim.clock.advance(3601_000);
    const before = await baton.reveal('alice');
    const callers = Math.max(1, Number(opts.callers) || 50);
    const tokenCallsBefore = sim.counters().token.cronofy.byGrant['refresh_token'] ?? 0;
    const tokens = await Promise.all(Array.from({ length: callers }, () => baton.getAccessToken('alice')));
    const after = await baton.reveal('alice');
    const refreshes = (sim.counters().token.cronofy.byGrant['refresh_token'] ?? 0) - tokenCallsBefore;
    say({
      step: `The clock moves past expiry; ${callers} callers ask at once`,
      result: `${refreshes} refresh for ${callers} callers; all got the same new token; the rotated refresh token was stored before anyone used it.`,
      proof: {
        'refresh_token grants': refreshes,
        'distinct tokens handed out': new Set(tokens).size,
        'refresh token rotated and stored': before.tokens?.refreshToken !== after.tokens?.refreshToken,
      },
    });

    // 5. Checkfront moves the company to its new domain.
    const begunCf = await baton.beginAuthorization({
      provider: 'checkfront',
      connectionId: 'acme-staff',
      params: { company: 'acme' },
      redirectUri: CALLBACK,
      replace: true,
    });
    await baton.completeAuthorization({ callbackUrl: await consent(begunCf.url, 'admin') });
    sim.migrateCheckfront('acme', 'na1');
    const bookings = await baton.fetch('acme-staff', 'api/3.0/booking');
    await bookings.text();
    const staff = await baton.get('acme-staff');
    say({
      step: 'Checkfront migrates the company: every request gets a 301',
      result:
        'Baton followed the redirect with the token (the new host is allowed by the provider spec) and stored the new base URL.',
      proof: { 'GET api/3.0/booking': bookings.status, 'learned API base': staff.apiBaseUrl ?? '(none)' },
    });

    // 6. The grant is revoked at the provider.
    sim.revokeGrants({ vendor: 'cronofy' });
    sim.clock.advance(3601_000);
    let message = '';
    const apiCallsBefore = sim.counters().api.cronofy;
    try {
      // What the Checkfront SDK got wrong: a failed refresh must not fall through to a request.
      await (await baton.fetch('alice', 'v1/userinfo')).text();
      message = 'unexpectedly still authorized';
    } catch (err) {
      if (!(err instanceof ReauthorizationRequired)) throw err;
      message = `${tidy(err.message)}\n   → ${err.remediation}\n   (Here the simulator and the demo's store end with the demo; on your own store that command authorizes alice again with data center de.)`;
    }
    const revoked = await baton.get('alice');
    say({
      step: 'The user revokes access at Cronofy',
      result: message,
      proof: {
        status: revoked.status,
        'API requests sent with the dead token': sim.counters().api.cronofy - apiCallsBefore,
      },
    });
    if (cli.json) cli.printJson(steps);
    else {
      cli.print(
        `\n${p.green('✓')} Demo complete. Nothing secret was printed; try \`baton show --help\` and the README.`,
      );
      if (opts.db)
        cli.print(
          `  The store is kept in ${dbPath}${keyFile ? `, sealed with the key in ${keyFile}` : ' (sealed with BATON_SECRET_KEY)'}: baton --store sqlite:${dbPath}${keyFile ? ` --key-file ${keyFile}` : ''} list`,
        );
    }
  } finally {
    await baton.close();
    await sim.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
