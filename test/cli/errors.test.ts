import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type Ran, run, simulatorSecrets, start, transcript, waitFor } from './run.js';

/**
 * Every command's error paths, each spawned as the built binary with a hard time limit: a
 * command that does not exit fails here instead of hanging. Rows run a few at a time.
 */

let sim: Simulator;
let dir: string;
let env: Record<string, string>;
const secrets = new Set<string>();

interface Row {
  name: string;
  args: string[];
  env?: Record<string, string>;
  input?: string;
  code: number;
  stderr?: RegExp;
  stdout?: RegExp;
  /** Paths that must not exist afterwards: read-only commands create nothing. */
  absent?: string[];
  /** Under --json the error is one JSON object on stderr. */
  jsonError?: Record<string, unknown>;
}

async function matrix(rows: Row[], width = 4): Promise<{ row: Row; ran: Ran }[]> {
  const out: { row: Row; ran: Ran }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < rows.length) {
        const row = rows[next++] as Row;
        out.push({ row, ran: await run(row.args, { ...env, ...(row.env ?? {}) }, row.input, dir) });
      }
    }),
  );
  return out;
}

function check(results: { row: Row; ran: Ran }[]): void {
  for (const { row, ran } of results) {
    const where = `${row.name}: baton ${row.args.join(' ')}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`;
    expect(ran.timedOut, where).toBe(false);
    expect(ran.code, where).toBe(row.code);
    if (row.stderr) expect(ran.stderr, where).toMatch(row.stderr);
    if (row.stdout) expect(ran.stdout, where).toMatch(row.stdout);
    if (row.code !== 0 && !row.args.includes('--json')) {
      // What happened, then what to do; never a stack trace or "This is unexpected".
      expect(ran.stderr, where).not.toMatch(/This is unexpected|\n\s+at .*\.js:\d+/);
    }
    // No stack ever without --debug, in any output mode (README "Exit codes and errors").
    if (!row.args.includes('--debug'))
      expect(`${ran.stdout}${ran.stderr}`, where).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
    if (row.jsonError) {
      const line = ran.stderr.trim().split('\n').pop() as string;
      expect((JSON.parse(line) as { error: unknown }).error, where).toMatchObject(row.jsonError);
    }
    for (const p of row.absent ?? []) expect(existsSync(p), `${where}\n${p} was created`).toBe(false);
  }
}

beforeAll(async () => {
  sim = await startSimulator({ consent: 'auto' });
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-errors-'));
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${join(dir, 'baton.db')}`,
    BATON_SECRET_KEY: randomBytes(32).toString('base64'),
    BATON_SIMULATOR: sim.url,
  };
  secrets.add(env['BATON_SECRET_KEY'] as string);
  // A config file with a syntax error right after a secret: parsers quote the text around it.
  writeFileSync(
    join(dir, 'broken.json'),
    '{"clients":{"cronofy":{"clientId":"c","clientSecret":"planted-config-secret-7731" x}}}',
  );
  secrets.add('planted-config-secret-7731');
  for (const s of simulatorSecrets(sim)) secrets.add(s);
  // One connection of each kind the rows refer to.
  const k = sim.discovery().vendors.checkfront.apiKeys.find((x) => x.params['company'] === 'acme');
  const made = await Promise.all([
    run(['connect', 'checkissuing', '--env', 'sandbox'], env),
    run(
      [
        'connect',
        'checkfront',
        '-p',
        'company=acme',
        '--id',
        'desk',
        '--mode',
        'token_pair',
        '--secret-stdin',
      ],
      { ...env, BATON_CHECKFRONT_API_KEY: k?.apiKey as string },
      k?.apiSecret as string,
    ),
  ]);
  for (const m of made) expect(m.code, m.stderr).toBe(0);
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('every command exits with the documented code on its error paths', () => {
  it('connect: no client, two scopes, an id taken, bad flag values, bad modes — before anything listens', async () => {
    const bare = { BATON_SIMULATOR: '' };
    check(
      await matrix([
        {
          name: 'no client configured (a new user)',
          args: ['connect', 'cronofy', '--no-browser'],
          env: bare,
          code: 1,
          stderr:
            /No client is configured for Cronofy\.\n→ Set BATON_CRONOFY_CLIENT_ID and BATON_CRONOFY_CLIENT_SECRET, or put the client id in baton.config.json \(`baton config set clients.cronofy.clientId <id>`\)/,
        },
        {
          name: 'no client, --json',
          args: ['connect', 'cronofy', '--no-browser', '--json'],
          env: bare,
          code: 1,
          jsonError: { code: 'config_error', remediation: expect.not.stringMatching(/Baton\.open/) },
        },
        {
          name: 'two scopes for Checkbook',
          args: [
            'connect',
            'checkbook',
            '--env',
            'sandbox',
            '--mode',
            'oauth2',
            '-s',
            'check',
            '-s',
            'single-use',
            '--no-browser',
          ],
          code: 2,
          stderr:
            /Checkbook grants exactly one scope per authorization; 2 were given \(check, single-use\)\.\n→ Pass a single --scope, one of: check, check_receive, single-use\./,
        },
        {
          name: 'the id is taken by another provider',
          args: ['connect', 'cronofy', '--id', 'desk', '--no-browser'],
          code: 1,
          stderr:
            /Connection "desk" already exists \(checkfront, company=acme, token_pair, active\)\.\n→ Choose another id with --id, authorize that one again with `baton reconnect desk`, or pass --replace/,
        },
        {
          name: 'the id is taken under other params',
          args: ['connect', 'checkissuing', '--id', 'checkissuing-sandbox', '--env', 'production'],
          code: 1,
          stderr:
            /Connection "checkissuing-sandbox" already exists \(checkissuing, environment=sandbox, client_credentials, active\)/,
        },
        {
          name: '--timeout abc',
          args: ['connect', 'cronofy', '--timeout', 'abc', '--no-browser'],
          code: 2,
          stderr: /--timeout abc is not a number of seconds\.\n→ Use e\.g\. --timeout 120\./,
        },
        {
          name: '--timeout -5',
          args: ['connect', 'cronofy', '--timeout=-5', '--no-browser'],
          code: 2,
          stderr: /--timeout -5 is not a number of seconds/,
        },
        {
          name: '--port abc',
          args: ['connect', 'cronofy', '--port', 'abc', '--no-browser'],
          code: 2,
          stderr: /--port abc is not a port/,
        },
        {
          name: '--mode nonsense',
          args: ['connect', 'cronofy', '--mode', 'magic'],
          code: 2,
          stderr: /--mode magic is not an auth mode/,
        },
        {
          name: 'a mode the provider lacks',
          args: ['connect', 'cronofy', '--mode', 'api_key'],
          code: 2,
          stderr: /Cronofy does not support api_key/,
        },
        {
          name: '--env for a provider without environments',
          args: ['connect', 'cronofy', '--env', 'x'],
          code: 2,
          stderr: /Cronofy has no environments/,
        },
        {
          name: 'a bad param value',
          args: ['connect', 'cronofy', '-p', 'dataCenter=mars', '--no-browser'],
          code: 2,
          stderr: /Use one of: us, au, ca, de, sg, uk/,
        },
        {
          name: 'a param without =',
          args: ['connect', 'cronofy', '-p', 'dataCenter'],
          code: 2,
          stderr: /"dataCenter" is not of the form key=value/,
        },
        {
          name: 'an unknown provider',
          args: ['connect', 'nope'],
          code: 1,
          stderr: /Baton does not know the provider "nope"\.\n→ .*"providers" in baton.config.json/,
        },
        {
          name: 'an unknown flag',
          args: ['connect', 'cronofy', '--bogus'],
          code: 2,
          stderr: /unknown option '--bogus'/,
        },
        { name: 'no provider', args: ['connect'], code: 2, stderr: /missing required argument 'provider'/ },
        {
          name: 'token_pair without a key',
          args: ['connect', 'checkfront', '-p', 'company=x', '--mode', 'token_pair'],
          code: 2,
          stderr: /token_pair needs an API key/,
        },
        {
          name: 'a simulator that is not there',
          args: ['connect', 'cronofy', '--no-browser'],
          env: { BATON_SIMULATOR: 'http://127.0.0.1:1' },
          code: 1,
        },
      ]),
    );
  }, 240_000);

  it('static credentials are checked before they are stored; --no-verify stores them, marked', async () => {
    const k = sim.discovery().vendors.checkbook.apiKeys.find((x) => x.params['environment'] === 'sandbox');
    const wrong = {
      BATON_CHECKBOOK_API_KEY: k?.apiKey as string,
      BATON_CHECKBOOK_API_SECRET: 'wrong-secret-123',
    };
    const other = {
      BATON_CHECKBOOK_API_KEY: k?.apiKey as string,
      BATON_CHECKBOOK_API_SECRET: k?.apiSecret as string,
    };
    check(
      await matrix([
        {
          name: 'wrong secret',
          args: ['connect', 'checkbook', '--env', 'sandbox', '--id', 'cb-wrong', '--mode', 'api_key'],
          env: wrong,
          code: 1,
          stderr:
            /Checkbook's identity endpoint refused these credentials \(HTTP 401\); nothing was stored\.\n→ Check the API key \(they must be the sandbox ones\), or pass --no-verify/,
        },
        {
          name: 'sandbox credentials used for production',
          args: ['connect', 'checkbook', '--env', 'production', '--id', 'cb-prod', '--mode', 'api_key'],
          env: other,
          code: 1,
          stderr: /refused these credentials .*nothing was stored\.\n→ .*production ones/,
        },
        {
          name: '--no-verify',
          args: [
            'connect',
            'checkbook',
            '--env',
            'sandbox',
            '--id',
            'cb-unverified',
            '--mode',
            'api_key',
            '--no-verify',
          ],
          env: wrong,
          code: 0,
          stdout: /Connected cb-unverified .*\n! Stored WITHOUT verification \(--no-verify\)/,
        },
      ]),
    );
    const shown = await run(['show', 'cb-wrong'], env);
    expect(shown.code).toBe(1);
    const unverified = await run(
      [
        'connect',
        'checkbook',
        '--env',
        'sandbox',
        '--id',
        'cb-u2',
        '--mode',
        'api_key',
        '--no-verify',
        '--json',
      ],
      { ...env, ...wrong },
    );
    expect(JSON.parse(unverified.stdout)).toMatchObject({ id: 'cb-u2', verified: false });
    // doctor calls the identity endpoint for API-key connections too.
    const doctor = JSON.parse((await run(['doctor', 'cb-unverified', '--json'], env)).stdout) as {
      checks: { check: string; level: string; remediation?: string }[];
    };
    expect(doctor.checks.find((c) => c.check === 'connection cb-unverified')).toMatchObject({
      level: 'fail',
      remediation: 'Store the right credentials: baton reconnect cb-unverified --api-key <key>',
    });
  });

  it('read-only commands create no store, directory or key file; a store that is down is an error', async () => {
    const missing = join(dir, 'nonexistent', 'dir');
    const store = `sqlite:${join(missing, 'x.db')}`;
    const home = join(dir, 'fresh-home');
    const noKey = { BATON_SECRET_KEY: '', BATON_HOME: home, BATON_SIMULATOR: '' };
    const absent = [join(dir, 'nonexistent'), home];
    const rows: Row[] = [
      {
        name: 'list',
        args: ['--store', store, 'list'],
        code: 0,
        stderr: /No connections yet: The store sqlite:.*x\.db does not exist; nothing was created\./,
        absent,
      },
      {
        name: 'list --json',
        args: ['--store', store, 'list', '--json'],
        code: 0,
        stdout: /^\[\]\n$/,
        absent,
      },
      {
        name: 'show',
        args: ['--store', store, 'show', 'a'],
        code: 1,
        stderr: /does not exist; nothing was created/,
        absent,
      },
      {
        name: 'token',
        args: ['--store', store, 'token', 'a'],
        code: 1,
        stderr: /does not exist; nothing was created/,
        absent,
      },
      { name: 'request', args: ['--store', store, 'request', 'a', 'x'], code: 1, absent },
      { name: 'refresh', args: ['--store', store, 'refresh', 'a'], code: 1, absent },
      { name: 'revoke', args: ['--store', store, 'revoke', 'a', '--yes'], code: 1, absent },
      { name: 'remove', args: ['--store', store, 'remove', 'a', '--yes'], code: 1, absent },
      { name: 'logout', args: ['--store', store, 'logout', 'a', '--yes'], code: 1, absent },
      { name: 'reconnect', args: ['--store', store, 'reconnect', 'a'], code: 1, absent },
      {
        name: 'doctor',
        args: ['--store', store, 'doctor'],
        code: 0,
        stdout: /! store: The store sqlite:.* does not exist/,
        absent,
      },
      { name: 'default store, no key', args: ['list'], env: { ...noKey, BATON_STORE: '' }, code: 0, absent },
      {
        name: 'doctor, no key',
        args: ['doctor'],
        env: { ...noKey, BATON_STORE: '' },
        code: 0,
        stdout: /secret.key does not exist yet/,
        absent,
      },
      {
        name: 'key file missing for an existing store',
        args: ['list'],
        env: noKey,
        code: 1,
        stderr: /The key file .*fresh-home\/secret.key does not exist; nothing was created/,
        absent: [home],
      },
      {
        name: 'migrate --from a missing store',
        args: [
          'migrate',
          '--from',
          `sqlite:${join(dir, 'nope.db')}`,
          '--to',
          `sqlite:${join(dir, 'out.db')}`,
        ],
        code: 2,
        stderr: /--from sqlite:.*nope\.db: the store does not exist; nothing was copied or created/,
        absent: [join(dir, 'nope.db'), join(dir, 'out.db')],
      },
      {
        name: 'PostgreSQL on a closed port',
        args: ['--store', 'postgres://postgres@127.0.0.1:1/x', 'list'],
        code: 1,
        stderr: /error .*\n→ /,
      },
      {
        name: 'BATON_HOME is a file',
        args: ['list'],
        env: { BATON_HOME: join(dir, 'a-file'), BATON_STORE: '' },
        code: 1,
        stderr: /BATON_HOME \(.*a-file\) is a file, not a directory\.\n→ Point BATON_HOME at a directory/,
      },
    ];
    writeFileSync(join(dir, 'a-file'), 'x');
    check(await matrix(rows));
  });

  it('request: CR/LF in a header, a method that is not a token and a missing @file are refused before any request', async () => {
    const before = sim.counters().api.checkfront;
    check(
      await matrix([
        {
          name: 'CRLF in a header value',
          args: ['request', 'desk', 'api/3.0/ping', '-H', 'X-A: 1\r\nX-Injected: 2'],
          code: 2,
          stderr: /The value of header X-A contains a line break or NUL; nothing was sent/,
        },
        { name: 'LF alone', args: ['request', 'desk', 'api/3.0/ping', '-H', 'X-A: 1\nX-B: 2'], code: 2 },
        {
          name: 'a header name with a space',
          args: ['request', 'desk', 'api/3.0/ping', '-H', 'X A: 1'],
          code: 2,
          stderr: /not a valid token/,
        },
        {
          name: 'no colon',
          args: ['request', 'desk', 'api/3.0/ping', '-H', 'nocolon'],
          code: 2,
          stderr: /Write headers as -H "Name: value"/,
        },
        {
          name: 'a method with a space',
          args: ['request', 'desk', 'api/3.0/ping', '-X', 'GET /evil'],
          code: 2,
          stderr: /-X "GET \/evil" is not an HTTP method; nothing was sent/,
        },
        {
          name: 'a method with CRLF',
          args: ['request', 'desk', 'api/3.0/ping', '-X', 'GET\r\nX: 1'],
          code: 2,
        },
        {
          name: '-d @missing',
          args: ['request', 'desk', 'api/3.0/ping', '-X', 'POST', '-d', `@${join(dir, 'missing.json')}`],
          code: 2,
          stderr: /-d @.*missing\.json: the file could not be read \(ENOENT\); nothing was sent/,
        },
        {
          name: '-d @directory',
          args: ['request', 'desk', 'api/3.0/ping', '-X', 'POST', '-d', `@${dir}`],
          code: 2,
          stderr: /could not be read \(EISDIR\)/,
        },
        {
          name: 'CRLF, --json',
          args: ['--json', 'request', 'desk', 'x', '-H', 'X: a\rb'],
          code: 2,
          jsonError: { code: 'usage_error' },
        },
      ]),
    );
    expect(sim.counters().api.checkfront).toBe(before);
  });

  it('other commands: confirmations, not found, bad values; usage errors are JSON under --json', async () => {
    check(
      await matrix([
        {
          name: 'revoke without --yes off a terminal',
          args: ['revoke', 'desk'],
          code: 2,
          stderr:
            /baton revoke desk changes what is stored and needs confirmation, and this is not a terminal\.\n→ Pass --yes to confirm: baton revoke desk --yes/,
        },
        { name: 'remove without --yes', args: ['remove', 'desk'], code: 2, stderr: /--yes/ },
        { name: 'logout without --yes', args: ['logout', 'desk'], code: 2, stderr: /--yes/ },
        {
          name: 'remove nope',
          args: ['remove', 'nope', '--yes'],
          code: 1,
          stderr: /No connection named "nope"/,
        },
        {
          name: '--json remove nope',
          args: ['--json', 'remove', 'nope', '--yes'],
          code: 1,
          jsonError: { code: 'connection_not_found', connectionId: 'nope' },
        },
        {
          name: 'remove --json nope (flag after)',
          args: ['remove', 'nope', '--yes', '--json'],
          code: 1,
          jsonError: { code: 'connection_not_found' },
        },
        { name: 'show nope', args: ['show', 'nope'], code: 1, stderr: /→ Check the id with `baton list`/ },
        {
          name: 'token of a token pair (the fast path declines, the full command explains)',
          args: ['token', 'desk'],
          code: 1,
          stderr:
            /uses token_pair credentials and has no access token\.\n→ Use `baton request desk <path>`, which sends the right credentials/,
        },
        { name: 'token nope', args: ['token', 'nope'], code: 1, stderr: /No connection named "nope"/ },
        {
          name: 'reconnect nope',
          args: ['reconnect', 'nope'],
          code: 1,
          stderr: /No connection named "nope"/,
        },
        { name: 'unknown command', args: ['conect'], code: 2, stderr: /Did you mean connect\?/ },
        {
          name: 'a config file that is not JSON, with a secret beside the error',
          args: ['--config', join(dir, 'broken.json'), 'list'],
          code: 1,
          stderr: /broken\.json is not valid JSON/,
        },
        {
          name: 'unknown command, --json',
          args: ['conect', '--json'],
          code: 2,
          jsonError: { code: 'usage_error', message: expect.stringMatching(/unknown command 'conect'/) },
        },
        {
          name: 'unknown option, --json',
          args: ['list', '--bogus', '--json'],
          code: 2,
          jsonError: { name: 'UsageError', code: 'usage_error' },
        },
        {
          name: 'missing argument, --json',
          args: ['--json', 'show'],
          code: 2,
          jsonError: { code: 'usage_error', message: expect.stringMatching(/missing required argument/) },
        },
        {
          name: 'bad --timeout, --json',
          args: ['--json', 'connect', 'cronofy', '--timeout', 'x'],
          code: 2,
          jsonError: { code: 'usage_error' },
        },
        {
          name: 'completion for an unknown shell',
          args: ['completion', 'tcsh'],
          code: 2,
          stderr: /Use baton completion bash, zsh or fish/,
        },
        {
          name: 'config set an unknown key',
          args: ['config', 'set', 'colour', 'red'],
          code: 2,
          stderr: /"colour" is not a setting/,
        },
        {
          name: 'config set a bad store',
          args: ['config', 'set', 'store', 'nope'],
          code: 2,
          stderr: /"nope" is not a store/,
        },
        {
          name: 'import without JSON',
          args: ['import', 'x', '--provider', 'cronofy'],
          input: 'not json',
          code: 2,
          stderr: /The tokens on standard input are not JSON; nothing was stored/,
        },
        {
          name: 'import without accessToken',
          args: ['import', 'x', '--provider', 'cronofy'],
          input: '{"refreshToken":"r"}',
          code: 2,
          stderr: /have no accessToken/,
        },
        {
          name: 'import with a bad expiry',
          args: ['import', 'x', '--provider', 'cronofy'],
          input: '{"accessToken":"a","expiresAt":"soon"}',
          code: 2,
          stderr: /expiresAt that is not a date/,
        },
        {
          name: 'import for a provider without OAuth2',
          args: ['import', 'x', '--provider', 'checkissuing', '--env', 'sandbox'],
          input: '{"accessToken":"abc"}',
          code: 1,
          stderr: /does not issue OAuth2 user tokens/,
        },
        {
          name: 'import of a token the provider refuses',
          args: ['import', 'x', '--provider', 'cronofy'],
          input: '{"accessToken":"not-a-real-token"}',
          code: 1,
          stderr: /refused the access token \(HTTP 401\); nothing was stored/,
        },
        {
          name: 'migrate without --to',
          args: ['migrate', '--from', 'sqlite:x.db'],
          code: 2,
          stderr: /required option '--to <store>'/,
        },
        {
          name: 'simulate with a bad port',
          args: ['simulate', '--port', 'x'],
          code: 2,
          stderr: /--port x is not a port/,
        },
        {
          name: 'providers nope',
          args: ['providers', 'nope'],
          code: 1,
          stderr: /Baton does not know the provider "nope"/,
        },
      ]),
    );
  }, 240_000);

  it('1. one error reporter: a piped or pasted callback that fails is a sentence, never a stack', async () => {
    const cronofy = ['connect', 'cronofy', '--id', 'bob', '-p', 'dataCenter=us'];
    check(
      await matrix([
        {
          name: 'garbage piped, browser opening (the reported instance)',
          args: cronofy,
          env: { BROWSER: 'true' },
          input: 'garbage\n',
          code: 1,
          stderr:
            /error Cronofy rejected the authorization code\.\n→ The authorization code was rejected \(codes are single-use and short-lived\); start the authorization again/,
        },
        {
          name: 'a pasted callback with a wrong state',
          args: [...cronofy, '--no-browser'],
          input: 'http://127.0.0.1:9/callback?code=x&state=wrong\n',
          code: 1,
          stderr: /error No pending authorization matches the state of this callback\.\n→ /,
        },
        {
          name: 'garbage piped, --json',
          args: [...cronofy, '--json'],
          env: { BROWSER: 'true' },
          input: 'garbage\n',
          code: 1,
          jsonError: {
            code: 'authorization_invalid_code',
            remediation: expect.not.stringMatching(/Checkfront/),
          },
        },
      ]),
    );
    // As a user runs it: a real shell, a pipe, the installed binary. (Asynchronously: the
    // simulator answers from this process.)
    const shell = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(
        'bash',
        [
          '-c',
          `echo garbage | "${process.execPath}" dist/cli/bin.cjs connect cronofy --id bob -p dataCenter=us`,
        ],
        { env: { PATH: process.env['PATH'] ?? '', ...env, NO_COLOR: '1', BROWSER: 'true' } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (status) => {
        clearTimeout(limit);
        done({ status, stdout, stderr });
      });
    });
    transcript.push(shell.stdout, shell.stderr);
    expect(shell.status, shell.stderr).toBe(1);
    expect(shell.stderr).toMatch(/^error Cronofy rejected the authorization code\.\n→ .*promptly\.$/m);
    expect(shell.stderr).not.toMatch(/AuthorizationError|errorFromResponse|\n\s+at /);
    // 6. The abandoned connects above left no pending authorization behind.
    const doctor = JSON.parse((await run(['doctor', '--json'], env)).stdout) as {
      checks: { check: string; message: string }[];
    };
    expect(doctor.checks.find((c) => c.check === 'pending authorizations')).toBeUndefined();
    expect(doctor.checks.find((c) => c.check === 'keys')?.message).not.toMatch(/pending/);
  }, 240_000);

  it('2. a message quotes what was typed exactly (the tidier does not touch quoted input)', async () => {
    const results = await matrix([
      {
        name: 'a path with .. segments',
        args: ['request', 'desk', '../../checkfront/acme/api/3.0/ping'],
        code: 2,
        stderr: /"\.\.\/\.\.\/checkfront\/acme\/api\/3\.0\/ping"/,
      },
      {
        name: 'the same, --json',
        args: ['request', 'desk', '../../checkfront/acme/api/3.0/ping', '--json'],
        code: 2,
        jsonError: { message: expect.stringContaining('"../../checkfront/acme/api/3.0/ping"') },
      },
    ]);
    check(results);
    for (const { ran } of results)
      expect(ran.stderr).not.toMatch(/"\.\/checkfront|"\.\/\.\/|has a "\." segment/);
  }, 240_000);

  /**
   * 3. Every option that takes a value, of every command: a bad value exits 2 with a sentence
   * (what is wrong → what to type); what is not there exits 1. Options that take any text (a
   * name, a filter, a note) say why instead of a row; the test below checks nothing is missed.
   */
  const busy = () => new URL(sim.url).port;
  const BAD_VALUES: Record<string, Row[] | string> = {
    ' --store': [
      {
        name: '',
        args: ['--store', 'bogus:xyz', 'list'],
        code: 2,
        stderr: /--store "bogus:xyz" is not a store\.\n→ Use --store with 'sqlite:<path>'/,
      },
    ],
    ' --key-file': [
      {
        name: '',
        args: ['--key-file', '/nonexistent/baton.key', 'list'],
        env: { BATON_SECRET_KEY: '' },
        code: 1,
        stderr: /The key file \/nonexistent\/baton\.key does not exist; nothing was created/,
      },
    ],
    ' --config': [
      {
        name: '',
        args: ['--config', 'nope.json', 'list'],
        code: 1,
        stderr: /The config file nope\.json does not exist/,
      },
    ],
    ' --simulator': [
      {
        name: '',
        args: ['--simulator', 'notaurl', 'list'],
        code: 2,
        stderr: /--simulator "notaurl" is not an http\(s\) URL\.\n→ Give the full URL/,
      },
    ],
    'demo --db': 'a path; the file is created (owned by the demo --db work)',
    'demo --callers': [
      {
        name: '',
        args: ['demo', '--callers', '0'],
        code: 2,
        stderr: /--callers 0 is not a whole number from 1 to 1000/,
      },
      {
        name: '',
        args: ['demo', '--callers', 'abc'],
        code: 2,
        stderr: /--callers abc is not a whole number/,
      },
    ],
    'simulate --seed': [
      {
        name: 'empty',
        args: ['simulate', '--seed', ''],
        code: 2,
        stderr: /--seed is empty\.\n→ Give --seed/,
      },
    ],
    'simulate --state':
      'a file path: a file that is not JSON is exit 1 and left alone (test/cli/simulator-dev.test.ts)',
    'simulate --port': [
      {
        name: 'busy',
        args: ['simulate', '--port', 'BUSY'],
        code: 1,
        stderr:
          /The simulator could not listen on 127\.0\.0\.1:\d+ \(EADDRINUSE: the port is in use\)\.\n→ Pick another --port/,
      },
    ],
    'simulate --migration-port': [
      {
        name: '',
        args: ['simulate', '--migration-port', 'abc'],
        code: 2,
        stderr: /--migration-port abc is not a port/,
      },
    ],
    'simulate --consent': [
      {
        name: '',
        args: ['simulate', '--consent', 'maybe'],
        code: 2,
        stderr: /--consent maybe is not a mode/,
      },
    ],
    'simulate --cronofy-rotation': [
      {
        name: '',
        args: ['simulate', '--cronofy-rotation', 'x'],
        code: 2,
        stderr: /--cronofy-rotation x is not a mode/,
      },
    ],
    'providers add --issuer': [
      {
        name: '',
        args: ['providers', 'add', 'acme', '--issuer', 'notaurl'],
        code: 2,
        stderr: /--issuer "notaurl" is not an issuer/,
      },
    ],
    'providers add --scope': [
      {
        name: '',
        args: ['providers', 'add', 'acme', '--issuer', 'https://id.example.com', '--scope', 'a b'],
        code: 2,
        stderr: /--scope "a b" is not a scope/,
      },
    ],
    'connect --id': [
      {
        name: '',
        args: ['connect', 'cronofy', '--id', 'a b', '--no-browser'],
        code: 2,
        stderr: /--id "a b" is not a connection id/,
      },
    ],
    'connect --param': [
      {
        name: '',
        args: ['connect', 'cronofy', '-p', 'dataCenter=mars', '--no-browser'],
        code: 2,
        stderr: /"mars" is not a Cronofy dataCenter/,
      },
    ],
    'connect --env': [
      {
        name: '',
        args: ['connect', 'checkissuing', '--env', 'staging'],
        code: 2,
        stderr: /"staging" is not a Checkissuing environment/,
      },
    ],
    'connect --scope': [
      {
        name: '',
        args: ['connect', 'cronofy', '--scope', '', '--no-browser'],
        code: 2,
        stderr: /--scope names no scope/,
      },
    ],
    'connect --mode': [
      {
        name: '',
        args: ['connect', 'cronofy', '--mode', 'magic'],
        code: 2,
        stderr: /--mode magic is not an auth mode/,
      },
    ],
    'connect --port': [
      {
        name: '',
        args: ['connect', 'cronofy', '--port', '70000'],
        code: 2,
        stderr: /--port 70000 is not a port/,
      },
    ],
    'connect --redirect-uri': [
      {
        name: '',
        args: ['connect', 'cronofy', '--redirect-uri', 'notaurl'],
        code: 2,
        stderr: /--redirect-uri "notaurl" is not a URL/,
      },
    ],
    'connect --timeout': [
      {
        name: '',
        args: ['connect', 'cronofy', '--timeout', '0'],
        code: 2,
        stderr: /--timeout 0 is not a number of seconds/,
      },
    ],
    'connect --api-key': 'any text; checked at the identity endpoint (wrong key: exit 1, rows above)',
    'reconnect --port': [
      { name: '', args: ['reconnect', 'desk', '--port', 'abc'], code: 2, stderr: /--port abc is not a port/ },
    ],
    'reconnect --redirect-uri': [
      {
        name: '',
        args: ['reconnect', 'desk', '--redirect-uri', '::'],
        code: 2,
        stderr: /--redirect-uri "::" is not a URL/,
      },
    ],
    'reconnect --timeout': [
      {
        name: '',
        args: ['reconnect', 'desk', '--timeout', 'abc'],
        code: 2,
        stderr: /--timeout abc is not a number of seconds/,
      },
    ],
    'reconnect --api-key': 'any text; checked at the identity endpoint',
    'mcp connect --id': [
      {
        name: '',
        args: ['mcp', 'connect', 'https://mcp.example.com/mcp', '--id', 'a b'],
        code: 2,
        stderr: /--id "a b" is not a connection id/,
      },
    ],
    'mcp connect --scope': [
      {
        name: '',
        args: ['mcp', 'connect', 'https://mcp.example.com/mcp', '--scope', ''],
        code: 2,
        stderr: /--scope names no scope/,
      },
    ],
    'mcp connect --port': [
      {
        name: '',
        args: ['mcp', 'connect', 'https://mcp.example.com/mcp', '--port', 'abc'],
        code: 2,
        stderr: /--port abc is not a port/,
      },
    ],
    'mcp connect --redirect-uri': [
      {
        name: '',
        args: ['mcp', 'connect', 'https://mcp.example.com/mcp', '--redirect-uri', 'notaurl'],
        code: 2,
        stderr: /--redirect-uri "notaurl" is not a URL/,
      },
    ],
    'mcp connect --timeout': [
      {
        name: '',
        args: ['mcp', 'connect', 'https://mcp.example.com/mcp', '--timeout', '0'],
        code: 2,
        stderr: /--timeout 0 is not a number of seconds/,
      },
    ],
    'import --provider': [
      {
        name: '',
        args: ['import', 'x', '--provider', 'nope'],
        code: 1,
        stderr: /Baton does not know the provider "nope"/,
      },
    ],
    'import --param': [
      {
        name: '',
        args: ['import', 'x', '--provider', 'cronofy', '-p', 'dataCenter=mars'],
        input: '{"accessToken":"a"}',
        code: 2,
        stderr: /"mars" is not a Cronofy dataCenter/,
      },
    ],
    'import --env': [
      {
        name: '',
        args: ['import', 'x', '--provider', 'checkissuing', '--env', 'staging'],
        input: '{"accessToken":"a"}',
        code: 2,
        stderr: /"staging" is not a Checkissuing environment/,
      },
    ],
    'list --limit': [
      {
        name: '',
        args: ['list', '--limit', '0'],
        code: 2,
        stderr: /--limit 0 is not a positive whole number/,
      },
    ],
    'list --after': 'any id: the page after it',
    'list --provider': 'a filter: connections of a provider no longer configured are still listed',
    'list --status': [
      { name: '', args: ['list', '--status', 'bogus'], code: 2, stderr: /--status bogus is not a status/ },
    ],
    'list --prefix': 'a filter on ids',
    'request --method': [
      { name: '', args: ['request', 'desk', 'x', '-X', 'GET /'], code: 2, stderr: /is not an HTTP method/ },
    ],
    'request --header': [
      {
        name: '',
        args: ['request', 'desk', 'x', '-H', 'nocolon'],
        code: 2,
        stderr: /Write headers as -H "Name: value"/,
      },
    ],
    'request --data': [
      {
        name: '',
        args: ['request', 'desk', 'x', '-X', 'POST', '-d', '@/nonexistent'],
        code: 2,
        stderr: /could not be read \(ENOENT\)/,
      },
    ],
    'migrate --from': [
      {
        name: '',
        args: ['migrate', '--from', 'bogus', '--to', 'memory:'],
        code: 2,
        stderr: /--from "bogus" is not a store/,
      },
    ],
    'migrate --to': [
      {
        name: '',
        args: ['migrate', '--from', 'memory:', '--to', 'bogus'],
        code: 2,
        stderr: /--to "bogus" is not a store/,
      },
    ],
    'migrate --batch-size': [
      {
        name: '',
        args: ['migrate', '--from', 'a.db', '--to', 'b.db', '--batch-size', '0'],
        code: 2,
        stderr: /--batch-size 0 is not a positive whole number/,
      },
    ],
    'rekey --batch-size': [
      {
        name: '',
        args: ['rekey', '--batch-size', 'x'],
        code: 2,
        stderr: /--batch-size x is not a positive whole number/,
      },
    ],
    'serve --host': [
      {
        name: '',
        args: ['serve', '--host', 'nonexistent.invalid', '--port', '0'],
        code: 1,
        stderr: /could not listen on nonexistent\.invalid:0 \(ENOTFOUND\)\.\n→ Check --host/,
      },
    ],
    'serve --proxy-timeout': [
      {
        name: '',
        args: ['serve', '--proxy-timeout', 'soon'],
        code: 2,
        stderr: /"soon" is not a duration\.\n→ Write --proxy-timeout as a number and a unit/,
      },
      { name: 'zero', args: ['serve', '--proxy-timeout', '0'], code: 2, stderr: /"0" is not a duration/ },
    ],
    'serve --port': [{ name: '', args: ['serve', '--port', 'x'], code: 2, stderr: /"x" is not a port/ }],
    'serve --public-url': [
      {
        name: '',
        args: ['serve', '--public-url', 'notaurl'],
        code: 2,
        stderr: /--public-url "notaurl" is not an http\(s\) URL/,
      },
    ],
    'serve --log-level': [
      { name: '', args: ['serve', '--log-level', 'loud'], code: 2, stderr: /"loud" is not a log level/ },
    ],
    'serve --connect-return-url': [
      {
        name: '',
        args: ['serve', '--connect-return-url', 'notaurl'],
        code: 2,
        stderr: /--connect-return-url "notaurl" is not an http\(s\) URL/,
      },
    ],
    ...Object.fromEntries(
      [
        'audit-retention',
        'shutdown-timeout',
        'connect-session-ttl',
        'webhook-retry-window',
        'webhook-retry-base',
        'webhook-retry-max',
        'webhook-timeout',
        'webhook-poll',
      ].map((f) => [
        `serve --${f}`,
        [
          {
            name: '',
            args: ['serve', `--${f}`, 'soon'],
            code: 2,
            stderr: new RegExp(`"soon" is not a duration\\.\\n→ Write --${f} as a number and a unit`),
          },
        ],
      ]),
    ),
    'keys create --name': 'any text: the name shown in the audit log',
    'keys create --allow': [
      {
        name: '',
        args: ['keys', 'create', '--name', 'k', '--allow', 'bad glob!'],
        code: 2,
        stderr: /"bad glob!" is not a connection id glob/,
      },
    ],
    'keys create --ops': [
      {
        name: 'the reported instance',
        args: ['keys', 'create', '--name', 'k', '--allow', '*', '--ops', 'reed'],
        code: 2,
        stderr:
          /"reed" is not an operation a caller key can hold\.\n→ Use some of read, token, proxy, manage\./,
      },
    ],
    'audit --connection': 'a filter on connection ids',
    'audit --since': [
      { name: '', args: ['audit', '--since', 'abc'], code: 2, stderr: /"abc" is not a duration/ },
    ],
    'audit --limit': [
      { name: '', args: ['audit', '--limit', 'abc'], code: 2, stderr: /"abc" is not a row count/ },
    ],
    'webhooks add --events': [
      {
        name: '',
        args: ['webhooks', 'add', 'https://x.example', '--events', 'nope'],
        code: 2,
        stderr: /"nope" is not a webhook event/,
      },
    ],
    'webhooks add --allow': [
      {
        name: '',
        args: ['webhooks', 'add', 'https://x.example', '--allow', 'bad glob!'],
        code: 2,
        stderr: /"bad glob!" is not a connection id glob/,
      },
    ],
    'webhooks add --description': 'any text: a note',
    'webhooks deliveries --id': [
      {
        name: 'not found',
        args: ['webhooks', 'deliveries', '--id', 'dlv_nope'],
        code: 1,
        stderr: /No delivery has the id "dlv_nope"/,
      },
    ],
    'webhooks deliveries --endpoint': 'a filter',
    'webhooks deliveries --event': 'a filter',
    'webhooks deliveries --connection': 'a filter',
    'webhooks deliveries --status': [
      {
        name: '',
        args: ['webhooks', 'deliveries', '--status', 'lost'],
        code: 2,
        stderr: /"lost" is not a delivery status/,
      },
    ],
    'webhooks deliveries --limit': [
      { name: '', args: ['webhooks', 'deliveries', '--limit', '0'], code: 2, stderr: /"0" is not a count/ },
    ],
  };

  it('3. every option that takes a value has a bad-value row (or says why any text is fine)', async () => {
    const { buildProgram } = await import('../../src/cli/program.js');
    const delegated = await Promise.all([
      import('../../src/cli/commands/serve.js').then((m) => m.serveCommand),
      import('../../src/cli/commands/keys.js').then((m) => m.keysCommand),
      import('../../src/cli/commands/audit.js').then((m) => m.auditCommand),
      import('../../src/cli/commands/webhooks.js').then((m) => m.webhooksCommand),
    ]);
    const seen: string[] = [];
    const walk = (cmd: Command, path: string[]) => {
      for (const o of cmd.options) if (o.required || o.optional) seen.push(`${path.join(' ')} ${o.long}`);
      for (const sub of cmd.commands)
        if (path.length > 0 || !['serve', 'keys', 'audit', 'webhooks'].includes(sub.name()))
          walk(sub, [...path, sub.name()]);
    };
    // biome-ignore lint/suspicious/noExplicitAny: the program only keeps the CLI for its actions
    const cli = {} as any;
    walk(buildProgram(cli, '0'), []);
    for (const make of delegated) {
      const cmd = make(cli);
      walk(cmd, [cmd.name()]);
    }
    expect(seen.length).toBeGreaterThan(60);
    expect(seen.filter((k) => !(k in BAD_VALUES))).toEqual([]);
  }, 240_000);

  it('3. every command × bad value: 2 with a sentence; what is not there: 1', async () => {
    const rows: Row[] = Object.entries(BAD_VALUES).flatMap(([key, value]) =>
      typeof value === 'string'
        ? []
        : value.map((r) => ({
            ...r,
            name: `${key}${r.name ? ` (${r.name})` : ''}`,
            args: r.args.map((a) => (a === 'BUSY' ? busy() : a)),
          })),
    );
    rows.push(
      {
        name: 'keys create without --name',
        args: ['keys', 'create'],
        code: 2,
        stderr: /required option '--name <name>' not specified/,
      },
      {
        name: 'webhooks add notaurl',
        args: ['webhooks', 'add', 'notaurl'],
        code: 2,
        stderr: /"notaurl" is not a URL\.\n→ Give the full URL/,
      },
      {
        name: 'webhooks remove wh_nope',
        args: ['webhooks', 'remove', 'wh_nope'],
        code: 1,
        stderr: /No webhook endpoint has the id "wh_nope"/,
      },
      {
        name: 'webhooks redeliver nope',
        args: ['webhooks', 'redeliver', 'dlv_nope'],
        code: 1,
        stderr: /No delivery or event has the id "dlv_nope"/,
      },
      ...['disable', 'enable', 'revoke'].map((op) => ({
        name: `keys ${op} nope`,
        args: ['keys', op, 'nope'],
        code: 1,
        stderr: /No caller key is named "nope"\.\n→ See the names with `baton keys list`\./,
      })),
      {
        name: 'mcp connect notaurl',
        args: ['mcp', 'connect', 'notaurl'],
        code: 2,
        stderr:
          /"notaurl" is not an MCP server URL: it must be an absolute http\(s\) URL\.\n→ Give the MCP server’s URL/,
      },
      {
        name: 'mcp show nope',
        args: ['mcp', 'show', 'nope'],
        code: 1,
        stderr: /No connection named "nope" is stored/,
      },
      {
        name: 'mcp show of a connection that is not an MCP one',
        args: ['mcp', 'show', 'desk'],
        code: 1,
        stderr:
          /Connection "desk" is a checkfront connection, not an MCP one\.\n→ See it with `baton show desk`/,
      },
      {
        name: 'BATON_STORE bogus',
        args: ['list'],
        env: { BATON_STORE: 'bogus:xyz' },
        code: 2,
        stderr: /BATON_STORE "bogus:xyz" is not a store/,
      },
      {
        name: '--store bogus, --json',
        args: ['--store', 'bogus:xyz', 'list', '--json'],
        code: 2,
        jsonError: { code: 'usage_error' },
      },
    );
    check(await matrix(rows));
  }, 240_000);

  it('5. a required choice is asked on a terminal and a usage error off one; defaults are printed', async () => {
    const results = await matrix([
      {
        name: 'connect checkissuing (no environment)',
        args: ['connect', 'checkissuing'],
        code: 2,
        stderr:
          /Checkissuing needs an environment \(.*\), and this is not a terminal to ask on\.\n→ Pass --env production or --env sandbox\./,
      },
      {
        name: 'connect cronofy (a default data center)',
        args: ['connect', 'cronofy', '--timeout', '1', '--no-browser'],
        code: 1,
        stderr:
          /^Using dataCenter=us, the default; pass --param dataCenter=<au\|ca\|de\|sg\|uk> for another\.\n(.|\n)*Open this URL to authorize cronofy-us:/,
      },
    ]);
    check(results);
    // 6. Off a terminal too, connect says what it waits for and until when.
    expect(results.find((r) => r.row.args.includes('cronofy'))?.ran.stderr).toMatch(
      /Waiting for the redirect until .* \(\d+ s\)\./,
    );
    expect((await run(['show', 'checkissuing'], env)).code).toBe(1);
  }, 240_000);

  it('4. --replace and reconnect keep the stored params; another account is refused off a terminal', async () => {
    const consentAs = async (args: string[], account: string): Promise<Ran> => {
      const p = start(args, { ...env, BROWSER: 'true' }, dir, 60_000);
      const url = new URL((await waitFor(p, /(http:\/\/\S+\/oauth\/authorize\S+)/, 50_000))[1] as string);
      url.searchParams.set('sim_account', account);
      const consent = await fetch(url, { redirect: 'manual' });
      await consent.text();
      await (await fetch(consent.headers.get('location') as string)).text();
      return p.done;
    };
    const shown = async (id: string) =>
      JSON.parse((await run(['show', id, '--json'], env)).stdout) as {
        params: Record<string, string>;
        account: { email?: string } | null;
        version: number;
      };
    const first = await consentAs(['connect', 'cronofy', '--id', 'alice', '-p', 'dataCenter=de'], 'alice');
    expect(first.code, first.stderr).toBe(0);
    const replaced = await consentAs(['connect', 'cronofy', '--id', 'alice', '--replace'], 'alice');
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stderr).not.toMatch(/Using dataCenter/);
    expect((await shown('alice')).params).toEqual({ dataCenter: 'de' });
    const before = await shown('alice');
    const other = await consentAs(['reconnect', 'alice'], 'bob');
    expect(other.code, other.stderr).toBe(2);
    expect(other.stderr).toMatch(
      /Connection "alice" was authorized as alice@example\.com, and this authorization was for \S+; the connection was put back as it was\.\n→ .*baton reconnect alice --allow-account-change/,
    );
    const after = await shown('alice');
    expect(after.account?.email).toBe('alice@example.com');
    expect(after.params).toEqual({ dataCenter: 'de' });
    expect(after.version).toBeGreaterThan(before.version);
    expect((await run(['token', 'alice'], env)).code).toBe(0);
    const allowed = await consentAs(['reconnect', 'alice', '--allow-account-change'], 'bob');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await shown('alice')).account?.email).toBe('bob@example.com');
  }, 240_000);

  it('6. what it shows: refresh tokens, provider facts, help', async () => {
    const [list, show, cronofy, webhooks, help] = await Promise.all([
      run(['list'], env),
      run(['show', 'alice'], env),
      run(['providers', 'cronofy'], env),
      run(['webhooks', '--help'], env),
      run(['--help'], env),
    ]);
    expect(list.stdout).toMatch(/REFRESH EXPIRES/);
    expect(list.stdout).toMatch(/^alice .* no expiry$/m);
    expect(show.stdout).toMatch(/refresh token\s+held, no expiry given/);
    // A provider that documents no token lifetime (one added by its issuer, like acme).
    const { providerLines } = await import('../../src/cli/commands/inspect.js');
    const { paint } = await import('../../src/cli/format.js');
    const { ProviderRegistry } = await import('../../src/providers/registry.js');
    const acme = { ...ProviderRegistry.create({}).get('cronofy'), id: 'acme', defaultExpiresIn: null };
    const lines = providerLines(
      { out: paint(false) } as never,
      { ...acme, id: 'acme' },
      undefined,
      undefined,
    );
    expect(lines.find((l) => l.includes('token lifetime'))).toMatch(
      /token lifetime: as the provider says; refresh/,
    );
    expect(cronofy.stdout.match(/us, au, ca, de, sg, uk/g)?.length).toBe(1);
    expect(webhooks.stdout).toMatch(/redeliver <id>/);
    expect(help.stdout).not.toMatch(/\[args\.\.\.\]/);
    expect(help.stdout).toMatch(/^Start here:/);
    expect(help.stdout).toMatch(/webhooks .*redeliver/s);
  }, 240_000);

  it('7. the CLI speaks CLI: store failures are sentences saying what to do', async () => {
    writeFileSync(join(dir, 'not-a-db.db'), 'this is not SQLite');
    const pg = process.env['BATON_TEST_POSTGRES_URL'];
    const rows: Row[] = [
      {
        name: 'SQLite: not a database',
        args: ['--store', `sqlite:${join(dir, 'not-a-db.db')}`, 'list'],
        code: 1,
        stderr:
          /could not open: the file is not a SQLite database \(SQLITE_NOTADB\)\.\n→ Point --store \(or BATON_STORE\) at Baton's database file/,
      },
      {
        name: 'SQLite: its directory is a file',
        args: [
          '--store',
          `sqlite:${join(dir, 'not-a-db.db', 'x.db')}`,
          'connect',
          'checkissuing',
          '--env',
          'sandbox',
        ],
        code: 1,
        stderr:
          /could not open: the file cannot be opened or created there .*\n→ Make the directory of .* writable by this user, or point --store \(or BATON_STORE\) at another file\./,
      },
      {
        name: 'a store flag that is no store: no pg.Pool on the command line',
        args: ['--json', '--store', 'bogus:xyz', 'list'],
        code: 2,
        jsonError: { remediation: expect.not.stringMatching(/pg\.Pool|a Store/) },
      },
      {
        name: 'PostgreSQL: connection refused',
        args: ['--store', 'postgres://postgres@127.0.0.1:1/x', 'list'],
        code: 1,
        stderr:
          /nothing accepts connections at 127\.0\.0\.1:1 \(ECONNREFUSED\)\.\n→ Start PostgreSQL, or fix the host and port in --store/,
      },
      {
        name: 'PostgreSQL: host not found',
        args: ['--store', 'postgres://postgres@nonexistent.invalid/x', 'list'],
        code: 1,
        stderr: /the host of nonexistent\.invalid is not found \(DNS\) \(ENOTFOUND\)/,
      },
    ];
    if (pg) {
      const url = new URL(pg);
      rows.push(
        {
          name: 'PostgreSQL: a user that does not exist',
          args: ['--store', `postgres://no_such_user_baton@${url.host}${url.pathname}`, 'list'],
          code: 1,
          stderr:
            /the server refused the user name or password \(28000\)\.\n→ Check the user and password in --store/,
        },
        {
          name: 'PostgreSQL: a database that does not exist',
          args: ['--store', `postgres://${url.username}@${url.host}/no_such_db_baton`, 'list'],
          code: 1,
          stderr: /the database it names does not exist \(3D000\)\.\n→ Create the database/,
        },
      );
    }
    const results = await matrix(rows);
    check(results);
    for (const { ran } of results) expect(ran.stderr).not.toMatch(/migrations ran|in code:|Baton\.open/);
    // The library's reauthorization hint names its call; the CLI's, the command.
    const { ReauthorizationRequired } = await import('../../src/errors.js');
    const { cliRemediation } = await import('../../src/cli/runtime.js');
    const err = new ReauthorizationRequired('gone', { connectionId: 'alice' });
    expect(err.remediation).toMatch(/baton\.beginAuthorization\(\)/);
    expect(cliRemediation(err)).toBe(
      'Authorize it again with its stored provider, params and client: baton reconnect alice',
    );
  }, 240_000);

  it('messages end in one full stop and no output carried a secret', () => {
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toMatch(/[^.]\.\.(\s|$)/);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
