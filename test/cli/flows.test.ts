import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { BIN, type Ran, run, simulatorSecrets, start, transcript, waitFor } from './run.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

let sim: Simulator;
let dir: string;
let env: Record<string, string>;
const secrets = new Set<string>();

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-flows-'));
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${join(dir, 'baton.db')}`,
    BATON_SECRET_KEY: randomBytes(32).toString('base64'),
    BATON_SIMULATOR: sim.url,
    // What `open` runs when there is no desktop: a command that does nothing.
    BROWSER: 'true',
  };
  secrets.add(env['BATON_SECRET_KEY'] as string);
  for (const s of simulatorSecrets(sim)) secrets.add(s);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

/** Drops the last run's output from the secrets scan: it printed a secret by design. */
function bySecretDesign(): void {
  transcript.splice(transcript.length - 2, 2);
}

/** Runs a connect/reconnect that opens the loopback listener, and consents as `account`. */
async function authorizeAs(
  args: string[],
  account: string,
  extraEnv: Record<string, string> = {},
): Promise<Ran> {
  const p = start(args, { ...env, ...extraEnv }, undefined, 12_000);
  const url = new URL((await waitFor(p, /(http:\/\/\S+\/oauth\/authorize\S+)/))[1] as string);
  url.searchParams.set('sim_account', account);
  const consent = await fetch(url, { redirect: 'manual' });
  await consent.text();
  const page = await fetch(consent.headers.get('location') as string);
  await page.text();
  const ran = await p.done;
  if (ran.timedOut) throw new Error(`baton ${args.join(' ')} did not exit:\n${ran.stderr}`);
  return ran;
}

async function tokensOf(id: string) {
  const r = await run(['show', id, '--reveal', '--json'], env);
  bySecretDesign();
  expect(r.code, r.stderr).toBe(0);
  const s = json(r.stdout)['secrets'] as { tokens: { accessToken: string; refreshToken: string } };
  secrets.add(s.tokens.accessToken);
  secrets.add(s.tokens.refreshToken);
  return s.tokens;
}

describe('baton CLI: first run to daily use', () => {
  it('the hint after a revoked grant is a command that works when pasted, keeping the stored params', async () => {
    const first = await authorizeAs(
      ['connect', 'cronofy', '--id', 'carol', '-p', 'dataCenter=uk', '--no-browser'],
      'bob',
    );
    expect(first.code, first.stderr).toBe(0);
    sim.revokeGrants({ vendor: 'cronofy', account: 'bob' });
    expect((await run(['refresh', 'carol', '--force'], env)).code).toBe(3);
    const token = await run(['token', 'carol'], env);
    expect(token.code).toBe(3);
    const doctor = json((await run(['doctor', 'carol', '--json'], env)).stdout) as {
      checks: { check: string; remediation?: string }[];
    };
    const hints = [
      /→ .*?(baton reconnect [^\s(]+)/.exec(token.stderr)?.[1],
      /(baton reconnect \S+)$/.exec(
        doctor.checks.find((c) => c.check === 'connection carol')?.remediation ?? '',
      )?.[1],
    ];
    expect(hints).toEqual(['baton reconnect carol', 'baton reconnect carol']);
    // Pasted as printed: it opens a browser (BROWSER=true here) and listens for the redirect.
    const again = await authorizeAs((hints[0] as string).split(' ').slice(1), 'bob');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /Authorized again carol \(Cronofy, dataCenter=uk, oauth2\) as bob@example.com/,
    );
    expect(json((await run(['show', 'carol', '--json'], env)).stdout)).toMatchObject({
      status: 'active',
      params: { dataCenter: 'uk' },
    });
    // The command from the issue, without the data center: it authorizes the stored one again.
    sim.revokeGrants({ vendor: 'cronofy', account: 'bob' });
    await run(['refresh', 'carol', '--force'], env);
    const connectAgain = await authorizeAs(['connect', 'cronofy', '--id', 'carol', '--no-browser'], 'bob');
    expect(connectAgain.code, connectAgain.stderr).toBe(0);
    expect(connectAgain.stdout).toMatch(/dataCenter=uk/);
  });

  it('default ids carry the provider; list shows auth mode and params', async () => {
    const k = sim.discovery().vendors.checkbook.apiKeys.find((x) => x.params['environment'] === 'sandbox');
    const [ci, cb] = await Promise.all([
      run(['connect', 'checkissuing', '--env', 'sandbox'], env),
      run(
        ['connect', 'checkbook', '--env', 'sandbox', '--mode', 'api_key', '--api-key', k?.apiKey as string],
        {
          ...env,
          BATON_CHECKBOOK_API_SECRET: k?.apiSecret as string,
        },
      ),
    ]);
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stdout).toMatch(/Connected checkissuing-sandbox/);
    expect(cb.code, cb.stderr).toBe(0);
    expect(cb.stdout).toMatch(/Connected checkbook-sandbox \(Checkbook, environment=sandbox, api_key\)/);
    const list = await run(['list'], env);
    expect(list.stdout).toMatch(/checkbook-sandbox\s+checkbook\s+api_key\s+environment=sandbox\s+active/);
    expect(list.stdout).toMatch(
      /checkissuing-sandbox\s+checkissuing\s+client_credentials\s+environment=sandbox/,
    );
  });

  it('imports tokens issued elsewhere after checking them; refresh says whether it refreshed', async () => {
    expect(
      (
        await authorizeAs(
          ['connect', 'cronofy', '--id', 'erin-old', '-p', 'dataCenter=de', '--no-browser'],
          'alice',
        )
      ).code,
    ).toBe(0);
    const t = await tokensOf('erin-old');
    expect((await run(['remove', 'erin-old', '--yes'], env)).code).toBe(0);
    const imported = await run(
      ['import', 'erin', '--provider', 'cronofy', '-p', 'dataCenter=de'],
      env,
      JSON.stringify({ access_token: t.accessToken, refresh_token: t.refreshToken, expires_in: 3600 }),
    );
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/Imported erin \(Cronofy, oauth2\) as alice@example.com/);
    const token = await run(['token', 'erin'], env);
    bySecretDesign();
    expect(token.stdout.trim()).toBe(t.accessToken);
    const taken = await run(
      ['import', 'erin', '--provider', 'cronofy', '-p', 'dataCenter=de'],
      env,
      JSON.stringify({ accessToken: t.accessToken }),
    );
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/Connection "erin" already exists/);
    const notDue = await run(['refresh', 'erin'], env);
    expect(notDue.stdout).toMatch(
      /✓ erin: not refreshed, the access token valid in [\d hm]+ \(`baton refresh erin --force` refreshes anyway\)\./,
    );
    const forced = await run(['refresh', 'erin', '--force'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/✓ erin: refreshed; access token valid in [\d hm]+\./);
    expect(json((await run(['refresh', 'erin', '--json'], env)).stdout)).toMatchObject({ refreshed: false });
    await tokensOf('erin');
  });

  it('revoke, a second revoke, and logout (revoke + remove)', async () => {
    expect((await authorizeAs(['connect', 'cronofy', '--id', 'gus', '--no-browser'], 'gus')).code).toBe(0);
    expect((await authorizeAs(['connect', 'cronofy', '--id', 'hal', '--no-browser'], 'hal')).code).toBe(0);
    await tokensOf('gus');
    await tokensOf('hal');
    const before = sim.counters().revoke.cronofy;
    const first = await run(['revoke', 'gus', '--yes'], env);
    expect(first.stdout).toMatch(/gus revoked at the provider and marked revoked\./);
    const second = await run(['revoke', 'gus', '--yes'], env);
    expect(second.stdout).toMatch(/gus was already revoked; nothing to do\./);
    expect(second.stdout).not.toMatch(/no revocation endpoint/);
    // A revoked connection is authorized again by the command doctor prints for it.
    const doctor = json((await run(['doctor', 'gus', '--json'], env)).stdout) as {
      checks: { check: string; remediation?: string }[];
    };
    expect(doctor.checks.find((c) => c.check === 'connection gus')?.remediation).toMatch(
      /`baton reconnect gus`/,
    );
    const back = await authorizeAs(['reconnect', 'gus', '--no-browser'], 'alice');
    expect(back.code, back.stderr).toBe(0);
    expect(json((await run(['show', 'gus', '--json'], env)).stdout)).toMatchObject({ status: 'active' });
    await tokensOf('gus');
    const out = await run(['logout', 'hal', '--yes', '--json'], env);
    expect(json(out.stdout)).toEqual({ id: 'hal', revokedAtProvider: true, removed: true });
    // Two revocations each (refresh token and live access token): gus, then hal by logout.
    expect(sim.counters().revoke.cronofy).toBe(before + 4);
    expect((await run(['revoke', 'gus', '--yes'], env)).code).toBe(0);
    expect((await run(['show', 'hal'], env)).code).toBe(1);
  });

  it('doctor checks each client without a user grant, and warns about half-set environment pairs', async () => {
    const wrongSecret = await run(['doctor', '--json'], {
      ...env,
      BATON_CRONOFY_CLIENT_ID: sim.discovery().vendors.cronofy.clients[0]?.clientId as string,
      BATON_CRONOFY_CLIENT_SECRET: 'not-the-secret',
      BATON_CHECKFRONT_CLIENT_SECRET: 'orphan-secret',
      BATON_CHECKBOOK_CLIENT_ID: 'lonely-id',
    });
    const report = json(wrongSecret.stdout) as {
      checks: { check: string; level: string; message: string; remediation?: string }[];
    };
    const by = (name: string) => report.checks.filter((c) => c.check === name);
    expect(by('client cronofy (dataCenter=us)')[0]).toMatchObject({
      level: 'fail',
      message: expect.stringMatching(/rejected the client credentials/),
    });
    expect(by('client checkissuing (environment=sandbox)')[0]).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/client credentials grant succeeded/),
    });
    expect(by('environment BATON_CHECKFRONT_*')[0]).toMatchObject({
      level: 'warn',
      message: 'BATON_CHECKFRONT_CLIENT_SECRET is set without BATON_CHECKFRONT_CLIENT_ID, so it is ignored.',
    });
    expect(by('environment BATON_CHECKBOOK_*')[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/CLIENT_ID is set without/),
    });
    expect(wrongSecret.code).toBe(1);
    const good = json((await run(['doctor', '--json'], env)).stdout) as typeof report;
    const clients = good.checks.filter((c) => c.check.startsWith('client '));
    expect(clients.length).toBeGreaterThanOrEqual(3);
    for (const c of clients) expect(c.level, JSON.stringify(c)).not.toBe('fail');
    expect(clients.find((c) => c.check === 'client cronofy (dataCenter=de)')).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/authenticated the client \(invalid_grant for a dummy token\)/),
    });
    // Token-pair and API-key connections are checked at the identity endpoint.
    expect(good.checks.find((c) => c.check === 'connection checkbook-sandbox')).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/api_key credentials accepted by the identity endpoint/),
    });
  });

  it('config get, set and list write baton.config.json and hide secrets', async () => {
    const project = join(dir, 'project');
    mkdirSync(project, { recursive: true });
    const base = {
      BATON_HOME: env['BATON_HOME'] as string,
      BATON_SECRET_KEY: env['BATON_SECRET_KEY'] as string,
    };
    const store = `sqlite:${join(dir, 'from-config.db')}`;
    const set = await run(['config', 'set', 'store', store], base, undefined, project);
    expect(set.code, set.stderr).toBe(0);
    expect(
      (await run(['config', 'set', 'clients.cronofy.clientId', 'my-client'], base, undefined, project)).code,
    ).toBe(0);
    const secret = await run(
      ['config', 'set', 'clients.cronofy.clientSecret', 'file-secret-xyz'],
      base,
      undefined,
      project,
    );
    secrets.add('file-secret-xyz');
    expect(secret.stderr).toMatch(/prefer BATON_CRONOFY_CLIENT_SECRET/);
    expect(JSON.parse(readFileSync(join(project, 'baton.config.json'), 'utf8'))).toEqual({
      store,
      clients: { cronofy: { clientId: 'my-client', clientSecret: 'file-secret-xyz' } },
    });
    expect((await run(['config', 'get', 'store'], base, undefined, project)).stdout).toBe(`${store}\n`);
    expect(
      (await run(['config', 'get', 'clients.cronofy.clientSecret'], base, undefined, project)).stdout,
    ).toBe('(set, hidden)\n');
    const missing = await run(['config', 'get', 'simulator'], base, undefined, project);
    expect(missing.code).toBe(1);
    const list = await run(['config', 'list'], base, undefined, project);
    expect(list.stdout).toMatch(/store\s+sqlite:.*from-config\.db\s+\[config\]/);
    expect(list.stdout).toMatch(/clients\.cronofy\.clientSecret\s+\(set, hidden\)/);
    const listed = json(
      (await run(['config', 'list', '--json'], { ...base, BATON_STORE: 'memory:' }, undefined, project))
        .stdout,
    );
    expect(listed['settings']).toContainEqual({ key: 'store', value: 'memory:', source: 'env' });
  });

  it('shell completion for bash, zsh and fish', async () => {
    const [bash, zsh, fish] = await Promise.all(
      ['bash', 'zsh', 'fish'].map((s) => run(['completion', s], env)),
    );
    expect(zsh?.stdout).toMatch(/^#compdef baton/);
    expect(fish?.stdout).toMatch(/complete -c baton -n __fish_use_subcommand -a '.*reconnect.*'/);
    const script = join(dir, 'baton.bash');
    writeFileSync(script, bash?.stdout as string);
    // The script parses, and completes commands and connection ids from `baton list --json`.
    const shim = join(dir, 'bin');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'baton'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, {
      mode: 0o755,
    });
    // Asynchronously: `baton list` asks the simulator, which runs in this process.
    const probe = spawn(
      'bash',
      [
        '-c',
        `source ${script}; COMP_WORDS=(baton rec); COMP_CWORD=1; _baton; echo "\${COMPREPLY[@]}"; COMP_WORDS=(baton show ca); COMP_CWORD=2; _baton; echo "\${COMPREPLY[@]}"`,
      ],
      { env: { ...env, PATH: `${shim}:${process.env['PATH']}` }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const killer = setTimeout(() => probe.kill('SIGKILL'), 20_000);
    let stdout = '';
    probe.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    await new Promise((r) => probe.on('close', r));
    clearTimeout(killer);
    expect(stdout).toBe('reconnect\ncarol\n');
  });

  it('-d @file sends the file’s bytes unchanged to the API', async () => {
    let received: Buffer | undefined;
    let contentType: string | undefined;
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received = Buffer.concat(chunks);
        contentType = req.headers['content-type'];
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const project = join(dir, 'fake');
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, 'baton.config.json'),
      JSON.stringify({
        store: `sqlite:${join(dir, 'fake.db')}`,
        providers: {
          fakeapi: {
            displayName: 'Fake API',
            authModes: ['api_key'],
            apiBaseUrl: `http://127.0.0.1:${port}/v1/`,
            apiKeyAuth: { header: 'X-Api-Key', template: '{apiKey}' },
          },
        },
      }),
    );
    const base = {
      BATON_HOME: env['BATON_HOME'] as string,
      BATON_SECRET_KEY: env['BATON_SECRET_KEY'] as string,
    };
    try {
      const c = await run(['connect', 'fakeapi', '--api-key', 'fake-key-1'], base, undefined, project);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stderr).toMatch(
        /Fake API has no identity endpoint: the credentials could not be checked before storing\./,
      );
      const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a, 0xe2, 0x82]);
      writeFileSync(join(project, 'body.bin'), bytes);
      const r = await run(
        [
          'request',
          'fakeapi',
          'upload',
          '-X',
          'PUT',
          '-d',
          '@body.bin',
          '-H',
          'Content-Type: application/octet-stream',
        ],
        base,
        undefined,
        project,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(received?.equals(bytes)).toBe(true);
      expect(contentType).toBe('application/octet-stream');
    } finally {
      server.close();
    }
  });

  it.skipIf(!hasScript)(
    'on a terminal the wait is a prompt a pasted callback URL is not drawn over',
    async () => {
      const cmd = [process.execPath, BIN, 'connect', 'cronofy', '--id', 'ivy', '--no-browser'].join(' ');
      const child = spawn('script', ['-qec', cmd, '/dev/null'], {
        env: { ...process.env, ...env, NO_COLOR: '', TERM: 'xterm' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      for (let i = 0; i < 400 && !out.includes('press Enter: '); i++)
        await new Promise((r) => setTimeout(r, 25));
      const url = new URL(/(http:\/\/\S+\/oauth\/authorize\S+)/.exec(out)?.[1] as string);
      url.searchParams.set('sim_account', 'ivy');
      const consent = await fetch(url, { redirect: 'manual' });
      await consent.text();
      const callback = consent.headers.get('location') as string;
      // Pasted slowly, as a person would: nothing is drawn over it while it is typed.
      const mark = out.length;
      for (const piece of [callback.slice(0, 20), callback.slice(20)]) {
        child.stdin.write(piece);
        await new Promise((r) => setTimeout(r, 1200));
      }
      const echoed = out.slice(mark);
      child.stdin.write('\r');
      const code = await new Promise<number | null>((r) => child.on('close', r));
      clearTimeout(killer);
      transcript.push(out);
      expect(code).toBe(0);
      expect(echoed).toBe(callback);
      expect(out).toMatch(
        /Waiting for the redirect until .* \(\d+ m\)\.\r?\nOr paste the code \/ callback URL here and press Enter: /,
      );
      expect(out).toMatch(/Connected ivy/);
    },
  );

  it.skipIf(!hasScript)(
    'on a terminal remove asks first; no keeps the connection, yes removes it',
    async () => {
      const answer = async (reply: string) => {
        const cmd = [process.execPath, BIN, 'remove', 'checkissuing-sandbox'].join(' ');
        const child = spawn('script', ['-qec', cmd, '/dev/null'], {
          env: { ...process.env, ...env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        for (let i = 0; i < 400 && !out.includes('(y/N)'); i++) await new Promise((r) => setTimeout(r, 25));
        child.stdin.write(`${reply}\r`);
        const code = await new Promise<number | null>((r) => child.on('close', r));
        clearTimeout(killer);
        transcript.push(out);
        return { code, out };
      };
      const no = await answer('n');
      expect(no.out).toMatch(/Delete checkissuing-sandbox \(checkissuing\) and its secrets from the store\?/);
      expect(no.code).toBe(1);
      expect(no.out).toMatch(/Cancelled; nothing was changed\./);
      expect((await run(['show', 'checkissuing-sandbox'], env)).code).toBe(0);
      const yes = await answer('y');
      expect(yes.code).toBe(0);
      expect(yes.out).toMatch(/checkissuing-sandbox removed\./);
      expect((await run(['show', 'checkissuing-sandbox'], env)).code).toBe(1);
    },
  );

  it('help: a start-here line, clean connect flags; the simulator answers its advertised admin URL', async () => {
    const [top, connect, sub] = await Promise.all([
      run(['--help'], env),
      run(['connect', '--help'], env),
      run(['config', '--help'], env),
    ]);
    expect(top.stdout).toMatch(/Start here: `baton demo`/);
    expect(top.stdout).toMatch(/reconnect .*\n(.*\n)*.*logout/);
    expect(connect.stdout).not.toMatch(/BATON__|\(default: \{\}\)|\(default: \[\]\)/);
    expect(connect.stdout).toMatch(/BATON_<PROVIDER>_API_KEY/);
    expect(sub.stdout).toMatch(/baton config set clients\.cronofy\.clientId/);
    const admin = await fetch(sim.discovery().admin as string);
    expect(admin.status).toBe(200);
    expect(((await admin.json()) as { endpoints: string[] }).endpoints).toContain('GET /_sim/counters');
  });

  it('installs compile better-sqlite3 from source: prebuild-install reads the project’s rc file', () => {
    const rc = spawnSync(
      process.execPath,
      ['-e', "console.log(require('prebuild-install/rc')({ name: 'better-sqlite3' }).buildFromSource)"],
      { cwd: resolve('.'), encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } },
    );
    expect(rc.stdout.trim()).toBe('true');
    if (existsSync('.npmrc')) expect(readFileSync('.npmrc', 'utf8')).not.toMatch(/build-from-source/);
  });

  it('messages end in one full stop and nothing printed a secret', () => {
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toMatch(/[^.]\.\.(\s|$)/);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
