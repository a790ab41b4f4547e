import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';
import { type Ran, run, transcript } from './run.js';

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
  for (const v of Object.values(sim.discovery().vendors)) {
    for (const c of v.clients) secrets.add(c.clientSecret);
    for (const k of v.apiKeys) if (k.apiSecret) secrets.add(k.apiSecret);
  }
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
          code: 1,
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
  });

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
            /uses token_pair credentials and has no access token\.\n→ Use baton.fetch\(\) \(or `baton request`\)/,
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
  });

  it('messages end in one full stop and no output carried a secret', () => {
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toMatch(/[^.]\.\.(\s|$)/);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
