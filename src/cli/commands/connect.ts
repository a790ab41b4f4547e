import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import type { Baton, BeginAuthorizationResult } from '../../core/baton.js';
import { noClientRemediations } from '../../core/clients.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { AuthorizationError, BatonError, ConfigError, ConnectionNotFound } from '../../errors.js';
import { mcpIssuerOf } from '../../providers/mcp.js';
import { resolveParams } from '../../providers/params.js';
import type { AuthMode, ProviderSpec } from '../../providers/spec.js';
import { esc, pageHeaders, resultPage } from '../../server/connect/page.js';
import { humanDuration } from '../format.js';
import { envName } from '../program.js';
import { type Cli, UsageError } from '../runtime.js';
import { asUsage, checkId, parseScopes } from '../usage.js';

export interface FlowOptions {
  browser: boolean;
  oob?: boolean;
  port?: string;
  redirectUri?: string;
  timeout: number;
  apiKey?: string;
  secretStdin?: boolean;
  verify: boolean;
  allowAccountChange?: boolean;
}

interface ConnectOptions extends FlowOptions {
  id?: string;
  param?: Record<string, string>;
  env?: string;
  scope?: string[];
  mode?: string;
  replace?: boolean;
}

/** What one connect or reconnect will do, decided before anything listens or is stored. */
interface Plan {
  spec: ProviderSpec;
  id: string;
  params: Record<string, string>;
  mode: AuthMode;
  scopes: string[] | undefined;
  replace: boolean;
  existing: ConnectionInfo | undefined;
}

const MODES: AuthMode[] = ['oauth2', 'token_pair', 'api_key', 'client_credentials'];

function describe(info: ConnectionInfo): string {
  const params = Object.entries(info.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${info.provider}${params ? `, ${params}` : ''}, ${info.authMode}, ${info.status}`;
}

/** The connection `id`, or undefined when there is none. */
export async function find(baton: Baton, id: string): Promise<ConnectionInfo | undefined> {
  try {
    return await baton.get(id);
  } catch (err) {
    if (err instanceof ConnectionNotFound) return undefined;
    throw err;
  }
}

/**
 * The params of a new connection (README "connect"): what was given; a param with a default
 * takes it, and says so; an optional one left out stays out; a choice without one — and an environment, production or sandbox,
 * which is never guessed — is asked on a terminal and is a usage error off one.
 */
async function chooseParams(
  cli: Cli,
  spec: ProviderSpec,
  given: Record<string, string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, p] of Object.entries(spec.params)) {
    const value = given[name];
    if (value !== undefined) {
      out[name] = value;
      continue;
    }
    // An optional param left out stays out (Zoom's accountId, for server-to-server apps only).
    if (p.optional) continue;
    const environment = name === spec.environmentParam;
    if (p.default !== undefined && !environment) {
      out[name] = p.default;
      if (!cli.json)
        cli.note(
          `Using ${name}=${p.default}, the default; pass --param ${name}=${p.values ? `<${p.values.filter((v) => v !== p.default).join('|')}>` : '…'} for another.`,
        );
      continue;
    }
    const how = (v: string) => (environment ? `--env ${v}` : `--param ${name}=${v}`);
    if (!cli.interactive) {
      throw new UsageError(
        `${spec.displayName} needs ${environment ? 'an environment' : `the param ${name}`} (${p.description}), and this is not a terminal to ask on.`,
        p.values ? `Pass ${p.values.map(how).join(' or ')}.` : `Pass ${how('<value>')}.`,
      );
    }
    const io = { input: cli.stdin, output: cli.stderr };
    const prompts = await import('@inquirer/prompts');
    out[name] = p.values
      ? await prompts.select(
          {
            message: `${spec.displayName} ${name} (${p.description})`,
            choices: p.values.map((v) => ({ value: v })),
          },
          io,
        )
      : await prompts.input(
          { message: `${spec.displayName} ${name} (${p.description})`, required: true },
          io,
        );
  }
  for (const [name, value] of Object.entries(given)) out[name] ??= value;
  // A value the provider does not take is a bad flag value: a usage error, before anything listens.
  asUsage(() => resolveParams(spec, out));
  return out;
}

/** `checkbook-sandbox`: the provider, then the first param given, so two providers never collide. */
export function defaultId(provider: string, params: Record<string, string>): string {
  const first = Object.values(params)[0];
  return first ? `${provider}-${first}`.replace(/[^A-Za-z0-9._-]+/g, '-') : provider;
}

export async function connect(cli: Cli, provider: string, opts: ConnectOptions): Promise<void> {
  await cli.withBaton(
    async (baton) => {
      const spec = baton.providers.get(provider);
      let given = { ...(opts.param ?? {}) };
      if (opts.env !== undefined) {
        if (!spec.environmentParam) {
          throw new UsageError(
            `${spec.displayName} has no environments.`,
            'Drop --env, or use --param for its params.',
          );
        }
        given = { ...given, [spec.environmentParam]: opts.env };
      }
      if (opts.mode !== undefined && !MODES.includes(opts.mode as AuthMode)) {
        throw new UsageError(
          `--mode ${opts.mode} is not an auth mode.`,
          `Use --mode with one of: ${spec.authModes.join(', ')}.`,
        );
      }
      // An id that is stored for this provider keeps its params, also with --replace (README
      // "connect"): only the params given change.
      const named = opts.id !== undefined ? await find(baton, checkId(opts.id)) : undefined;
      const params =
        named && named.provider === spec.id
          ? { ...named.params, ...given }
          : await chooseParams(cli, spec, given);
      const id = opts.id ?? defaultId(spec.id, params);
      const existing = named ?? (opts.id === undefined ? await find(baton, id) : undefined);
      let scopes = parseScopes(opts.scope);
      let mode = opts.mode as AuthMode | undefined;
      if (existing && !opts.replace) {
        const sameParams =
          Object.keys(params).length === Object.keys(existing.params).length &&
          Object.entries(params).every(([k, v]) => existing.params[k] === v);
        if (existing.provider !== spec.id || !sameParams) {
          throw new ConfigError(
            `Connection "${id}" already exists (${describe(existing)}).`,
            `Choose another id with --id, authorize that one again with \`baton reconnect ${id}\`, or pass --replace to overwrite it.`,
            { connectionId: id, provider: spec.id },
          );
        }
        // The same connection again (needs_reauth, revoked, or new scopes): keep what is stored.
        scopes ??= existing.scopes ?? undefined;
        mode ??= existing.authMode;
      }
      mode ??= chooseMode(cli, spec.authModes, spec.id, opts);
      await authorize(
        cli,
        baton,
        { spec, id, params, mode, scopes, replace: Boolean(opts.replace), existing },
        opts,
      );
    },
    { create: true },
  );
}

export async function reconnect(cli: Cli, id: string, opts: FlowOptions): Promise<void> {
  await cli.withBaton(async (baton) => {
    const existing = await baton.get(id);
    // An MCP connection is authorized again from its stored server: the discovery chain first.
    if (mcpIssuerOf(existing.provider)) {
      const { mcpReconnect } = await import('./mcp.js');
      return mcpReconnect(cli, baton, existing, opts);
    }
    const spec = baton.providers.get(existing.provider);
    await authorize(
      cli,
      baton,
      {
        spec,
        id,
        params: existing.params,
        mode: existing.authMode,
        scopes: existing.scopes ?? undefined,
        replace: false,
        existing,
      },
      opts,
    );
  });
}

function chooseMode(cli: Cli, modes: AuthMode[], provider: string, opts: ConnectOptions): AuthMode {
  const hasKey = opts.apiKey !== undefined || Boolean(cli.env[envName(provider, 'API_KEY')]);
  if (hasKey) {
    const staticMode = modes.find((m) => m === 'token_pair' || m === 'api_key');
    if (staticMode) return staticMode;
  }
  return modes[0] as AuthMode;
}

/** Every check that can fail without the provider, before a listener opens or anything is stored. */
function precheck(baton: Baton, plan: Plan): void {
  const { spec, mode, scopes } = plan;
  if (!spec.authModes.includes(mode)) {
    throw new UsageError(
      `${spec.displayName} does not support ${mode}.`,
      `Use --mode with one of: ${spec.authModes.join(', ')}.`,
    );
  }
  if (scopes && spec.singleScope && scopes.length > 1) {
    throw new UsageError(
      `${spec.displayName} grants exactly one scope per authorization; ${scopes.length} were given (${scopes.join(', ')}).`,
      `Pass a single --scope, one of: ${(spec.scopeOptions ?? spec.scopes).join(', ')}.`,
    );
  }
  if (mode === 'oauth2' || mode === 'client_credentials') {
    // Also validates the params (unknown values, missing required ones).
    const client = baton.clientFor(spec.id, plan.params);
    if (!client) {
      throw new ConfigError(
        `No client is configured for ${spec.displayName}.`,
        noClientRemediations(spec.id).cliRemediation,
        { provider: spec.id, connectionId: plan.id },
      );
    }
    const stored = plan.existing?.clientId;
    if (stored && !plan.replace && stored !== client.clientId) {
      throw new ConfigError(
        `Connection "${plan.id}" was authorized with ${spec.displayName} client ${stored}; the client configured now is ${client.clientId}.`,
        `Configure client ${stored} again, or pass --replace to \`baton connect ${spec.id} --id ${plan.id}\` to authorize it under the new client.`,
        { provider: spec.id, connectionId: plan.id },
      );
    }
  } else {
    baton.clientFor(spec.id, plan.params);
  }
}

/** Who an account is, for comparing two authorizations of one connection. */
function accountKey(info: Pick<ConnectionInfo, 'account'> | undefined): string | undefined {
  const a = info?.account;
  return a ? (a.id ?? a.email ?? a.name ?? undefined) : undefined;
}

function accountName(info: Pick<ConnectionInfo, 'account'>): string {
  const a = info.account;
  return a?.email ?? a?.name ?? a?.id ?? 'an unknown account';
}

/**
 * Authorizing an existing connection as another account than the one it held is asked on a
 * terminal and refused off one unless --allow-account-change (README "reconnect"): declined,
 * the connection is put back as it was, tokens and all.
 */
async function keepAccount(
  cli: Cli,
  baton: Baton,
  plan: Plan,
  before: Awaited<ReturnType<Baton['store']['get']>>,
  after: ConnectionInfo,
  opts: FlowOptions,
): Promise<void> {
  const was = accountKey(plan.existing);
  const now = accountKey(after);
  if (plan.replace && plan.existing?.provider !== plan.spec.id) return;
  if (!before || !plan.existing || !was || !now || was === now || opts.allowAccountChange) return;
  const question = `${plan.id} was connected as ${accountName(plan.existing)}; this authorization is for ${accountName(after)}. Keep the new account?`;
  cli.note(`${cli.err.yellow('!')} ${question.replace(/ Keep the new account\?$/, '')}`);
  if (cli.interactive) {
    const { confirm } = await import('@inquirer/prompts');
    if (
      await confirm(
        { message: 'Keep the new account?', default: false },
        { input: cli.stdin, output: cli.stderr },
      )
    )
      return;
  }
  const current = await baton.store.get(plan.id);
  if (current) await baton.store.put({ ...before }, current.version);
  throw new UsageError(
    `Connection "${plan.id}" was authorized as ${accountName(plan.existing)}, and this authorization was for ${accountName(after)}; the connection was put back as it was.`,
    `Authorize as ${accountName(plan.existing)}, or pass --allow-account-change to connect ${plan.id} to the other account: baton reconnect ${plan.id} --allow-account-change`,
  );
}

async function authorize(cli: Cli, baton: Baton, plan: Plan, opts: FlowOptions): Promise<void> {
  precheck(baton, plan);
  const { spec, id, params, mode, scopes } = plan;
  const before = plan.existing ? await baton.store.get(id) : null;
  let info: ConnectionInfo;
  let verified: boolean | undefined;
  if (mode === 'oauth2') {
    info = await authorizeInBrowser(cli, baton, plan, opts);
  } else if (mode === 'client_credentials') {
    info = await baton.connect({
      provider: spec.id,
      connectionId: id,
      params,
      authMode: mode,
      ...(scopes ? { scopes } : {}),
      replace: true,
    });
  } else {
    const credentials = await readCredentials(cli, spec.id, mode, opts);
    // baton.connect checks them at the identity endpoint first (--no-verify: it does not), and
    // refuses with a typed error: rejected, or the provider could not be asked.
    verified = opts.verify && Boolean(spec.identityPath);
    if (opts.verify && !spec.identityPath && !cli.json)
      cli.note(
        `${cli.err.yellow('!')} ${spec.displayName} has no identity endpoint: the credentials could not be checked before storing.`,
      );
    info = await baton.connect({
      provider: spec.id,
      connectionId: id,
      params,
      authMode: mode,
      credentials,
      replace: true,
      verify: opts.verify,
    });
  }
  await keepAccount(cli, baton, plan, before, info, opts);
  const identity = verified === false ? undefined : await baton.identify(id);
  const final = await baton.get(id);
  if (cli.json) {
    cli.printJson({
      ...final,
      ...(identity ? { identity: { status: identity.status, account: identity.account } } : {}),
      ...(verified !== undefined ? { verified } : {}),
    });
  } else {
    const who = identity?.account?.email ?? identity?.account?.name ?? identity?.account?.id;
    const shown = Object.entries(info.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    cli.print(
      `${cli.out.green('✓')} ${plan.existing ? 'Authorized again' : 'Connected'} ${cli.out.bold(id)} (${spec.displayName}${shown ? `, ${shown}` : ''}, ${mode})${who ? ` as ${who}` : ''}`,
    );
    if (verified === false && !opts.verify) {
      cli.print(
        `${cli.out.yellow('!')} Stored WITHOUT verification (--no-verify): the credentials were not checked. Check them with \`baton doctor ${id}\`.`,
      );
    }
  }
  if (identity && identity.status >= 400) {
    cli.note(
      `${cli.err.yellow('!')} Stored, but ${spec.displayName}'s identity endpoint answered ${identity.status}. Check it with \`baton doctor ${id}\`.`,
    );
    process.exitCode = 1;
  }
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function readCredentials(cli: Cli, provider: string, mode: AuthMode, opts: FlowOptions) {
  const apiKey = opts.apiKey ?? cli.env[envName(provider, 'API_KEY')];
  if (!apiKey) {
    throw new UsageError(
      `${mode} needs an API key.`,
      `Pass --api-key, or set ${envName(provider, 'API_KEY')}.`,
    );
  }
  let apiSecret: string | undefined;
  if (opts.secretStdin) apiSecret = (await readAll(cli.stdin)).trim();
  else if (cli.env[envName(provider, 'API_SECRET')]) apiSecret = cli.env[envName(provider, 'API_SECRET')];
  else if (cli.interactive) {
    const { password } = await import('@inquirer/prompts');
    apiSecret = await password(
      { message: 'API secret', mask: true },
      { input: cli.stdin, output: cli.stderr },
    );
  }
  if (mode === 'token_pair' && !apiSecret) {
    throw new UsageError(
      'token_pair needs the API secret.',
      `Pipe it with --secret-stdin, set ${envName(provider, 'API_SECRET')}, or run in a terminal to be prompted.`,
    );
  }
  return { apiKey, ...(apiSecret ? { apiSecret } : {}) };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UsageError(
          `The loopback listener could not open port ${port}: ${err.code ?? err.message}.`,
          'Pass another --port, or --port 0 for any free port.',
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** What a browser authorization needs of the command that runs it. */
export interface BrowserFlow {
  connectionId: string;
  /** The redirect URI the client was configured with: a loopback one is listened on (its port kept). */
  configured: string | undefined;
  /**
   * Loopback redirect URIs the client already has (one Baton registered): the first whose port
   * is free is listened on, so the client fits without registering again; else any free port.
   */
  reuse?: string[] | undefined;
  /** Begins the authorization for the redirect URI the listener answers at. */
  begin(redirectUri: string): Promise<BeginAuthorizationResult>;
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** The first of `uris` (loopback http) whose port can be listened on, with the server listening. */
async function reusePort(server: Server, uris: string[]): Promise<URL | undefined> {
  for (const uri of uris) {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      continue;
    }
    if (u.protocol !== 'http:' || u.hostname !== '127.0.0.1' || !u.port) continue;
    const listening = await listen(server, Number(u.port)).then(
      () => true,
      () => false,
    );
    if (listening) return u;
  }
  return undefined;
}

/**
 * RFC 8252 §7.3: a loopback listener on 127.0.0.1 receives the redirect. Whatever comes first
 * wins: the redirect, or a code / callback URL pasted on standard input (a browser on another
 * machine, or Checkfront's `oob` page). The listener is closed on every path. `baton connect`,
 * `baton reconnect` and `baton mcp connect` authorize through it.
 */
export async function browserAuthorization(
  cli: Cli,
  baton: Baton,
  flow: BrowserFlow,
  opts: FlowOptions,
): Promise<ConnectionInfo> {
  const configured = opts.redirectUri ?? flow.configured;
  let port: number | undefined;
  if (opts.port !== undefined) {
    port = Number(opts.port);
    if (!/^\d+$/.test(opts.port) || port > 65535)
      throw new UsageError(`--port ${opts.port} is not a port.`, 'Use a number from 0 to 65535 with --port.');
  }
  let loopback: URL | undefined;
  if (configured && !opts.oob) {
    try {
      loopback = new URL(configured);
    } catch {
      throw new UsageError(
        `The redirect URI ${configured} is not a URL.`,
        'Pass --redirect-uri http://127.0.0.1:8765/callback or similar.',
      );
    }
  }
  let server: Server | undefined;
  try {
    let redirectUri: string;
    let callbackPath = '/callback';
    if (opts.oob) {
      redirectUri = 'oob';
    } else if (loopback && !LOOPBACK_HOSTS.includes(loopback.hostname)) {
      redirectUri = configured as string;
      cli.note(
        `The redirect URI ${configured} is not a loopback address; paste the callback URL here once you are redirected.`,
      );
    } else {
      server = createServer();
      const reused = !loopback && port === undefined ? await reusePort(server, flow.reuse ?? []) : undefined;
      if (!reused) await listen(server, port ?? Number(loopback?.port ?? 0));
      const base = loopback ?? reused;
      callbackPath = base?.pathname ?? '/callback';
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : 0;
      redirectUri = base
        ? `${base.protocol}//${base.hostname}:${actual}${callbackPath}`
        : `http://127.0.0.1:${actual}${callbackPath}`;
    }
    const begun = await flow.begin(redirectUri);
    // The listener and the paste reader are ready before the URL is shown or a browser opens.
    return await waitForCallback(cli, baton, begun, server, callbackPath, opts.timeout * 1000, async () => {
      cli.note(`Open this URL to authorize ${flow.connectionId}:\n  ${begun.url}`);
      if (opts.browser && !opts.oob) {
        const { default: open } = await import('open');
        await open(begun.url).then(
          (child) => child.unref(),
          () => cli.note('(Could not open a browser; open the URL yourself.)'),
        );
      }
    });
  } finally {
    server?.close();
    server?.closeAllConnections();
  }
}

function authorizeInBrowser(cli: Cli, baton: Baton, plan: Plan, opts: FlowOptions): Promise<ConnectionInfo> {
  return browserAuthorization(
    cli,
    baton,
    {
      connectionId: plan.id,
      configured: baton.clientFor(plan.spec.id, plan.params)?.redirectUri,
      begin: (redirectUri) =>
        baton.beginAuthorization({
          provider: plan.spec.id,
          connectionId: plan.id,
          params: plan.params,
          ...(plan.scopes ? { scopes: plan.scopes } : {}),
          redirectUri,
          ...(plan.replace ? { replace: true } : {}),
        }),
    },
    opts,
  );
}

async function waitForCallback(
  cli: Cli,
  baton: Baton,
  begun: BeginAuthorizationResult,
  server: Server | undefined,
  path: string,
  timeoutMs: number,
  announce: () => Promise<void>,
): Promise<ConnectionInfo> {
  const deadline = Date.now() + timeoutMs;
  const left = () => humanDuration(deadline - Date.now());
  let stopSpinner = () => {};
  let settled = false;
  const rl = createInterface({ input: cli.stdin, terminal: false });
  let timer: NodeJS.Timeout | undefined;
  let cancel: ((err: Error) => void) | undefined;
  const outcome = new Promise<ConnectionInfo>((resolve, reject) => {
    const finish = (result: ConnectionInfo | Error) => {
      if (settled) return;
      settled = true;
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    cancel = finish;
    timer = setTimeout(
      () =>
        finish(
          new AuthorizationError(
            'expired_state',
            `No authorization arrived within ${humanDuration(timeoutMs)}.`,
            {
              connectionId: begun.connectionId,
            },
          ),
        ),
      timeoutMs,
    );
    const complete = (callback: { callbackUrl: string } | { state: string; code: string }) =>
      baton.completeAuthorization(callback);
    rl.on('line', (line) => {
      const text = line.trim();
      if (!text || settled) return;
      const looksLikeCallback = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /(^|[?&])(code|error)=/.test(text);
      complete(
        looksLikeCallback
          ? { callbackUrl: text.includes('state=') ? text : `${text}&state=${begun.state}` }
          : { state: begun.state, code: text },
      ).then(finish, (err: unknown) => finish(err as Error));
    });
    server?.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== path || settled) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not the Baton callback.');
        return;
      }
      // Answer the browser first: the listener closes as soon as the flow is finished.
      complete({ callbackUrl: `http://${req.headers.host ?? '127.0.0.1'}${url.pathname}${url.search}` }).then(
        async (info) => {
          // Who it was, as the provider's identity endpoint says (stored on the connection too).
          const who = await baton
            .identify(info.id)
            .then((r) => r.account)
            .catch(() => info.account);
          const account = who?.email ?? who?.name ?? who?.id;
          const spec = baton.providers.get(info.provider);
          res.writeHead(200, { ...pageHeaders({ inlineStyle: true }), connection: 'close' });
          res.end(
            resultPage({
              ok: true,
              title: 'Connected',
              message: `${esc(spec.displayName)}${account ? ` account <strong>${esc(account)}</strong>` : ''} is connected as <code>${esc(info.id)}</code>. You can close this window and return to the terminal.`,
              facts: [
                ['Connection', info.id],
                ['Service', spec.displayName],
                ...(account ? ([['Account', account]] as [string, string][]) : []),
              ],
            }),
            () => finish(info),
          );
        },
        (err: unknown) => {
          const what =
            err instanceof BatonError ? `${err.message} ${err.remediation}` : 'The authorization failed.';
          res.writeHead(400, { ...pageHeaders({ inlineStyle: true }), connection: 'close' });
          res.end(
            resultPage({
              ok: false,
              title: 'Not connected',
              message: `${esc(what)} The terminal says what to do next.`,
              facts: [['Connection', begun.connectionId]],
            }),
            () => finish(err as Error),
          );
        },
      );
    });
  });
  // The callback may fail while the URL is still being announced (a pasted line read at once):
  // the rejection is handled here and reported once, by the command's error reporter.
  outcome.catch(() => undefined);
  // Ctrl-C while waiting ends the wait like a timeout: the pending authorization is removed.
  const interrupted = () => {
    cancel?.(
      new AuthorizationError(
        'expired_state',
        'Interrupted before the authorization arrived; nothing was stored.',
        { connectionId: begun.connectionId },
      ),
    );
  };
  process.once('SIGINT', interrupted);
  try {
    await announce();
    if (!settled) {
      // A spinner redraws its line, which would overwrite what a person pastes: animate only
      // when nobody can type (stdin is not a terminal) and colour is allowed.
      const animate =
        cli.stderr.isTTY &&
        !cli.stdin.isTTY &&
        cli.globals.color !== false &&
        !('NO_COLOR' in cli.env) &&
        !cli.json;
      if (animate) {
        const spinner = (await import('yocto-spinner'))
          .default({ stream: cli.stderr, text: `Waiting for the redirect — ${left()} left.` })
          .start();
        const ticker = setInterval(() => {
          spinner.text = `Waiting for the redirect — ${left()} left.`;
        }, 1000);
        stopSpinner = () => {
          clearInterval(ticker);
          spinner.stop();
        };
      } else if (!cli.json) {
        // Off a terminal too: a log shows what the command waits for, and until when.
        cli.note(`Waiting for the redirect until ${new Date(deadline).toLocaleTimeString()} (${left()}).`);
        if (cli.stdin.isTTY) cli.stderr.write('Or paste the code / callback URL here and press Enter: ');
      }
    }
    return await outcome;
  } finally {
    process.off('SIGINT', interrupted);
    const completed =
      settled &&
      (await outcome.then(
        () => true,
        () => false,
      ));
    settled = true;
    clearTimeout(timer);
    stopSpinner();
    rl.close();
    cli.stdin.pause();
    // An abandoned connect (timeout, Ctrl-C, a failed callback) leaves no pending authorization
    // behind (README "doctor"): its state could only ever be refused.
    if (!completed) await baton.store.takePendingAuthorization(begun.state).catch(() => null);
  }
}
