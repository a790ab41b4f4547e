import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { VENDORS } from '../../src/simulator/types.js';
import { BIN, run, simulatorSecrets, start, transcript, waitFor } from './run.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

let sim: Simulator;
let dir: string;
let env: Record<string, string>;
const secrets = new Set<string>();

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${join(dir, 'baton.db')}`,
    BATON_SECRET_KEY: randomBytes(32).toString('base64'),
    BATON_SIMULATOR: sim.url,
  };
  secrets.add(env['BATON_SECRET_KEY'] as string);
  for (const s of simulatorSecrets(sim)) secrets.add(s);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const key = (provider: string, param: string, value: string) => {
  const k = sim.discovery().vendors[provider as 'checkfront'].apiKeys.find((x) => x.params[param] === value);
  if (!k) throw new Error('no key');
  return k;
};

/** Follows the simulator's consent redirect and returns where the browser would go next. */
async function consentTo(url: string): Promise<string> {
  const res = await fetch(url, { redirect: 'manual' });
  await res.text();
  return res.headers.get('location') as string;
}

async function remember(id: string) {
  const r = await run(['show', id, '--reveal', '--json'], env);
  const s = (json(r.stdout)['secrets'] ?? {}) as {
    tokens?: { accessToken: string; refreshToken: string | null };
    credentials?: { apiKey: string; apiSecret?: string };
  };
  for (const v of [s.tokens?.accessToken, s.tokens?.refreshToken, s.credentials?.apiSecret])
    if (v) secrets.add(v);
  // What --reveal printed is allowed to contain secrets; keep it out of the scan.
  transcript.splice(transcript.length - 2, 2);
  return s;
}

describe('baton CLI against the simulator', () => {
  it('lists providers and shows one, as text and JSON', async () => {
    const list = await run(['providers'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/checkfront\s+Checkfront\s+oauth2, token_pair\s+company/);
    const one = await run(['providers', 'cronofy', '--json'], env);
    expect(json(one.stdout)).toMatchObject({ id: 'cronofy', clientAuth: 'json', pkce: true });
    expect((await run(['providers', 'cronofy'], env)).stdout).toMatch(/param dataCenter/);
  });

  it('connects a Checkfront token pair with the secret on stdin, and shows who it is', async () => {
    const k = key('checkfront', 'company', 'acme');
    const r = await run(
      [
        'connect',
        'checkfront',
        '--param',
        'company=acme',
        '--id',
        'acme-desk',
        '--mode',
        'token_pair',
        '--api-key',
        k.apiKey,
        '--secret-stdin',
      ],
      env,
      `${k.apiSecret}\n`,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Connected acme-desk \(Checkfront, company=acme, token_pair\)/);
    const req = await run(['request', 'acme-desk', 'api/3.0/booking', '--json'], env);
    expect(json(req.stdout)).toMatchObject({ status: 200 });
    const bodyFile = join(dir, 'body.json');
    writeFileSync(bodyFile, '{"note":"from a file"}');
    const posted = await run(
      [
        'request',
        'acme-desk',
        'api/3.0/ping',
        '-X',
        'post',
        '-d',
        `@${bodyFile}`,
        '-H',
        'X-Trace: 7',
        '--json',
      ],
      env,
    );
    expect(json(posted.stdout)).toMatchObject({ status: 200 });
    const badHeader = await run(['request', 'acme-desk', 'api/3.0/ping', '-H', 'no-colon'], env);
    expect(badHeader.code).toBe(2);
    expect(badHeader.stderr).toMatch(/Write headers as -H "Name: value"/);
    const notFound = await run(['request', 'acme-desk', 'api/3.0/nothing'], env);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/404 GET api\/3.0\/nothing/);
    await remember('acme-desk');
  });

  it('connects a Checkbook API key from the environment, and Checkissuing by client credentials', async () => {
    const k = key('checkbook', 'environment', 'sandbox');
    const cb = await run(
      ['connect', 'checkbook', '--param', 'environment=sandbox', '--id', 'cb', '--mode', 'api_key', '--json'],
      { ...env, BATON_CHECKBOOK_API_KEY: k.apiKey, BATON_CHECKBOOK_API_SECRET: k.apiSecret as string },
    );
    expect(cb.code).toBe(0);
    expect(json(cb.stdout)).toMatchObject({ id: 'cb', authMode: 'api_key', identity: { status: 200 } });
    const ci = await run(['connect', 'checkissuing', '--id', 'payouts', '--env', 'sandbox', '--json'], env);
    expect(ci.code).toBe(0);
    expect(json(ci.stdout)).toMatchObject({
      id: 'payouts',
      authMode: 'client_credentials',
      status: 'active',
    });
    await remember('cb');
    await remember('payouts');
  });

  it('authorizes Cronofy through the loopback redirect listener', async () => {
    const p = start(
      [
        'connect',
        'cronofy',
        '--id',
        'alice',
        '--param',
        'dataCenter=de',
        '--scope',
        'read_account',
        '--scope',
        'read_events',
        '--no-browser',
      ],
      env,
    );
    const url = (await waitFor(p, /(http:\/\/\S+\/oauth\/authorize\S+)/))[1] as string;
    expect(new URL(url).searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const callback = await consentTo(url);
    const page = await fetch(callback);
    expect(await page.text()).toMatch(/Connected/);
    const r = await p.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Connected alice \(Cronofy, dataCenter=de, oauth2\) as alice@example.com/);
    await remember('alice');
  });

  it('takes a pasted callback URL on stdin when the browser cannot reach the listener', async () => {
    const p = start(['connect', 'cronofy', '--id', 'bob', '--no-browser', '--json'], env);
    const url = (await waitFor(p, /(http:\/\/\S+\/oauth\/authorize\S+)/))[1] as string;
    const u = new URL(url);
    u.searchParams.set('sim_account', 'bob');
    p.child.stdin?.write(`${await consentTo(u.toString())}\n`);
    const r = await p.done;
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({
      id: 'bob',
      status: 'active',
      account: { email: 'bob@example.com' },
    });
    await remember('bob');
  });

  it("takes a pasted code from Checkfront's oob page", async () => {
    const p = start(['connect', 'checkfront', '--param', 'company=globex', '--id', 'globex', '--oob'], env);
    const url = (await waitFor(p, /(http:\/\/\S+\/oauth\/\S+)/))[1] as string;
    expect(new URL(url).searchParams.get('redirect_uri')).toBe('oob');
    const page = await (await fetch(url)).text();
    const code = /<code id="code">([^<]+)<\/code>/.exec(page)?.[1] as string;
    p.child.stdin?.write(`${code}\n`);
    const r = await p.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Connected globex/);
    await remember('globex');
  });

  it('lists and shows connections without secrets; prints a bare token; refreshes', async () => {
    const list = await run(['list', '--json'], env);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((c) => c.id)).toEqual([
      'acme-desk',
      'alice',
      'bob',
      'cb',
      'globex',
      'payouts',
    ]);
    const text = await run(['list'], env);
    expect(text.stdout).toMatch(
      /alice\s+cronofy\s+oauth2\s+dataCenter=de\s+active\s+alice@example.com\s+in 5\d m/,
    );
    expect(text.stdout).toMatch(/MODE\s+PARAMS/);
    const show = await run(['show', 'alice'], env);
    expect(show.stdout).toMatch(/access token\s+expires in/);
    expect(json((await run(['show', 'alice', '--json'], env)).stdout)).not.toHaveProperty('secrets');
    const token = await run(['token', 'alice'], env);
    expect(token.stdout.trim()).toMatch(/^[A-Za-z0-9]{32}$/);
    transcript.splice(transcript.length - 2, 2); // `baton token` prints a secret by design
    const refreshed = await run(['refresh', 'alice', '--force', '--json'], env);
    expect(refreshed.code).toBe(0);
    expect(json(refreshed.stdout)['lastRefreshedAt']).toBeTruthy();
    await remember('alice');
    const req = await run(['request', 'alice', 'v1/userinfo'], env);
    expect(req.stderr).toMatch(/200 GET v1\/userinfo \d+ ms/);
    expect(JSON.parse(req.stdout)).toMatchObject({ email: 'alice@example.com' });
  });

  it('uses exit codes 0, 1, 2 and 3, with a remediation sentence and no stack trace', async () => {
    const usage = await run(['connect'], env);
    expect(usage.code).toBe(2);
    expect((await run(['list', '--bogus'], env)).code).toBe(2);
    const missing = await run(['show', 'nobody'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No connection named "nobody"/);
    expect(missing.stderr).toMatch(/→ Check the id with `baton list`/);
    expect(missing.stderr).not.toMatch(/at .*\.js:\d+/);
    const badParam = await run(['connect', 'cronofy', '--param', 'dataCenter=mars', '--no-browser'], env);
    // A value the provider does not take is a bad flag value: a usage error (README, exit codes).
    expect(badParam.code).toBe(2);
    expect(badParam.stderr).toMatch(/Use one of: us, au, ca, de, sg, uk/);
    sim.revokeGrants({ vendor: 'cronofy', account: 'bob' });
    const revokedToken = await run(['refresh', 'bob', '--force', '--json'], env);
    expect(revokedToken.code).toBe(3);
    expect(json(revokedToken.stderr)['error']).toMatchObject({
      code: 'reauthorization_required',
      connectionId: 'bob',
    });
    expect((await run(['token', 'bob'], env)).code).toBe(3);
    const debug = await run(['show', 'nobody', '--debug'], env);
    expect(debug.stderr).toMatch(/ConnectionNotFound|at /);
  });

  it('doctor explains what is wrong in plain words', async () => {
    const d = await run(['doctor', '--json'], env);
    const report = json(d.stdout) as {
      ok: boolean;
      checks: { check: string; level: string; message: string; remediation?: string }[];
    };
    expect(d.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'store')?.level).toBe('ok');
    expect(report.checks.find((c) => c.check === 'connection alice')).toMatchObject({ level: 'ok' });
    expect(report.checks.find((c) => c.check === 'connection bob')).toMatchObject({
      level: 'fail',
      remediation: expect.stringMatching(/baton reconnect bob/),
    });
    const one = await run(['doctor', 'alice'], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/✓ connection alice: cronofy active, token valid for/);
    // A connection opened under another client: the forum thread's leftover token.
    const other = await run(['doctor', 'alice', '--json'], {
      ...env,
      BATON_SIMULATOR: '',
      BATON_CRONOFY_CLIENT_ID: 'another-client',
      BATON_CRONOFY_CLIENT_SECRET: 'x',
    });
    const mismatch = (json(other.stdout) as typeof report).checks.find((c) => c.check === 'connection alice');
    expect(mismatch?.level).toBe('fail');
    expect(mismatch?.message).toMatch(/another client/);
    expect(mismatch?.message).toMatch(
      /stored: provider=cronofy client=.*requested: provider=cronofy client=another-client/,
    );
  });

  it('revokes and removes', async () => {
    const before = sim.counters().revoke.cronofy;
    const rev = await run(['revoke', 'alice', '--json', '--yes'], env);
    expect(json(rev.stdout)).toEqual({ id: 'alice', revokedAtProvider: true, alreadyRevoked: false });
    // The refresh token, and the access token that also names the grant.
    expect(sim.counters().revoke.cronofy).toBe(before + 2);
    expect(json((await run(['show', 'alice', '--json'], env)).stdout)['status']).toBe('revoked');
    expect((await run(['revoke', 'acme-desk', '--yes'], env)).stdout).toMatch(
      /static credentials cannot be revoked/,
    );
    expect((await run(['remove', 'alice', '--yes'], env)).code).toBe(0);
    expect((await run(['remove', 'alice', '--yes'], env)).code).toBe(1);
    const again = await run(['--json', 'remove', 'alice', '--yes'], env);
    expect(again.code).toBe(1);
    expect(json(again.stderr)['error']).toMatchObject({ code: 'connection_not_found' });
  });

  it('reads flags, then environment, then baton.config.json found from the working directory up', async () => {
    const project = join(dir, 'project');
    const nested = join(project, 'src', 'deep');
    (await import('node:fs')).mkdirSync(nested, { recursive: true });
    writeFileSync(
      join(project, 'baton.config.json'),
      JSON.stringify({ store: `sqlite:${join(dir, 'from-config.db')}`, simulator: sim.url }),
    );
    const base = {
      BATON_HOME: env['BATON_HOME'] as string,
      BATON_SECRET_KEY: env['BATON_SECRET_KEY'] as string,
    };
    const fromFile = json((await run(['doctor', '--json'], base, undefined, nested)).stdout) as {
      checks: { check: string; message: string }[];
    };
    expect(fromFile.checks[0]?.message).toMatch(/read .*baton.config.json; store from config/);
    expect(fromFile.checks.find((c) => c.check === 'store')?.message).toMatch(/from-config\.db/);
    const fromEnv = json(
      (
        await run(
          ['doctor', '--json'],
          { ...base, BATON_STORE: env['BATON_STORE'] as string },
          undefined,
          nested,
        )
      ).stdout,
    ) as typeof fromFile;
    expect(fromEnv.checks[0]?.message).toMatch(/store from env/);
    const fromFlag = json(
      (
        await run(
          ['--store', 'memory:', 'doctor', '--json'],
          { ...base, BATON_STORE: env['BATON_STORE'] as string },
          undefined,
          nested,
        )
      ).stdout,
    ) as typeof fromFile;
    expect(fromFlag.checks[0]?.message).toMatch(/store from flag/);
    writeFileSync(join(project, 'baton.config.json'), '{"store": 5}');
    const bad = await run(['list'], base, undefined, nested);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"store" in .*baton.config.json must be a string/);
    writeFileSync(join(project, 'baton.config.json'), '{}');
    writeFileSync(join(project, 'baton.config.yaml'), 'store: nope');
    rmSync(join(project, 'baton.config.json'));
    expect((await run(['list'], base, undefined, nested)).stderr).toMatch(/"nope" is not a store/);
  });

  it('migrates a store to another, idempotently', async () => {
    const to = `sqlite:${join(dir, 'copy.db')}`;
    const first = json(
      (await run(['migrate', '--from', env['BATON_STORE'] as string, '--to', to, '--json'], env)).stdout,
    );
    expect(first).toMatchObject({ copied: 5, skipped: 0 });
    expect(
      json(
        (await run(['migrate', '--from', env['BATON_STORE'] as string, '--to', to, '--json'], env)).stdout,
      ),
    ).toMatchObject({ copied: 0, skipped: 5 });
    const list = await run(['--store', to, 'list', '--json'], env);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(5);
  });

  it('runs the simulator until interrupted, printing its discovery', async () => {
    const p = start(['simulate', '--port', '0', '--json'], {});
    for (let i = 0; i < 200 && !p.child.stdout; i++) await new Promise((r) => setTimeout(r, 10));
    let out = '';
    p.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    for (let i = 0; i < 400 && !out.trim().endsWith('}'); i++) await new Promise((r) => setTimeout(r, 25));
    const d = JSON.parse(out) as { origin: string; vendors: Record<string, unknown> };
    expect(Object.keys(d.vendors).sort()).toEqual([...VENDORS].sort());
    const res = await fetch(`${d.origin}/.well-known/baton-simulator`);
    expect(res.status).toBe(200);
    await res.text();
    p.child.kill('SIGINT');
    expect((await p.done).code).toBe(0);
    transcript.splice(transcript.length - 2, 2); // the simulator prints its own throwaway credentials
  });

  it('runs the demo', async () => {
    const r = await run(['demo', '--json'], { BATON_HOME: env['BATON_HOME'] as string });
    expect(r.code).toBe(0);
    const steps = JSON.parse(r.stdout) as { step: string; proof: Record<string, unknown> }[];
    expect(steps).toHaveLength(6);
    expect(steps[3]?.proof).toMatchObject({
      'refresh_token grants': 1,
      'distinct tokens handed out': 1,
      'refresh token rotated and stored': true,
    });
    expect(steps[5]?.proof).toMatchObject({
      status: 'needs_reauth',
      'API requests sent with the dead token': 0,
    });
  });

  it.skipIf(!hasScript)('prompts for the API secret with hidden input on a terminal', async () => {
    const k = key('checkfront', 'company', 'globex');
    const cmd = [
      process.execPath,
      BIN,
      'connect',
      'checkfront',
      '--param',
      'company=globex',
      '--id',
      'globex-tty',
      '--mode',
      'token_pair',
      '--api-key',
      k.apiKey,
    ].join(' ');
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    for (let i = 0; i < 400 && !out.includes('API secret'); i++) await new Promise((r) => setTimeout(r, 25));
    child.stdin.write(`${k.apiSecret}\r`);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    transcript.push(out);
    expect(code).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal escapes
    const plain = out.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(plain).toMatch(/Connected globex-tty \(Checkfront, company=globex, token_pair\)/);
    expect(out).not.toContain(k.apiSecret as string);
  });

  it('never printed a secret without --reveal', () => {
    expect(secrets.size).toBeGreaterThan(10);
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
