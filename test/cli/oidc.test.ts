import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { Baton } from '../../src/core/baton.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';
import { run, transcript } from './run.js';

/** One authorization server and one directory for a describe block's tests, gone after them. */
function serverAndDir(options?: Parameters<typeof startOidcProvider>[0]): { op: OidcServer; dir: string } {
  const shared = {} as { op: OidcServer; dir: string };
  let cleanup: () => void = () => undefined;
  beforeAll(async () => {
    shared.op = await startOidcProvider(options);
    ({ dir: shared.dir, cleanup } = tempDir());
  });
  afterAll(async () => {
    await shared.op.close();
    cleanup();
  });
  return shared;
}

describe('baton providers show, for a provider given by its issuer', () => {
  const shared = serverAndDir();

  it('says what the issuer published and the endpoints Baton will use', async () => {
    const { op, dir } = shared;
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ providers: { acme: { issuer: op.issuer } } }),
    );
    const env = { BATON_HOME: dir, BATON_SECRET_KEY: randomKey() };
    const text = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`discovered at:  ${op.issuer}/.well-known/openid-configuration`);
    expect(text.stdout).toContain(`token:          ${op.issuer}/token`);
    expect(text.stdout).toMatch(/iss in callback: yes/);
    const asJson = JSON.parse((await run(['providers', 'acme', '--json'], env, undefined, dir)).stdout);
    expect(asJson).toMatchObject({
      issuer: op.issuer,
      tokenUrl: `${op.issuer}/token`,
      discovered: { jwksUri: `${op.issuer}/jwks`, authorizationResponseIssParameterSupported: true },
    });
  });

  it('a mismatched issuer exits with the configuration error code and its remediation', async () => {
    const { op, dir } = shared;
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ providers: { acme: { issuer: `${op.issuer}/other` } } }),
    );
    const r = await run(
      ['providers', 'show', 'acme'],
      { BATON_HOME: dir, BATON_SECRET_KEY: randomKey() },
      undefined,
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/publishes no metadata|names the issuer/);
  });

  it('baton doctor asks the introspection endpoint about each connection token', async () => {
    const { op, dir } = shared;
    const key = randomKey();
    const store = `sqlite:${join(dir, 'doctor.db')}`;
    const clients = { acme: op.client };
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ store, providers: { acme: { issuer: op.issuer, scopes: ['openid'] } }, clients }),
    );
    const baton = await Baton.open({
      store,
      secretKey: key,
      env: { BATON_HOME: dir },
      providers: { acme: { issuer: op.issuer, scopes: ['openid'] } },
      clients,
    });
    try {
      const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
      await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    } finally {
      await baton.close();
    }
    const r = await run(
      ['doctor', 'alice', '--json'],
      { BATON_HOME: dir, BATON_SECRET_KEY: key },
      undefined,
      dir,
    );
    const checks = (JSON.parse(r.stdout) as { checks: { check: string; level: string; message: string }[] })
      .checks;
    expect(checks.find((c) => c.check === 'introspection alice')).toMatchObject({
      level: 'ok',
      message: expect.stringContaining('active for alice'),
    });
    expect(r.stdout + r.stderr).not.toContain(op.client.clientSecret);
  });
});

describe('baton providers add', () => {
  let op: OidcServer;
  let dir: string;
  let env: Record<string, string>;
  const cleanups: (() => void)[] = [];
  const WELL_KNOWN = '/.well-known/openid-configuration';
  const PLANTED = 'planted-client-secret-5f2c9e1a77';
  const config = (name = 'baton.config.json') => join(dir, name);
  const add = (...args: string[]) => run(['providers', 'add', ...args], env, undefined, dir);
  beforeAll(async () => {
    op = await startOidcProvider();
  });
  afterAll(async () => {
    await op.close();
    // Nothing any command printed holds a client secret.
    const all = transcript.join('\n');
    expect(all).not.toContain(PLANTED);
    expect(all).not.toContain(op.client.clientSecret);
  });
  beforeEach(() => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    dir = tmp.dir;
    env = { BATON_HOME: dir, BATON_SECRET_KEY: randomKey(), BATON_ACME_CLIENT_SECRET: PLANTED };
  });
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('creates baton.config.json with the issuer and openid, prints the client variables and what was discovered; providers show then works from it', async () => {
    const r = await add('acme', '--issuer', op.issuer);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(config(), 'utf8'))).toEqual({
      providers: { acme: { issuer: op.issuer, scopes: ['openid'] } },
    });
    expect(r.stdout).toContain(`acme added to ${config()} (created): issuer ${op.issuer}, scopes openid`);
    expect(r.stdout).toContain(`discovered at:  ${op.issuer}${WELL_KNOWN}`);
    expect(r.stdout).toContain(`token:          ${op.issuer}/token`);
    expect(r.stdout).toMatch(/iss in callback: yes/);
    for (const name of ['CLIENT_ID', 'CLIENT_SECRET', 'PRIVATE_KEY', 'KEY_ID', 'REDIRECT_URI'])
      expect(r.stdout).toContain(`BATON_ACME_${name}`);
    expect(r.stdout).toContain('Then: baton connect acme');
    expect(readFileSync(config(), 'utf8')).not.toContain(PLANTED);
    const shown = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`token:          ${op.issuer}/token`);
    expect(shown.stdout).toContain('scopes:         openid');
  });

  it('--dpop writes dpop: true, and the provider shows its tokens as DPoP-bound', async () => {
    const r = await add('acme', '--issuer', op.issuer, '--dpop');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(config(), 'utf8'))).toEqual({
      providers: { acme: { issuer: op.issuer, scopes: ['openid'], dpop: true } },
    });
    expect(r.stdout).toMatch(/DPoP-bound \(RFC 9449\)/);
  });

  it('--json says what was written and which variables to set', async () => {
    const r = await run(['providers', 'add', 'acme', '--issuer', op.issuer, '--json'], env, undefined, dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      id: 'acme',
      file: config(),
      created: true,
      replaced: false,
      entry: { issuer: op.issuer, scopes: ['openid'] },
      provider: expect.objectContaining({
        id: 'acme',
        tokenUrl: `${op.issuer}/token`,
        discovered: expect.objectContaining({ issuer: op.issuer, source: `${op.issuer}${WELL_KNOWN}` }),
      }),
      environment: [
        'BATON_ACME_CLIENT_ID',
        'BATON_ACME_CLIENT_SECRET',
        'BATON_ACME_PRIVATE_KEY',
        'BATON_ACME_KEY_ID',
        'BATON_ACME_REDIRECT_URI',
      ],
      warnings: [],
    });
  });

  it('writes into the config file in force, keeping its other settings; an existing or built-in id needs --force', async () => {
    const before = `${JSON.stringify(
      {
        store: `sqlite:${join(dir, 'kept.db')}`,
        clients: { acme: { clientId: 'kept-client' } },
        providers: { acme: { issuer: 'https://old.acme.test' }, other: { issuer: 'https://other.test' } },
      },
      null,
      2,
    )}\n`;
    writeFileSync(config(), before);
    const taken = await add('acme', '--issuer', op.issuer);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`The provider acme is already in ${config()}`);
    expect(taken.stderr).toContain('--force');
    const preset = await add('cronofy', '--issuer', op.issuer);
    expect(preset.code).toBe(2);
    expect(preset.stderr).toContain('cronofy is a built-in provider');
    expect(preset.stderr).toContain('cronofy-oidc');
    expect(readFileSync(config(), 'utf8')).toBe(before);
    // Found from a subdirectory, as every command finds it.
    const sub = join(dir, 'a', 'b');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub, { recursive: true });
    const forced = await run(
      [
        'providers',
        'add',
        'acme',
        '--issuer',
        op.issuer,
        '--scope',
        'openid,email',
        '-s',
        'profile',
        '--force',
      ],
      env,
      undefined,
      sub,
    );
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`acme replaced in ${config()}`);
    expect(existsSync(join(sub, 'baton.config.json'))).toBe(false);
    expect(JSON.parse(readFileSync(config(), 'utf8'))).toEqual({
      store: `sqlite:${join(dir, 'kept.db')}`,
      clients: { acme: { clientId: 'kept-client' } },
      providers: {
        acme: { issuer: op.issuer, scopes: ['openid', 'email', 'profile'] },
        other: { issuer: 'https://other.test' },
      },
    });
  });

  it('edits a YAML config file as a document: its comments survive', async () => {
    const yaml = [
      '# Baton for the acme app',
      'store: sqlite:./acme.db # next to the app',
      'providers:',
      '  # the legacy one',
      '  legacy: { issuer: https://legacy.test }',
      '',
    ].join('\n');
    writeFileSync(config('baton.config.yaml'), yaml);
    const r = await add('acme', '--issuer', op.issuer, '--scope', 'openid', '--scope', 'offline_access');
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(config('baton.config.yaml'), 'utf8');
    expect(text).toContain('# Baton for the acme app');
    expect(text).toContain('# next to the app');
    expect(text).toContain('# the legacy one');
    expect(YAML.parse(text)).toEqual({
      store: 'sqlite:./acme.db',
      providers: {
        legacy: { issuer: 'https://legacy.test' },
        acme: { issuer: op.issuer, scopes: ['openid', 'offline_access'] },
      },
    });
    expect(existsSync(config())).toBe(false);
    const shown = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('scopes:         openid offline_access');
  });

  it('a bad id, issuer or scope is a usage error (exit 2) before anything is read', async () => {
    const asked = op.requests.length;
    for (const args of [
      ['acme', '--issuer', 'not a url'],
      ['acme', '--issuer', 'http://id.example.com'],
      ['acme', '--issuer', `${op.issuer}/?tenant=1`],
      ['Acme!', '--issuer', op.issuer],
      ['acme', '--issuer', op.issuer, '--scope', 'a"b'],
      ['acme', '--issuer', op.issuer, '--scope', ','],
    ]) {
      const r = await add(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/error .+\n→ .+/);
    }
    const missing = await add('acme');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--issuer <url>' not specified");
    const json = await add('acme', '--issuer', 'ftp://id.example.com', '--json');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({
      error: { code: 'usage_error', message: expect.stringContaining('--issuer') },
    });
    expect(op.requests.length).toBe(asked);
    expect(existsSync(config())).toBe(false);
  });

  it('an unreachable issuer, or one publishing another issuer, exits 1 with the reason and what to do, and writes nothing', async () => {
    // At its root it publishes another issuer's document; under /partial, its own without a token
    // endpoint; under /html, a sign-in page.
    const impostor = createServer((req, res) => {
      const own = `http://${req.headers.host}/partial`;
      const docs: Record<string, object> = {
        [WELL_KNOWN]: {
          issuer: op.issuer,
          authorization_endpoint: `${op.issuer}/auth`,
          token_endpoint: `${op.issuer}/token`,
        },
        [`/partial${WELL_KNOWN}`]: { issuer: own, authorization_endpoint: `${own}/auth` },
      };
      if (req.url === `/html${WELL_KNOWN}`) {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>');
        return;
      }
      const doc = docs[req.url ?? ''];
      res
        .writeHead(doc ? 200 : 404, { 'content-type': 'application/json' })
        .end(doc ? JSON.stringify(doc) : 'not found');
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const impostorUrl = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
    try {
      const cases: { issuer: string; down?: boolean; message: RegExp; remediation: RegExp }[] = [
        {
          issuer: 'http://127.0.0.1:1',
          message: /Reading the acme metadata at http:\/\/127\.0\.0\.1:1\/\.well-known\/openid-configuration/,
          remediation: /→ Check the issuer URL and that http:\/\/127\.0\.0\.1:1 is reachable from here/,
        },
        {
          issuer: op.issuer,
          down: true,
          message: /acme's metadata at .+ answered HTTP 503/,
          remediation: /→ The authorization server is failing; run the command again later/,
        },
        {
          issuer: impostorUrl,
          message: /names the issuer ".+", not the configured ".+"/,
          remediation: /→ .*RFC 8414 §3\.3/,
        },
        {
          issuer: `${impostorUrl}/partial`,
          message: /Provider acme uses OAuth2 but lacks authorizationUrl or tokenUrl/,
          remediation: /→ Set tokenUrl/,
        },
        {
          issuer: `${impostorUrl}/html`,
          message: /is not JSON/,
          remediation: /→ Check the issuer configured for acme/,
        },
        {
          issuer: `${op.issuer}/elsewhere`,
          message: /publishes no metadata/,
          remediation: /→ Check the issuer URL/,
        },
      ];
      for (const withFile of [false, true]) {
        const before = '{\n  "providers": {}\n}\n';
        if (withFile) writeFileSync(config(), before);
        for (const c of cases) {
          op.metadataDown = c.down ?? false;
          const r = await add('acme', '--issuer', c.issuer);
          op.metadataDown = false;
          expect(r.code, c.issuer).toBe(1);
          expect(r.stderr).toMatch(c.message);
          expect(r.stderr).toMatch(c.remediation);
          expect(r.stderr).toContain(`Nothing was written to ${config()}.`);
          if (withFile) expect(readFileSync(config(), 'utf8')).toBe(before);
          else expect(existsSync(config())).toBe(false);
        }
      }
      const json = await add('acme', '--issuer', impostorUrl, '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'config_error', provider: 'acme' } });
    } finally {
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });
});

describe('baton providers show: where the metadata document came from', () => {
  const shared = serverAndDir();

  it('read from the issuer while no store exists (and none is created), then from the store once a Baton wrote it there', async () => {
    const { op, dir } = shared;
    const reads = () => op.requests.filter((r) => r.path === '/.well-known/openid-configuration').length;
    const key = randomKey();
    const env = { BATON_HOME: dir, BATON_SECRET_KEY: key };
    const providers = { acme: { issuer: op.issuer, scopes: ['openid'] } };
    writeFileSync(join(dir, 'baton.config.json'), JSON.stringify({ providers }));
    const first = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /metadata: +read from the issuer now; expires in 1 h \(\d{4}-\d\d-\d\dT.+Z\)/,
    );
    expect(existsSync(join(dir, 'baton.db'))).toBe(false);
    expect(reads()).toBe(1);
    const baton = await Baton.open({
      store: `sqlite:${join(dir, 'baton.db')}`,
      secretKey: key,
      providers,
      env: { BATON_HOME: dir },
    });
    await baton.close();
    expect(reads()).toBe(2);
    const cached = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stdout).toMatch(
      /metadata: +from the store's cache \(read from the issuer \d+ s ago\); expires in (59 m|1 h)/,
    );
    const json = JSON.parse((await run(['providers', 'show', 'acme', '--json'], env, undefined, dir)).stdout);
    expect(json.discovered).toMatchObject({
      readFrom: 'store',
      stale: false,
      source: `${op.issuer}/.well-known/openid-configuration`,
    });
    expect(json.discovered.expiresAt - json.discovered.fetchedAt).toBe(60 * 60_000);
    expect(reads()).toBe(2);
  });

  it('a store that cannot be opened is said on stderr, and the issuer is read instead', async () => {
    const { op } = shared;
    const broken = tempDir();
    try {
      writeFileSync(join(broken.dir, 'baton.db'), 'this is not a database');
      writeFileSync(
        join(broken.dir, 'baton.config.json'),
        JSON.stringify({ providers: { acme: { issuer: op.issuer } } }),
      );
      const env = { BATON_HOME: broken.dir, BATON_SECRET_KEY: randomKey() };
      const r = await run(['providers', 'show', 'acme'], env, undefined, broken.dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /^! The SQLite store at .+baton\.db could not open: the file is not a SQLite database \(SQLITE_NOTADB\)\. The issuer's metadata is read from the issuer\.$/m,
      );
      expect(r.stdout).toMatch(/metadata: +read from the issuer now/);
      expect(readFileSync(join(broken.dir, 'baton.db'), 'utf8')).toBe('this is not a database');
    } finally {
      broken.cleanup();
    }
  });
});

describe('the command line with a DPoP provider (RFC 9449)', () => {
  const shared = serverAndDir({
    client: { dpop_bound_access_tokens: true },
    config: {
      features: {
        devInteractions: { enabled: true },
        dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      },
    },
  });

  it('request sends proofs; token refuses and prints no token; providers show says the tokens are DPoP-bound', async () => {
    const { op, dir } = shared;
    const key = randomKey();
    const store = `sqlite:${join(dir, 'dpop.db')}`;
    const spec = { issuer: op.issuer, scopes: ['openid'], dpop: true, apiBaseUrl: `${op.issuer}/` };
    const clients = { acme: op.client };
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ store, providers: { acme: spec }, clients }),
    );
    const baton = await Baton.open({
      store,
      secretKey: key,
      env: { BATON_HOME: dir },
      providers: { acme: spec },
      clients,
    });
    let accessToken: string | undefined;
    try {
      const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
      await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
      accessToken = (await baton.reveal('alice')).tokens?.accessToken;
    } finally {
      await baton.close();
    }
    const env = { BATON_HOME: dir, BATON_SECRET_KEY: key };
    const called = await run(['request', 'alice', 'me'], env, undefined, dir);
    expect(called.code, called.stderr).toBe(0);
    expect(JSON.parse(called.stdout)).toMatchObject({ sub: 'alice' });
    const token = await run(['token', 'alice'], env, undefined, dir);
    expect(token.code).toBe(1);
    expect(token.stderr).toMatch(/sender-constrained \(DPoP\) token/);
    expect(token.stderr).toMatch(/baton request alice <path>/);
    const shown = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(shown.stdout).toMatch(/DPoP algs: +ES256/);
    expect(shown.stdout).toMatch(/DPoP-bound \(RFC 9449\)/);
    for (const r of [called, token, shown]) expect(r.stdout + r.stderr).not.toContain(accessToken as string);
  });
});
