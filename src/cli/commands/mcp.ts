import type { Baton } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import type { McpClientInfo, McpServer } from '../../core/mcp.js';
import { ConfigError, McpDiscoveryError, type McpLink } from '../../errors.js';
import { mcpIssuerOf } from '../../providers/mcp.js';
import { relative, table } from '../format.js';
import { type Cli, NoStore } from '../runtime.js';
import { checkId, parseScopes, UsageError } from '../usage.js';
import { browserAuthorization, type FlowOptions, find } from './connect.js';

/**
 * `baton mcp …`: connections to remote MCP servers from the command line (README, "Agents and
 * MCP"). The way in is the library's discovery chain (docs/architecture.md, "MCP"); what this
 * adds is the loopback redirect (RFC 8252), shared with `baton connect`, and words for people.
 */

export interface McpConnectOptions {
  id?: string;
  scope?: string[];
  replace?: boolean;
  browser: boolean;
  /** `--no-open`: the same as `--no-browser`. */
  open: boolean;
  port?: string;
  redirectUri?: string;
  timeout: number;
}

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/** The links of the chain as a person reads them. */
export const LINK_WORDS: Record<McpLink, string> = {
  server: 'the server',
  resource_metadata: 'its resource metadata (RFC 9728)',
  authorization_server: "its authorization server's metadata (RFC 8414)",
  client: 'the client at its authorization server',
};

const CLIENT_WORDS: Record<McpClientInfo['kind'], string> = {
  configured: 'configured, pre-registered',
  registered: 'registered by Baton, RFC 7591',
  metadata_document: 'a client metadata document',
};

/**
 * The server URL argument, checked before anything is opened or sent: an absolute http(s) URL
 * (http only on a loopback host), no fragment, no credentials. Spaces around it are dropped.
 */
export function serverUrlArg(value: string): string {
  const text = value.trim();
  const fix =
    'Give the MCP server’s URL as its operator publishes it, e.g. baton mcp connect https://mcp.example.com/mcp.';
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw new UsageError(
      `${JSON.stringify(value)} is not an MCP server URL: it must be an absolute http(s) URL.`,
      fix,
    );
  if (u.username || u.password)
    throw new UsageError(
      'The MCP server URL carries a user name or password; Baton authorizes with OAuth, not with credentials in the URL.',
      'Give the URL without them, e.g. https://mcp.example.com/mcp.',
    );
  if (u.hash)
    throw new UsageError(
      `${JSON.stringify(value)} has a fragment, which an MCP server URL cannot have.`,
      fix,
    );
  if (u.protocol === 'http:' && !LOOPBACK.includes(u.hostname))
    throw new UsageError(
      `${JSON.stringify(value)} is plain http on a host that is not loopback; tokens are only sent over https (http only to 127.0.0.1, localhost or [::1]).`,
      'Use the server’s https URL.',
    );
  return text;
}

/** `mcp.example.com`, or `127.0.0.1-4010` with a port: the host the connection is to. */
export function defaultMcpId(serverUrl: string): string {
  const u = new URL(serverUrl);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return (
    `${host}${u.port ? `-${u.port}` : ''}`.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'mcp'
  );
}

export function isMcp(info: Pick<ConnectionInfo, 'provider'>): boolean {
  return mcpIssuerOf(info.provider) !== null;
}

/** A broken link of the chain, said for the command line: which link, and what to do there. */
export function chainError(err: unknown, connectionId?: string): unknown {
  if (!(err instanceof McpDiscoveryError) || /^The MCP discovery chain broke/.test(err.message)) return err;
  let cliRemediation = err.cliRemediation;
  if (err.link === 'client' && err.provider) {
    const env = `BATON_${err.provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    cliRemediation = `Register a client at ${mcpIssuerOf(err.provider) ?? 'the authorization server'} with the redirect URI http://127.0.0.1:<port>/callback and give it to Baton: ${env}_CLIENT_ID, ${env}_CLIENT_SECRET and ${env}_REDIRECT_URI.`;
  }
  return new McpDiscoveryError(
    err.link,
    `The MCP discovery chain broke at ${LINK_WORDS[err.link]}: ${err.message}`,
    err.remediation,
    {
      url: err.url,
      cause: err,
      ...((connectionId ?? err.connectionId) ? { connectionId: connectionId ?? err.connectionId } : {}),
      ...(err.provider ? { provider: err.provider } : {}),
      ...(cliRemediation ? { cliRemediation } : {}),
    },
  );
}

async function chain<T>(fn: () => Promise<T>, connectionId?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw chainError(err, connectionId);
  }
}

function flowOf(
  opts: Pick<McpConnectOptions, 'browser' | 'open' | 'port' | 'redirectUri' | 'timeout'>,
): FlowOptions {
  return {
    browser: opts.browser && opts.open,
    timeout: opts.timeout,
    verify: false,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.redirectUri !== undefined ? { redirectUri: opts.redirectUri } : {}),
  };
}

interface McpPlan {
  id: string;
  serverUrl: string;
  server: McpServer;
  scopes: string[] | undefined;
  replace: boolean;
}

/**
 * The client to authorize with, checked first: one Baton registered that the authorization
 * server no longer accepts (`invalid_client`) is registered again in its place, so the browser
 * is never sent to a server that does not know the client.
 */
async function usableClient(cli: Cli, baton: Baton, plan: McpPlan): Promise<McpClientInfo | null> {
  const held = await baton.mcp.heldClient(plan.server.provider);
  if (held?.kind !== 'registered') return held;
  const check = await baton.verifyClient(plan.server.provider, { resource: plan.server.resource });
  if (check.result !== 'rejected') return held;
  const renewed = await chain(() => baton.mcp.renewClient(plan.server.provider), plan.id);
  if (!cli.json)
    cli.note(
      `${cli.err.yellow('!')} ${plan.server.issuer} no longer accepts the client Baton registered (${held.clientId})${renewed ? `; registered again as ${renewed.clientId}` : ''}.`,
    );
  return renewed;
}

async function authorizeMcp(
  cli: Cli,
  baton: Baton,
  plan: McpPlan,
  flow: FlowOptions,
): Promise<ConnectionInfo> {
  const held = await usableClient(cli, baton, plan);
  return browserAuthorization(
    cli,
    baton,
    {
      connectionId: plan.id,
      configured: held?.kind === 'configured' ? held.redirectUris[0] : undefined,
      // A registered client's loopback redirect URI is listened on again when its port is free:
      // the client fits, and nothing is registered.
      reuse: held?.kind === 'registered' ? held.redirectUris : [],
      begin: (redirectUri) =>
        chain(
          () =>
            baton.beginAuthorization({
              mcp: plan.serverUrl,
              connectionId: plan.id,
              ...(plan.scopes ? { scopes: plan.scopes } : {}),
              redirectUri,
              ...(plan.replace ? { replace: true } : {}),
            }),
          plan.id,
        ),
    },
    flow,
  );
}

/** An MCP connection as `--json` prints it: never a token, a secret or a client secret. */
function mcpJson(info: ConnectionInfo, client: { clientId: string | null; kind: string | null }) {
  return {
    id: info.id,
    server: info.params['resource'] ?? null,
    resource: info.params['resource'] ?? null,
    issuer: mcpIssuerOf(info.provider),
    provider: info.provider,
    status: info.status,
    scopes: info.scopes ?? [],
    client,
    accessTokenExpiresAt: info.accessTokenExpiresAt,
    refreshTokenExpiresAt: info.refreshTokenExpiresAt,
    lastRefreshedAt: info.lastRefreshedAt,
    lastError: info.lastError,
  };
}

/** Which client a connection holds, and how Baton got it. */
async function clientOf(
  baton: Baton,
  info: ConnectionInfo,
  heldBy: Map<string, Promise<McpClientInfo | null>> = new Map(),
): Promise<{ clientId: string | null; kind: McpClientInfo['kind'] | 'replaced' | null }> {
  // One read of the stored registration per authorization server, however many connections.
  let reading = heldBy.get(info.provider);
  if (!reading) {
    reading = baton.mcp.heldClient(info.provider).catch(() => null);
    heldBy.set(info.provider, reading);
  }
  const held = await reading;
  if (!info.clientId) return { clientId: null, kind: held?.kind ?? null };
  if (held && held.clientId === info.clientId) return { clientId: info.clientId, kind: held.kind };
  // An earlier client: one Baton registered before (still in use), or one it replaced.
  return { clientId: info.clientId, kind: held?.kind === 'configured' ? 'replaced' : 'registered' };
}

async function printConnected(cli: Cli, baton: Baton, info: ConnectionInfo, again: boolean): Promise<void> {
  const client = await clientOf(baton, info);
  if (cli.json) return cli.printJson(mcpJson(info, client));
  const rows: [string, string][] = [
    ['server', info.params['resource'] ?? '—'],
    ['resource', info.params['resource'] ?? '—'],
    ['issuer', mcpIssuerOf(info.provider) ?? '—'],
    ['scopes', info.scopes?.join(' ') || '—'],
    [
      'client',
      client.clientId
        ? `${client.clientId}${client.kind && client.kind !== 'replaced' ? ` (${CLIENT_WORDS[client.kind]})` : ''}`
        : '—',
    ],
    ['id', info.id],
  ];
  cli.print(
    `${cli.out.green('✓')} ${again ? 'Authorized again' : 'Connected'} ${cli.out.bold(info.id)} to the MCP server ${info.params['resource'] ?? ''}`,
  );
  cli.print(
    table(
      rows.map(([k, v]) => [`  ${cli.out.dim(k)}`, v]),
      cli.width,
    ),
  );
  cli.print(`  Use it: baton token ${info.id} · baton mcp show ${info.id} · baton doctor ${info.id}`);
}

/** `baton mcp connect <url>`: the discovery chain, a client, the browser, the loopback redirect, stored. */
export async function mcpConnect(cli: Cli, url: string, opts: McpConnectOptions): Promise<void> {
  const serverUrl = serverUrlArg(url);
  const scopes = parseScopes(opts.scope);
  const id = opts.id !== undefined ? checkId(opts.id) : defaultMcpId(serverUrl);
  const flow = flowOf(opts);
  await cli.withBaton(
    async (baton) => {
      const server = await chain(() => baton.mcp.discover(serverUrl, { force: true }), id);
      const existing = await find(baton, id);
      const same =
        existing !== undefined &&
        existing.provider === server.provider &&
        existing.params['resource'] === server.resource;
      if (existing && !same && !opts.replace) {
        const what = isMcp(existing)
          ? `the MCP server ${existing.params['resource'] ?? '?'}`
          : `${existing.provider}, ${existing.authMode}`;
        throw new ConfigError(
          `Connection "${id}" already exists (${what}, ${existing.status}).`,
          `Choose another id with --id, or pass --replace to overwrite it: baton mcp connect ${serverUrl} --id ${id} --replace`,
          { connectionId: id },
        );
      }
      if (!cli.json) {
        cli.note(
          `${server.serverUrl}: resource ${server.resource}, authorization server ${server.issuer}${server.scopes.length ? `, scopes ${server.scopes.join(' ')}` : ''}.`,
        );
      }
      const info = await authorizeMcp(
        cli,
        baton,
        { id, serverUrl, server, scopes, replace: Boolean(existing && !same) },
        flow,
      );
      await printConnected(cli, baton, await baton.get(info.id), existing !== undefined);
    },
    { create: true },
  );
}

/**
 * `baton reconnect <id>` (and `baton mcp connect` of an id it holds) for an MCP connection: the
 * chain again from its stored server, then the browser, with the scopes it holds.
 */
export async function mcpReconnect(
  cli: Cli,
  baton: Baton,
  existing: ConnectionInfo,
  flow: FlowOptions,
): Promise<void> {
  if (flow.oob)
    throw new UsageError(
      `Connection "${existing.id}" is to an MCP server, which redirects to a loopback listener; --oob is for a provider that shows the code on a page of its own.`,
      `Drop --oob: baton reconnect ${existing.id} (with --no-browser to print the URL instead of opening it).`,
    );
  const serverUrl = existing.params['resource'];
  if (!serverUrl) {
    throw new ConfigError(
      `Connection "${existing.id}" names no MCP server (its resource param is missing).`,
      `Connect it anew: baton mcp connect <url> --id ${existing.id} --replace`,
      { connectionId: existing.id, provider: existing.provider },
    );
  }
  const server = await chain(() => baton.mcp.discover(serverUrl, { force: true }), existing.id);
  if (server.provider !== existing.provider || server.resource !== serverUrl) {
    throw new ConfigError(
      `The MCP server ${serverUrl} now names ${server.resource === serverUrl ? `the authorization server ${server.issuer}` : `the resource ${server.resource}`}; connection "${existing.id}" was authorized for ${mcpIssuerOf(existing.provider) ?? existing.provider} and ${serverUrl}.`,
      `Connect it anew where the server now points: baton mcp connect ${serverUrl} --id ${existing.id} --replace`,
      { connectionId: existing.id, provider: existing.provider },
    );
  }
  const info = await authorizeMcp(
    cli,
    baton,
    { id: existing.id, serverUrl, server, scopes: existing.scopes ?? undefined, replace: false },
    flow,
  );
  await printConnected(cli, baton, await baton.get(info.id), true);
}

/** Every MCP connection, page after page of the store's index. */
async function mcpConnections(baton: Baton): Promise<ConnectionInfo[]> {
  const out: ConnectionInfo[] = [];
  const PAGE = 500;
  let after: string | undefined;
  for (;;) {
    const page = await baton.list({ limit: PAGE, ...(after !== undefined ? { after } : {}) });
    out.push(...page.filter(isMcp));
    if (page.length < PAGE) return out;
    after = page[page.length - 1]?.id;
  }
}

function statusText(cli: Cli, status: ConnectionInfo['status']): string {
  const p = cli.out;
  return status === 'active' ? p.green(status) : status === 'needs_reauth' ? p.yellow(status) : p.red(status);
}

/** `baton mcp list`: the MCP connections, their servers, issuers, scopes and state. */
export async function mcpList(cli: Cli): Promise<void> {
  try {
    await cli.requireExisting();
  } catch (err) {
    if (!(err instanceof NoStore)) throw err;
    if (cli.json) return cli.printJson([]);
    return cli.note(`No MCP connections yet: ${err.message} Connect one with \`baton mcp connect <url>\`.`);
  }
  await cli.withBaton(
    async (baton) => {
      const found = await mcpConnections(baton);
      if (cli.json) {
        const out = [];
        const heldBy = new Map<string, Promise<McpClientInfo | null>>();
        for (const info of found) out.push(mcpJson(info, await clientOf(baton, info, heldBy)));
        return cli.printJson(out);
      }
      if (found.length === 0)
        return cli.note('No MCP connections yet. Connect one with `baton mcp connect <url>`.');
      const now = Date.now();
      const rows = [['ID', 'SERVER', 'ISSUER', 'STATUS', 'SCOPES', 'TOKEN EXPIRES']];
      for (const c of found)
        rows.push([
          c.id,
          c.params['resource'] ?? '—',
          mcpIssuerOf(c.provider) ?? '—',
          statusText(cli, c.status),
          c.scopes?.join(' ') || '—',
          relative(c.accessTokenExpiresAt, now),
        ]);
      cli.print(table(rows, cli.width));
    },
    { offline: true },
  );
}

/** A connection that must be an MCP one: anything else is said, with where to look instead. */
function requireMcp(info: ConnectionInfo): void {
  if (isMcp(info)) return;
  throw new ConfigError(
    `Connection "${info.id}" is a ${info.provider} connection, not an MCP one.`,
    `See it with \`baton show ${info.id}\`; \`baton mcp list\` lists the MCP connections.`,
    { connectionId: info.id, provider: info.provider },
  );
}

/** `baton mcp show <id>`: server, resource, issuer, client, scopes, status, expiry. */
export async function mcpShow(cli: Cli, id: string): Promise<void> {
  // No stored id has a control character (core/ids.ts): one typed is refused, never echoed raw.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refuses control characters
  if (/[\u0000-\u001f\u007f]/.test(id))
    throw new UsageError(
      `${JSON.stringify(id)} is not a connection id: it has control characters.`,
      'Check the id with `baton mcp list`.',
    );
  await cli.withBaton(
    async (baton) => {
      const info = await baton.get(id);
      requireMcp(info);
      const client = await clientOf(baton, info);
      if (cli.json) return cli.printJson(mcpJson(info, client));
      const now = Date.now();
      const kind =
        client.kind === null
          ? ''
          : client.kind === 'replaced'
            ? ' (an earlier client)'
            : ` (${CLIENT_WORDS[client.kind]})`;
      const rows: [string, string][] = [
        ['id', info.id],
        ['server', info.params['resource'] ?? '—'],
        ['resource', info.params['resource'] ?? '—'],
        ['issuer', mcpIssuerOf(info.provider) ?? '—'],
        ['provider', info.provider],
        ['client', client.clientId ? `${client.clientId}${kind}` : '—'],
        ['scopes', info.scopes?.join(' ') || '—'],
        ['status', statusText(cli, info.status)],
        [
          'access token',
          info.accessTokenExpiresAt === null ? '—' : `expires ${relative(info.accessTokenExpiresAt, now)}`,
        ],
        [
          'refresh token',
          info.refreshTokenExpiresAt === null
            ? 'no expiry given'
            : `expires ${relative(info.refreshTokenExpiresAt, now)}`,
        ],
        ['last refresh', relative(info.lastRefreshedAt, now, 'never')],
        [
          'last error',
          info.lastError ? `${info.lastError.message} (${relative(info.lastError.at, now)})` : '—',
        ],
      ];
      cli.print(
        table(
          rows.map(([k, v]) => [cli.out.dim(k), v]),
          cli.width,
        ),
      );
    },
    { offline: true },
  );
}
