import { fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type Ran, run, start, transcript, waitFor } from '../cli/run.js';
import { type EngineName, engines, type McpWorld, mcpWorld } from './helpers.js';
import { type SdkServer, startSdkServer } from './sdk-server.js';

/**
 * `baton mcp connect | list | show`, and `token`, `doctor`, `reconnect`, `revoke` on MCP
 * connections: the built dist/cli/bin.cjs against the simulator's MCP persona and an MCP server
 * built with the SDK, on SQLite and PostgreSQL (README, "Agents and MCP"). The browser is the
 * test: it reads the authorization URL the command prints, consents at the simulator and
 * follows the redirect to the command's loopback listener (RFC 8252) — or, with no terminal,
 * pipes the callback URL to the command's standard input.
 */

let w: McpWorld | null = null;
let sdk: SdkServer | null = null;
/** Every secret any world held: no output may carry one. */
const secrets = new Set<string>();

afterEach(async () => {
  await sdk?.close();
  sdk = null;
  await w?.close();
  w = null;
});

const AUTHORIZE = /(http:\/\/127\.0\.0\.1:\d+\/mcp\/authorize\S+)/;

async function world(engine: EngineName): Promise<{ w: McpWorld; env: Record<string, string> }> {
  w = await mcpWorld(engine);
  const mcp = w.sim.discovery().vendors.mcp;
  for (const c of mcp.clients) secrets.add(c.clientSecret);
  if (mcp.introspection) secrets.add(mcp.introspection.clientSecret);
  secrets.add(w.secretKey);
  return {
    w,
    env: {
      BATON_STORE: w.storeSpec as string,
      BATON_SECRET_KEY: w.secretKey,
      BATON_HOME: w.dir,
      // What `open` runs when there is no desktop: a command that does nothing.
      BROWSER: 'true',
    },
  };
}

/** Runs a connect that waits for the browser, and plays the browser: consent, then the redirect. */
async function authorize(
  args: string[],
  env: Record<string, string>,
  how: { decision?: 'approve' | 'deny'; paste?: boolean } = {},
): Promise<Ran> {
  const p = start(args, env, undefined, 25_000);
  const url = new URL((await waitFor(p, AUTHORIZE, 20_000))[1] as string);
  url.searchParams.set('sim_decision', how.decision ?? 'approve');
  const consent = await fetch(url, { redirect: 'manual' });
  await consent.text();
  const callback = consent.headers.get('location') as string;
  if (how.paste) {
    // No terminal: the callback URL arrives on a pipe, as a person on another machine pastes it.
    p.child.stdin?.end(`  ${callback}  \n`);
  } else {
    const page = await fetch(callback);
    await page.text();
  }
  const ran = await p.done;
  if (ran.timedOut) throw new Error(`baton ${args.join(' ')} did not exit:\n${ran.stderr}`);
  return ran;
}

/** `baton token` prints a token by design: its output leaves the secrets scan. */
async function tokenOf(id: string, env: Record<string, string>): Promise<Ran> {
  const ran = await run(['token', id], env);
  transcript.splice(transcript.length - 2, 2);
  return ran;
}

const json = <T = Record<string, unknown>>(text: string) => JSON.parse(text) as T;

interface DoctorCheck {
  check: string;
  level: 'ok' | 'warn' | 'fail';
  link?: string;
  message: string;
  remediation?: string;
}

async function doctor(env: Record<string, string>, id: string): Promise<{ ran: Ran; checks: DoctorCheck[] }> {
  const ran = await run(['doctor', id, '--json'], env);
  return { ran, checks: json<{ checks: DoctorCheck[] }>(ran.stdout).checks };
}

const links = (checks: DoctorCheck[]) => checks.filter((c) => c.link).map((c) => [c.link, c.level]);
const firstBroken = (checks: DoctorCheck[]) => checks.find((c) => c.link && c.level === 'fail');

/** The tokens and the registered client's secret, for the scan: read in-process, never printed. */
async function plant(world: McpWorld, id: string): Promise<void> {
  const secretsOf = await world.baton.reveal(id);
  if (secretsOf.tokens?.accessToken) secrets.add(secretsOf.tokens.accessToken);
  if (secretsOf.tokens?.refreshToken) secrets.add(secretsOf.tokens.refreshToken);
  const info = await world.baton.get(id);
  // A Baton without a redirect URI of its own takes the stored client as it is.
  const reader = await world.open({ mcp: {} });
  // A configured client's secret is planted already (the simulator's); none is obtained here.
  if (!(await reader.mcp.heldClient(info.provider))) return;
  const server = await reader.mcp.discover(info.params['resource'] as string);
  const client = await reader.mcp.client(server, { connectionId: id });
  if (client.clientSecret) secrets.add(client.clientSecret);
}

for (const engine of engines('sqlite', 'postgres')) {
  describe(`baton mcp on ${engine}`, () => {
    it('connect → list → show → token → doctor healthy → reconnect → revoke → doctor says it needs authorizing again', async () => {
      const { w, env } = await world(engine);
      const server = w.sim.mcp.resource;
      const connected = await authorize(['mcp', 'connect', server, '--id', 'tools', '--no-browser'], env);
      expect(connected.code, connected.stderr).toBe(0);
      expect(connected.stdout).toMatch(new RegExp(`Connected tools to the MCP server ${server}`));
      expect(connected.stdout).toMatch(new RegExp(`issuer\\s+${w.sim.mcp.issuer}\\n`));
      expect(connected.stdout).toMatch(new RegExp(`resource\\s+${server}\\n`));
      expect(connected.stdout).toMatch(/scopes\s+tools:read\n/);
      expect(connected.stdout).toMatch(/client\s+mcp_dcr_\S+ \(registered by Baton, RFC 7591\)/);
      expect(connected.stderr).toMatch(/Waiting for the redirect until/);
      await plant(w, 'tools');

      const list = await run(['mcp', 'list'], env);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/^ID\s+SERVER\s+ISSUER\s+STATUS\s+SCOPES\s+TOKEN EXPIRES/);
      expect(list.stdout).toMatch(
        new RegExp(`^tools\\s+${server}\\s+${w.sim.mcp.issuer}\\s+active\\s+tools:read`, 'm'),
      );
      const listed = json<Record<string, unknown>[]>((await run(['mcp', 'list', '--json'], env)).stdout);
      expect(listed).toEqual([
        expect.objectContaining({
          id: 'tools',
          server,
          resource: server,
          issuer: w.sim.mcp.issuer,
          status: 'active',
          scopes: ['tools:read'],
        }),
      ]);

      const shown = json((await run(['mcp', 'show', 'tools', '--json'], env)).stdout);
      expect(shown).toMatchObject({
        id: 'tools',
        server,
        issuer: w.sim.mcp.issuer,
        provider: `mcp:${w.sim.mcp.issuer}`,
        client: { kind: 'registered', clientId: expect.stringMatching(/^mcp_dcr_/) },
        status: 'active',
        scopes: ['tools:read'],
      });
      expect(shown['accessTokenExpiresAt']).toBeGreaterThan(Date.now());
      const text = await run(['mcp', 'show', 'tools'], env);
      expect(text.stdout).toMatch(/status\s+active/);
      expect(text.stdout).toMatch(/access token\s+expires in/);

      const token = await tokenOf('tools', env);
      expect(token.code, token.stderr).toBe(0);
      expect(w.sim.tokenStatus(token.stdout.trim())).toBe('live');

      const healthy = await doctor(env, 'tools');
      expect(healthy.ran.code, healthy.ran.stdout).toBe(0);
      expect(links(healthy.checks)).toEqual([
        ['server', 'ok'],
        ['resource_metadata', 'ok'],
        ['authorization_server', 'ok'],
        ['iss', 'ok'],
        ['client', 'ok'],
        ['token', 'ok'],
      ]);
      expect(healthy.checks.find((c) => c.check === 'introspection tools')?.level).toBe('ok');

      // Reconnect: the stored server again, on the registered client's own loopback port.
      const again = await authorize(['reconnect', 'tools', '--no-browser'], env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/Authorized again tools to the MCP server/);
      expect(w.sim.mcp.counters().registrations).toBe(1);
      await plant(w, 'tools');

      const current = await tokenOf('tools', env);
      expect(w.sim.tokenStatus(current.stdout.trim())).toBe('live');
      const oob = await run(['reconnect', 'tools', '--oob'], env);
      expect(oob.code).toBe(2);
      expect(oob.stderr).toMatch(
        /--oob is for a provider that shows the code .*\n→ Drop --oob: baton reconnect tools/,
      );
      const revoked = await run(['revoke', 'tools', '--yes'], env);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toMatch(/tools revoked at the provider and marked revoked/);
      expect(w.sim.tokenStatus(current.stdout.trim())).not.toBe('live');
      const after = await doctor(env, 'tools');
      expect(after.ran.code).toBe(1);
      expect(firstBroken(after.checks)).toMatchObject({
        link: 'token',
        message: expect.stringMatching(/revoked: it needs authorizing again/),
        remediation: 'Authorize it again: baton reconnect tools',
      });
      const plainDoctor = await run(['doctor', 'tools'], env);
      expect(plainDoctor.stdout).toMatch(/✗ mcp tools token: the connection was revoked/);
      const tokenAfter = await tokenOf('tools', env);
      expect(tokenAfter.code).toBe(3);
    }, 120_000);

    it('doctor and connect name the broken link: resource metadata gone, the authorization server down, no way to a client', async () => {
      const { w, env } = await world(engine);
      const server = w.sim.mcp.resource;
      expect((await authorize(['mcp', 'connect', server, '--id', 'tools', '--no-browser'], env)).code).toBe(
        0,
      );
      await plant(w, 'tools');

      w.sim.mcp.configure({ resourceMetadataServed: false });
      const noPrm = await doctor(env, 'tools');
      expect(noPrm.ran.code).toBe(1);
      expect(links(noPrm.checks)).toEqual([
        ['server', 'ok'],
        ['resource_metadata', 'fail'],
      ]);
      expect(firstBroken(noPrm.checks)?.message).toMatch(/publishes no resource metadata \(HTTP 404 at /);
      const connectNoPrm = await run(
        ['mcp', 'connect', server, '--id', 'other', '--no-browser', '--json'],
        env,
      );
      expect(connectNoPrm.code).toBe(1);
      expect(json<{ error: Record<string, unknown> }>(connectNoPrm.stderr).error).toMatchObject({
        code: 'mcp_resource_metadata',
        link: 'resource_metadata',
        message: expect.stringMatching(
          /^The MCP discovery chain broke at its resource metadata \(RFC 9728\): /,
        ),
      });

      w.sim.mcp.configure({ resourceMetadataServed: true, authorizationServerUp: false });
      const asDown = await doctor(env, 'tools');
      expect(asDown.ran.code).toBe(1);
      expect(links(asDown.checks)).toEqual([
        ['server', 'ok'],
        ['resource_metadata', 'ok'],
        ['authorization_server', 'fail'],
      ]);
      expect(firstBroken(asDown.checks)?.message).toMatch(/does not answer with its metadata: .*HTTP 503/);
      const connectDown = await run(['mcp', 'connect', server, '--id', 'other', '--no-browser'], env);
      expect(connectDown.code).toBe(1);
      expect(connectDown.stderr).toMatch(
        /^error The MCP discovery chain broke at its authorization server's metadata \(RFC 8414\): .*did not answer now/m,
      );
      expect(connectDown.stderr).toMatch(/^→ Check that the authorization server is up/m);

      // No registration endpoint, and the registered client forgotten: nothing to authorize with.
      w.sim.mcp.configure({ authorizationServerUp: true, dcr: false });
      w.sim.mcp.evictClients();
      const noClient = await run(['mcp', 'connect', server, '--id', 'other', '--no-browser'], env);
      expect(noClient.code).toBe(1);
      expect(noClient.stderr).toMatch(
        /broke at the client at its authorization server: .* offers no way for Baton to obtain a client/,
      );
      expect(noClient.stderr).toMatch(
        /→ Register a client at .* BATON_MCP_HTTP___127_0_0_1_\d+_MCP_CLIENT_ID/,
      );
      const forgot = await doctor(env, 'tools');
      expect(firstBroken(forgot.checks)?.link).toBe('client');
      // Nothing was stored by the refused connects.
      expect(json<unknown[]>((await run(['mcp', 'list', '--json'], env)).stdout)).toHaveLength(1);
      w.sim.mcp.configure({ dcr: true });
    }, 120_000);

    it('a registered client the server evicted: doctor says so, and connect registers again before the browser', async () => {
      const { w, env } = await world(engine);
      const server = w.sim.mcp.resource;
      expect((await authorize(['mcp', 'connect', server, '--id', 'tools', '--no-browser'], env)).code).toBe(
        0,
      );
      const before = json<{ client: { clientId: string } }>(
        (await run(['mcp', 'show', 'tools', '--json'], env)).stdout,
      );
      w.sim.mcp.evictClients();
      const evicted = await doctor(env, 'tools');
      expect(firstBroken(evicted.checks)).toMatchObject({
        link: 'client',
        message: expect.stringMatching(/no longer accepts the client mcp_dcr_\S+ \(invalid_client\)/),
      });
      const again = await authorize(['mcp', 'connect', server, '--id', 'tools', '--no-browser'], env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(
        /no longer accepts the client Baton registered \(mcp_dcr_\S+\); registered again as mcp_dcr_/,
      );
      const after = json<{ client: { clientId: string; kind: string } }>(
        (await run(['mcp', 'show', 'tools', '--json'], env)).stdout,
      );
      expect(after.client.kind).toBe('registered');
      expect(after.client.clientId).not.toBe(before.client.clientId);
      expect(w.sim.mcp.counters().registrations).toBe(2);
      await plant(w, 'tools');
      const healthy = await doctor(env, 'tools');
      expect(healthy.ran.code, healthy.ran.stdout).toBe(0);
    }, 120_000);

    it('a pre-registered client from the environment: nothing registered, shown as configured', async () => {
      const { w, env } = await world(engine);
      const pre = w.sim.discovery().vendors.mcp.clients[0] as { clientId: string; clientSecret: string };
      const prefix = `BATON_MCP_${w.sim.mcp.issuer.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
      const withClient = {
        ...env,
        [`${prefix}_CLIENT_ID`]: pre.clientId,
        [`${prefix}_CLIENT_SECRET`]: pre.clientSecret,
      };
      const connected = await authorize(
        ['mcp', 'connect', w.sim.mcp.resource, '--id', 'pre', '--no-browser'],
        withClient,
      );
      expect(connected.code, connected.stderr).toBe(0);
      expect(connected.stdout).toMatch(
        new RegExp(`client\\s+${pre.clientId} \\(configured, pre-registered\\)`),
      );
      expect(w.sim.mcp.counters().registrations).toBe(0);
      expect(json((await run(['mcp', 'show', 'pre', '--json'], withClient)).stdout)).toMatchObject({
        client: { clientId: pre.clientId, kind: 'configured' },
      });
      const healthy = await doctor(withClient, 'pre');
      expect(healthy.ran.code, healthy.ran.stdout).toBe(0);
      expect(healthy.checks.find((c) => c.link === 'client')?.message).toMatch(
        /\(configured\): the token endpoint authenticated the client/,
      );
      // Its tokens, read by a Baton that has the client too.
      const withIt = await w.open({
        clients: { [`mcp:${w.sim.mcp.issuer}`]: { clientId: pre.clientId, clientSecret: pre.clientSecret } },
      });
      const held = await withIt.reveal('pre');
      for (const t of [held.tokens?.accessToken, held.tokens?.refreshToken]) if (t) secrets.add(t);
      expect(secrets.has(held.tokens?.accessToken as string)).toBe(true);
    }, 120_000);

    it('the SDK-built MCP server: connect, token, doctor through its 405 for a GET', async () => {
      const { w, env } = await world(engine);
      sdk = await startSdkServer(w.sim);
      const connected = await authorize(['mcp', 'connect', sdk.url, '--no-browser', '--json'], env);
      expect(connected.code, connected.stderr).toBe(0);
      const id = new URL(sdk.url).port ? `127.0.0.1-${new URL(sdk.url).port}` : '127.0.0.1';
      expect(json(connected.stdout)).toMatchObject({ id, server: sdk.url, issuer: w.sim.mcp.issuer });
      await plant(w, id);
      const token = await tokenOf(id, env);
      expect(w.sim.tokenStatus(token.stdout.trim())).toBe('live');
      const healthy = await doctor(env, id);
      expect(healthy.ran.code, healthy.ran.stdout).toBe(0);
      expect(healthy.checks.find((c) => c.link === 'token')?.message).toMatch(
        /the MCP server takes it \(HTTP 405\)/,
      );
    }, 120_000);

    it('sloppy input: spaces around the URL, the callback pasted on a pipe, consent refused, ids with odd bytes', async () => {
      const { w, env } = await world(engine);
      const server = w.sim.mcp.resource;
      // No terminal (stdin is a pipe): the callback URL pasted there, with spaces, completes it.
      const pasted = await authorize(['mcp', 'connect', `  ${server}  `, '--id', 'piped', '--no-open'], env, {
        paste: true,
      });
      expect(pasted.code, pasted.stderr).toBe(0);
      expect(pasted.stdout).toMatch(new RegExp(`Connected piped to the MCP server ${server}\\n`));
      await plant(w, 'piped');
      // The default id is the host and port.
      const port = new URL(server).port;
      const byHost = await authorize(['mcp', 'connect', server, '--no-browser'], env);
      expect(byHost.code, byHost.stderr).toBe(0);
      expect(byHost.stdout).toMatch(new RegExp(`Connected 127\\.0\\.0\\.1-${port} `));
      await plant(w, `127.0.0.1-${port}`);

      const denied = await authorize(['mcp', 'connect', server, '--id', 'denied', '--no-browser'], env, {
        decision: 'deny',
      });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^error .*denied/m);
      expect(denied.stderr).toMatch(/^→ The account owner declined access; ask them to approve it/m);
      expect((await run(['mcp', 'show', 'denied'], env)).code).toBe(1);

      // A non-MCP connection is said to be one, with where to look instead.
      await w.baton.connect({
        provider: 'checkbook',
        connectionId: 'plain',
        params: { environment: 'sandbox' },
        authMode: 'api_key',
        credentials: { apiKey: 'planted-api-key-5512' },
        verify: false,
      });
      secrets.add('planted-api-key-5512');
      const rows: [string[], number, RegExp][] = [
        [
          ['mcp', 'show', 'pi\u0001ped'],
          2,
          /"pi\\u0001ped" is not a connection id: it has control characters/,
        ],
        [['mcp', 'show', 'nope'], 1, /No connection named "nope" is stored/],
        [['mcp', 'connect', server, '--id', 'tools '], 2, /--id "tools " is not a connection id/],
        [['mcp', 'connect', server, '--id', 'a\u001bb'], 2, /--id "a\\u001bb" is not a connection id/],
        [
          ['mcp', 'connect', server, '--id', 'plain'],
          1,
          /Connection "plain" already exists \(checkbook, api_key, active\)\.\n→ Choose another id with --id, or pass --replace/,
        ],
      ];
      for (const [args, code, stderr] of rows) {
        const r = await run(args, env);
        expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(code);
        expect(r.stderr).toMatch(stderr);
        expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
      }
      const plain = await run(['mcp', 'show', 'plain'], env);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toBe(
        'error Connection "plain" is a checkbook connection, not an MCP one.\n→ See it with `baton show plain`; `baton mcp list` lists the MCP connections.\n',
      );
      expect(
        json<{ id: string }[]>((await run(['mcp', 'list', '--json'], env)).stdout).map((c) => c.id),
      ).toEqual([`127.0.0.1-${port}`, 'piped']);
      // --replace makes the id an MCP connection, authorized like any other.
      const replaced = await authorize(
        ['mcp', 'connect', server, '--id', 'plain', '--replace', '--no-browser'],
        env,
      );
      expect(replaced.code, replaced.stderr).toBe(0);
      expect(json((await run(['mcp', 'show', 'plain', '--json'], env)).stdout)).toMatchObject({
        server,
        status: 'active',
      });
      await plant(w, 'plain');
    }, 120_000);
  });
}

describe('baton mcp connect: a bad URL or flag is a usage error before anything is opened', () => {
  it('exits 2 with what to type instead', async () => {
    const env = { BATON_HOME: '/nonexistent/baton-home', BATON_STORE: 'sqlite:/nonexistent/baton.db' };
    const rows: [string[], RegExp][] = [
      [
        ['mcp', 'connect', 'ftp://mcp.example.com/mcp'],
        /"ftp:\/\/mcp\.example\.com\/mcp" is not an MCP server URL/,
      ],
      [
        ['mcp', 'connect', 'not a url'],
        /"not a url" is not an MCP server URL: it must be an absolute http\(s\) URL/,
      ],
      [['mcp', 'connect', ''], /"" is not an MCP server URL/],
      [['mcp', 'connect', 'http://mcp.example.com/mcp'], /is plain http on a host that is not loopback/],
      [['mcp', 'connect', 'https://mcp.example.com/mcp#x'], /has a fragment/],
      [
        ['mcp', 'connect', 'https://u:planted-url-password-8841@mcp.example.com/mcp'],
        /carries a user name or password/,
      ],
      [['mcp', 'connect', 'https://mcp.example.com/mcp', '--scope', 'a b'], /--scope "a b" is not a scope/],
      [['mcp', 'connect', 'https://mcp.example.com/mcp', '--port', '70000'], /--port 70000 is not a port/],
      [
        ['mcp', 'connect', 'https://mcp.example.com/mcp', '--timeout', '0'],
        /--timeout 0 is not a number of seconds/,
      ],
      [['mcp', 'connect'], /missing required argument 'url'/],
      [['mcp', 'nope'], /unknown command 'nope'/],
    ];
    secrets.add('planted-url-password-8841');
    for (const [args, stderr] of rows) {
      const r = await run(args, env);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(stderr);
    }
    const asJson = await run(['mcp', 'connect', 'ftp://x', '--json'], env);
    expect(json<{ error: { code: string } }>(asJson.stderr).error.code).toBe('usage_error');
  });
});

describe('what baton mcp printed', () => {
  it('carried no token, refresh token, client secret, key or password planted above', () => {
    // Every byte any command printed in this file.
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(secrets.size).toBeGreaterThan(4);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
