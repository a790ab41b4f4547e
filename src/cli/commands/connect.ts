import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { password } from '@inquirer/prompts';
import type { Command } from 'commander';
import open from 'open';
import yoctoSpinner from 'yocto-spinner';
import type { Baton, BeginAuthorizationResult } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { AuthorizationError, BatonError } from '../../errors.js';
import type { AuthMode } from '../../providers/spec.js';
import { humanDuration } from '../format.js';
import { type Cli, collectList, collectPairs, command, UsageError } from '../runtime.js';

interface ConnectOptions {
  id?: string;
  param: Record<string, string>;
  env?: string;
  scope: string[];
  mode?: AuthMode;
  browser: boolean;
  oob?: boolean;
  port?: string;
  redirectUri?: string;
  timeout: string;
  apiKey?: string;
  secretStdin?: boolean;
  replace?: boolean;
}

function envName(provider: string, suffix: string): string {
  return `BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${suffix}`;
}

export function connectCommand(cli: Cli): Command {
  return command('connect')
    .description(
      'Authorize a connection and store it: OAuth2 in the browser, or a key pair, or client credentials',
    )
    .argument('<provider>', 'provider id (see `baton providers`)')
    .option('--id <id>', 'connection id (default: the provider id, or its first param value)')
    .option(
      '-p, --param <key=value>',
      'provider param, e.g. company=acme, dataCenter=de (repeatable)',
      collectPairs,
      {},
    )
    .option('-e, --env <environment>', "shorthand for the provider's environment param, e.g. --env sandbox")
    .option('-s, --scope <scope>', 'scope to request (repeatable; default: the provider’s)', collectList, [])
    .option(
      '--mode <mode>',
      'oauth2 | token_pair | api_key | client_credentials (default: the provider’s first)',
    )
    .option('--no-browser', 'print the authorization URL instead of opening a browser')
    .option(
      '--oob',
      'no loopback listener: the provider shows the code and you paste it (Checkfront redirect_uri=oob)',
    )
    .option(
      '--port <port>',
      'port for the loopback redirect listener (default: from the redirect URI, else any free port)',
    )
    .option(
      '--redirect-uri <uri>',
      'redirect URI registered with the provider (default: the configured one, else the loopback listener)',
    )
    .option('--timeout <seconds>', 'how long to wait for the authorization', '300')
    .option(
      '--api-key <key>',
      `API key for token_pair / api_key modes (or ${envName('<provider>', 'API_KEY')})`,
    )
    .option('--secret-stdin', 'read the API secret from standard input')
    .option('--replace', 'replace an existing connection authorized under other params or another client')
    .addHelpText(
      'after',
      `
Examples:
  baton connect cronofy --id alice --param dataCenter=de --scope read_events
  baton connect checkfront --param company=acme --no-browser
  baton connect checkfront --param company=acme --mode token_pair --api-key KEY --secret-stdin < secret.txt
  baton connect checkissuing --id payouts --param environment=sandbox

The OAuth2 flow listens on 127.0.0.1 for the provider's redirect (RFC 8252). If the browser
runs elsewhere, paste the code or the whole callback URL at the prompt instead.`,
    )
    .action((provider: string, opts: ConnectOptions) =>
      cli.withBaton(async (baton) => {
        const spec = baton.providers.get(provider);
        if (opts.env !== undefined) {
          if (!spec.environmentParam) {
            throw new UsageError(
              `${spec.displayName} has no environments.`,
              'Drop --env, or use --param for its params.',
            );
          }
          opts.param = { ...opts.param, [spec.environmentParam]: opts.env };
        }
        const mode = opts.mode ?? chooseMode(cli, spec.authModes, provider, opts);
        if (!spec.authModes.includes(mode)) {
          throw new UsageError(
            `${spec.displayName} does not support ${mode}.`,
            `Use --mode with one of: ${spec.authModes.join(', ')}.`,
          );
        }
        const id = opts.id ?? Object.values(opts.param)[0] ?? provider;
        const scopes = opts.scope.length > 0 ? opts.scope : undefined;
        let info: ConnectionInfo;
        if (mode === 'oauth2') {
          info = await authorizeInBrowser(cli, baton, { provider, id, params: opts.param, scopes, opts });
        } else if (mode === 'client_credentials') {
          info = await baton.connect({
            provider,
            connectionId: id,
            params: opts.param,
            authMode: mode,
            ...(scopes ? { scopes } : {}),
            ...(opts.replace ? { replace: true } : {}),
          });
        } else {
          const credentials = await readCredentials(cli, provider, mode, opts);
          info = await baton.connect({
            provider,
            connectionId: id,
            params: opts.param,
            authMode: mode,
            credentials,
            ...(opts.replace ? { replace: true } : {}),
          });
        }
        const identity = await baton.identify(id);
        const final = await baton.get(id);
        if (cli.json) {
          cli.printJson({ ...final, identity: { status: identity.status, account: identity.account } });
        } else {
          const who = identity.account?.email ?? identity.account?.name ?? identity.account?.id;
          const params = Object.entries(info.params)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ');
          cli.print(
            `${cli.out.green('✓')} Connected ${cli.out.bold(id)} (${spec.displayName}${params ? `, ${params}` : ''}, ${mode})${who ? ` as ${who}` : ''}`,
          );
        }
        if (identity.status !== 0 && identity.status >= 400) {
          cli.note(
            `${cli.err.yellow('!')} Stored, but ${spec.displayName}'s identity endpoint answered ${identity.status}: the credentials may be wrong. Run \`baton doctor ${id}\`.`,
          );
          process.exitCode = 1;
        }
      }),
    );
}

function chooseMode(cli: Cli, modes: AuthMode[], provider: string, opts: ConnectOptions): AuthMode {
  const hasKey = opts.apiKey !== undefined || Boolean(cli.env[envName(provider, 'API_KEY')]);
  if (hasKey) {
    const staticMode = modes.find((m) => m === 'token_pair' || m === 'api_key');
    if (staticMode) return staticMode;
  }
  return modes[0] as AuthMode;
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function readCredentials(cli: Cli, provider: string, mode: AuthMode, opts: ConnectOptions) {
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
  else if (cli.interactive)
    apiSecret = await password(
      { message: 'API secret', mask: true },
      { input: cli.stdin, output: cli.stderr },
    );
  if (mode === 'token_pair' && !apiSecret) {
    throw new UsageError(
      'token_pair needs the API secret.',
      `Pipe it with --secret-stdin, set ${envName(provider, 'API_SECRET')}, or run in a terminal to be prompted.`,
    );
  }
  return { apiKey, ...(apiSecret ? { apiSecret } : {}) };
}

interface FlowInput {
  provider: string;
  id: string;
  params: Record<string, string>;
  scopes: string[] | undefined;
  opts: ConnectOptions;
}

/**
 * RFC 8252 §7.3: a loopback listener on 127.0.0.1 receives the redirect. Whatever comes first
 * wins: the redirect, or a code / callback URL pasted on standard input (a browser on another
 * machine, or Checkfront's `oob` page).
 */
async function authorizeInBrowser(cli: Cli, baton: Baton, input: FlowInput): Promise<ConnectionInfo> {
  const { opts } = input;
  const configured = opts.redirectUri ?? baton.clientFor(input.provider, input.params)?.redirectUri;
  let redirectUri: string;
  let server: Server | undefined;
  let callbackPath = '/callback';
  if (opts.oob) {
    redirectUri = 'oob';
  } else {
    const loopback = configured ? new URL(configured) : undefined;
    if (loopback && !['127.0.0.1', 'localhost', '[::1]'].includes(loopback.hostname)) {
      redirectUri = configured as string;
      cli.note(
        `The redirect URI ${configured} is not a loopback address; paste the callback URL here once you are redirected.`,
      );
    } else {
      callbackPath = loopback?.pathname ?? '/callback';
      const port = Number(opts.port ?? loopback?.port ?? 0);
      server = createServer();
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen(port, '127.0.0.1', () => resolve());
      });
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      redirectUri = loopback
        ? `${loopback.protocol}//${loopback.hostname}:${actual}${callbackPath}`
        : `http://127.0.0.1:${actual}${callbackPath}`;
    }
  }
  const begun = await baton.beginAuthorization({
    provider: input.provider,
    connectionId: input.id,
    params: input.params,
    ...(input.scopes ? { scopes: input.scopes } : {}),
    redirectUri,
    ...(opts.replace ? { replace: true } : {}),
  });
  cli.note(`Open this URL to authorize ${input.id}:\n  ${begun.url}`);
  if (opts.browser && !opts.oob) {
    await open(begun.url).catch(() => cli.note('(Could not open a browser; open the URL yourself.)'));
  }
  const timeoutMs = Number(opts.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new UsageError(`--timeout ${opts.timeout} is not a number of seconds.`, 'Use e.g. --timeout 120.');
  try {
    return await waitForCallback(cli, baton, begun, server, callbackPath, timeoutMs);
  } finally {
    server?.close();
    server?.closeAllConnections();
  }
}

function waitForCallback(
  cli: Cli,
  baton: Baton,
  begun: BeginAuthorizationResult,
  server: Server | undefined,
  path: string,
  timeoutMs: number,
): Promise<ConnectionInfo> {
  return new Promise<ConnectionInfo>((resolve, reject) => {
    let settled = false;
    const deadline = Date.now() + timeoutMs;
    const rl = createInterface({ input: cli.stdin, terminal: false });
    // On a terminal: a spinner with the time left; elsewhere nothing that would garble a log.
    const waiting = () =>
      `Waiting for the redirect — ${humanDuration(deadline - Date.now())} left. Or paste the code / callback URL and press Enter.`;
    const animate = cli.stderr.isTTY && cli.globals.color !== false && !('NO_COLOR' in cli.env);
    const spinner = animate ? yoctoSpinner({ stream: cli.stderr, text: waiting() }).start() : undefined;
    if (cli.stderr.isTTY && !animate) cli.note(waiting());
    const ticker = spinner
      ? setInterval(() => {
          spinner.text = waiting();
        }, 1000)
      : undefined;
    const timer = setTimeout(
      () =>
        finish(
          new AuthorizationError(
            'expired_state',
            `No authorization arrived within ${humanDuration(timeoutMs)}.`,
            { connectionId: begun.connectionId },
          ),
        ),
      timeoutMs,
    );
    const finish = (outcome: ConnectionInfo | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      spinner?.stop();
      rl.close();
      cli.stdin.pause();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
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
      complete({ callbackUrl: `http://127.0.0.1${url.pathname}${url.search}` }).then(
        (info) => {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
          res.end(
            '<!doctype html><title>Baton</title><h1>Connected</h1><p>You can close this window and return to the terminal.</p>',
            () => finish(info),
          );
        },
        (err: unknown) => {
          const what =
            err instanceof BatonError ? `${err.message} ${err.remediation}` : 'The authorization failed.';
          res.writeHead(400, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
          res.end(`<!doctype html><title>Baton</title><h1>Not connected</h1><p>${escapeHtml(what)}</p>`, () =>
            finish(err as Error),
          );
        },
      );
    });
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
