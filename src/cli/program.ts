import { Command, Option } from 'commander';
import type { Cli } from './runtime.js';
import { collectList, collectPairs, UsageError } from './usage.js';

/**
 * Every command, its flags and its help, with no dependency of its own: each action imports
 * its module when it runs, so `baton token` does not load the OAuth flow, the simulator, the
 * prompts or PostgreSQL (docs/benchmarks.md, cold start).
 */

export const COMMANDS = [
  'demo',
  'simulate',
  'providers',
  'connect',
  'reconnect',
  'import',
  'list',
  'show',
  'token',
  'request',
  'refresh',
  'revoke',
  'remove',
  'logout',
  'doctor',
  'migrate',
  'rekey',
  'config',
  'completion',
  'serve',
  'keys',
  'audit',
  'webhooks',
  'mcp',
] as const;

/** `baton mcp`'s subcommands. */
export const MCP_COMMANDS = ['connect', 'list', 'show'] as const;

/** `BATON_CHECKBOOK_API_KEY` for a provider id. */
export function envName(provider: string, suffix: string): string {
  return `BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${suffix}`;
}

/** A positive number of seconds, or a usage error naming the flag. */
export function seconds(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new UsageError(`${flag} ${value} is not a number of seconds.`, `Use e.g. ${flag} 120.`);
    return n;
  };
}

/**
 * Commander's errors are thrown, not `process.exit`ed, and its text goes through the CLI — for
 * the command and every subcommand under it (`keys create`, `webhooks remove`), so a missing
 * required option exits 2 like any usage error.
 */
/** A port, 0 to 65535, kept as the text given; a usage error naming the flag otherwise. */
export function portFlag(flag: string): (value: string) => string {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) > 65535)
      throw new UsageError(`${flag} ${value} is not a port.`, `Use a number from 0 to 65535 with ${flag}.`);
    return value;
  };
}

/** A whole number from 1 to `max`, or a usage error naming the flag (never a silent default). */
export function count(flag: string, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > max)
      throw new UsageError(
        `${flag} ${value} is not a whole number from 1 to ${max}.`,
        `Use e.g. ${flag} 50.`,
      );
    return n;
  };
}

function withOutput(cli: Cli, cmd: Command): Command {
  for (const sub of cmd.commands) withOutput(cli, sub);
  return cmd
    .exitOverride()
    .configureOutput({ writeOut: (s) => cli.stdout.write(s), writeErr: (s) => cli.usageText(s) });
}

export function buildProgram(cli: Cli, version: string): Command {
  const program = new Command('baton')
    .description(
      'Keeps API connections authorized: OAuth2 and API-key credentials, sealed, refreshed once, explained.',
    )
    .version(version)
    .option('--store <store>', "store: 'sqlite:<path>', 'postgres://…', 'memory:' (env BATON_STORE)")
    .option('--key-file <path>', 'secret key file (env BATON_KEY_FILE; BATON_SECRET_KEY wins)')
    .option('--config <path>', 'config file (default: baton.config.json/yaml found from here up)')
    .option('--simulator <url>', 'use a running `baton simulate` for every provider (env BATON_SIMULATOR)')
    .option('--json', 'machine-readable output (errors too, on stderr)')
    .option('--no-color', 'no colour (also NO_COLOR)')
    .option('--debug', 'print stack traces')
    .showSuggestionAfterError()
    .addHelpText(
      'before',
      `Start here: \`baton demo\` runs the whole story against a built-in simulator; then
\`baton providers\` and \`baton connect <provider>\`.
`,
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 not found or failed, 2 usage error (a bad flag or value),
3 a connection must be authorized again (\`baton reconnect <id>\`).`,
    )
    .hook('preAction', (_, action) => cli.setGlobals(action.optsWithGlobals()));
  withOutput(cli, program);
  const add = (cmd: Command) => program.addCommand(withOutput(cli, cmd));
  const lazy =
    <A extends unknown[]>(load: () => Promise<(cli: Cli, ...args: A) => Promise<void>>) =>
    async (...args: A) =>
      (await load())(cli, ...args);

  add(
    new Command('demo')
      .description('Run the whole story against the built-in simulator on an embedded SQLite store')
      .option(
        '--db <path>',
        'keep the SQLite store in this file (default: a temporary file, removed afterwards)',
      )
      .addOption(
        new Option('--callers <n>', 'concurrent callers when the token expires (1 to 1000)')
          .default(50)
          .argParser(count('--callers', 1000)),
      )
      .addHelpText('after', '\nExamples:\n  npx baton-oauth demo\n  baton demo --json | jq ".[].step"')
      .action(lazy(async () => (await import('./commands/demo.js')).demo)),
  );

  add(
    new Command('simulate')
      .description(
        'Serve stand-ins for Checkfront, Checkbook, Checkissuing and Cronofy on loopback, until interrupted',
      )
      .option('--port <port>', 'port of the main origin (0: any free port)', '4010')
      .option(
        '--migration-port <port>',
        'port of the second origin that migrated Checkfront companies move to',
        '0',
      )
      .option('--consent <mode>', 'auto (approve at once) or prompt (show an approve/deny page)', 'prompt')
      .option('--cronofy-rotation <mode>', 'never | always | sometimes', 'always')
      .option('--seed <text>', 'the same client ids, secrets and API keys at every start')
      .option('--state <file>', 'keep the credentials, grants and tokens in this file across restarts')
      .addHelpText(
        'after',
        `
Examples:
  baton simulate --port 4010 --state .baton-simulator.json
  BATON_SIMULATOR=http://127.0.0.1:4010 baton connect cronofy --id alice --param dataCenter=de

Point the CLI at it with --simulator URL or BATON_SIMULATOR, and the library with
Baton.open({ ...(await connectSimulator(url)) }) — see the README.`,
      )
      .action(lazy(async () => (await import('./commands/simulate.js')).simulate)),
  );

  const providers = new Command('providers')
    .description('List the providers Baton knows: auth modes, params and endpoints')
    .argument('[id]', 'show one provider in full')
    .addHelpText(
      'after',
      '\nExamples:\n  baton providers\n  baton providers cronofy --json\n  baton providers add acme --issuer https://id.acme.test\n  baton providers disable cronofy',
    )
    .action(lazy(async () => (await import('./commands/inspect.js')).providers));
  providers.addCommand(
    withOutput(
      cli,
      new Command('show')
        .description(
          "Show one provider in full; for a provider given by its issuer, what the issuer's metadata says",
        )
        .argument('<provider>', 'provider id')
        .action(async (provider: string) => (await import('./commands/inspect.js')).providers(cli, provider)),
    ),
  );
  providers.addCommand(
    withOutput(
      cli,
      new Command('add')
        .description(
          "Add a provider by its issuer: read the issuer's metadata now, then write the provider into baton.config.json",
        )
        .argument('<provider>', 'the new provider id, e.g. acme')
        .requiredOption('--issuer <url>', "the authorization server's issuer identifier (https)")
        .option(
          '-s, --scope <scope>',
          'scope to request (repeatable, or a comma list; default: openid for an OpenID Connect server)',
          collectList,
        )
        .option(
          '--force',
          'replace a provider already in the config file, or give a built-in one this issuer',
        )
        .option(
          '--dpop',
          'bind its tokens to a key per connection (DPoP, RFC 9449): for clients registered for it',
        )
        .addHelpText(
          'after',
          `
Examples:
  baton providers add acme --issuer https://id.acme.test
  baton providers add acme --issuer https://id.acme.test --scope openid,email --force
  baton providers add acme --issuer https://id.acme.test --dpop

Writes the nearest baton.config.json / .yaml (or --config), creating baton.config.json in the
current directory when there is none; YAML keeps its comments. Nothing is written when the
issuer cannot be read or publishes another issuer. The client goes in the environment
(BATON_<PROVIDER>_CLIENT_ID, _CLIENT_SECRET, …): the command prints the names.`,
        )
        .action(async (provider: string, opts: { issuer: string; scope?: string[]; force?: boolean }) =>
          (await import('./commands/providers-add.js')).providersAdd(cli, provider, opts),
        ),
    ),
  );
  for (const [name, disable] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    providers.addCommand(
      withOutput(
        cli,
        new Command(name)
          .description(
            disable
              ? 'Stop every token release and proxied call for a provider on `baton serve` (all replicas, within a second)'
              : 'Allow releases and proxied calls for a provider on `baton serve` again',
          )
          .argument('<provider>', 'provider id')
          .action(async (provider: string) =>
            (await import('./commands/provider-switch.js')).switchProvider(cli, provider, disable),
          ),
      ),
    );
  }
  add(providers);

  /**
   * The server's commands keep their definitions in their modules (they load fastify): the
   * top-level help lists them, and their flags are parsed once the module is loaded.
   */
  const delegate = (name: string, description: string, load: () => Promise<(cli: Cli) => Command>) =>
    add(
      new Command(name)
        .description(description)
        .helpOption(false)
        .allowUnknownOption()
        .allowExcessArguments()
        .usage('[command] [options]')
        .action(async (_opts: unknown, self: Command) => {
          const args = self.args;
          // Parsed under a `baton` parent so its usage line and errors read as the real command's.
          const parent = withOutput(cli, new Command('baton'));
          parent.addCommand(withOutput(cli, (await load())(cli)));
          await parent.parseAsync([name, ...args], { from: 'user' });
        }),
    );
  delegate(
    'serve',
    'Run the HTTP server: token release and an authenticating proxy for callers with keys',
    async () => (await import('./commands/serve.js')).serveCommand,
  );
  delegate(
    'keys',
    'Caller keys of `baton serve`: create, list, disable, enable, revoke',
    async () => (await import('./commands/keys.js')).keysCommand,
  );
  delegate(
    'audit',
    'Read the audit log of `baton serve`: releases, proxied calls, management actions',
    async () => (await import('./commands/audit.js')).auditCommand,
  );
  delegate(
    'webhooks',
    'Webhook endpoints of `baton serve`: add, list, remove, deliveries (the log), redeliver',
    async () => (await import('./commands/webhooks.js')).webhooksCommand,
  );

  /** The browser flow's flags; an MCP connect has no `--oob` and no static credentials. */
  const connectOptions = (cmd: Command, kind: { mcp?: boolean } = {}) => {
    cmd.option('--no-browser', 'print the authorization URL instead of opening a browser');
    if (!kind.mcp)
      cmd.option(
        '--oob',
        'no loopback listener: the provider shows the code and you paste it (Checkfront redirect_uri=oob)',
      );
    cmd
      .addOption(
        new Option(
          '--port <port>',
          'port for the loopback redirect listener (default: from the redirect URI, else any free port)',
        ).argParser(portFlag('--port')),
      )
      .addOption(
        new Option(
          '--redirect-uri <uri>',
          'redirect URI registered with the provider (default: the configured one, else the loopback listener)',
        ).argParser((value) => {
          if (!URL.canParse(value))
            throw new UsageError(
              `--redirect-uri "${value}" is not a URL.`,
              'Pass --redirect-uri http://127.0.0.1:8765/callback or similar.',
            );
          return value;
        }),
      )
      .addOption(
        new Option('--timeout <seconds>', 'how long to wait for the authorization')
          .default(300, '300')
          .argParser(seconds('--timeout')),
      );
    if (kind.mcp) return cmd;
    return cmd
      .option('--api-key <key>', 'API key for token_pair / api_key modes (or BATON_<PROVIDER>_API_KEY)')
      .option('--secret-stdin', 'read the API secret from standard input')
      .option('--no-verify', 'store static credentials without checking them at the identity endpoint')
      .option(
        '--allow-account-change',
        'an existing connection may be authorized as another account than the one it held (else asked on a terminal, refused off one)',
      );
  };

  add(
    connectOptions(
      new Command('connect')
        .description(
          'Authorize a connection and store it: OAuth2 in the browser, or a key pair, or client credentials',
        )
        .argument('<provider>', 'provider id (see `baton providers`)')
        .option(
          '--id <id>',
          'connection id (default: <provider>-<first param value>, e.g. checkbook-sandbox)',
        )
        .option(
          '-p, --param <key=value>',
          'provider param, e.g. company=acme, dataCenter=de (repeatable)',
          collectPairs,
        )
        .option(
          '-e, --env <environment>',
          "shorthand for the provider's environment param, e.g. --env sandbox",
        )
        .option('-s, --scope <scope>', 'scope to request (repeatable; default: the provider’s)', collectList)
        .option(
          '--mode <mode>',
          'oauth2 | token_pair | api_key | client_credentials (default: the provider’s first)',
        ),
    )
      .option('--replace', 'replace an existing connection of another provider, params or client')
      .addHelpText(
        'after',
        `
Examples:
  baton connect cronofy --id alice --param dataCenter=de --scope read_events
  baton connect checkfront --param company=acme --no-browser
  BATON_CHECKFRONT_API_KEY=KEY baton connect checkfront --param company=acme --mode token_pair --secret-stdin < secret.txt
  baton connect checkissuing --env sandbox

The OAuth2 flow listens on 127.0.0.1 for the provider's redirect (RFC 8252). If the browser
runs elsewhere, paste the code or the whole callback URL at the prompt instead. Static
credentials are checked at the provider's identity endpoint before they are stored.
Connecting an existing id of the same provider authorizes it again with its stored params.`,
      )
      .action(lazy(async () => (await import('./commands/connect.js')).connect)),
  );

  add(
    connectOptions(
      new Command('reconnect')
        .description(
          'Authorize an existing connection again, with its stored provider, params, scopes and client',
        )
        .argument('<id>', 'connection id'),
    )
      .addHelpText('after', '\nExamples:\n  baton reconnect alice\n  baton reconnect acme --no-browser')
      .action(lazy(async () => (await import('./commands/connect.js')).reconnect)),
  );

  const mcp = new Command('mcp')
    .description('Connections to remote MCP servers: connect from the server URL alone, list, show')
    .addHelpText(
      'after',
      `
Examples:
  baton mcp connect https://mcp.example.com/mcp
  baton mcp connect https://mcp.example.com/mcp --id tracker --scope tools:read --no-browser
  baton mcp list
  baton mcp show tracker --json

An MCP connection is an ordinary connection of the provider mcp:<issuer>: \`baton token\`,
\`baton reconnect\`, \`baton revoke\` and \`baton doctor\` work on it; doctor follows the
discovery chain link by link and names the first one that broke.`,
    );
  mcp.addCommand(
    withOutput(
      cli,
      connectOptions(
        new Command('connect')
          .description(
            "Find the server's authorization server (its 401, RFC 9728, RFC 8414), get a client there, authorize in the browser and store the connection",
          )
          .argument('<url>', "the MCP server's URL (https; http only on loopback)")
          .option('--id <id>', 'connection id (default: the host, e.g. mcp.example.com)')
          .option(
            '-s, --scope <scope>',
            "scope to request (repeatable; default: the server's 401, else its scopes_supported)",
            collectList,
          )
          .option('--no-open', 'the same as --no-browser'),
        { mcp: true },
      )
        .option('--replace', 'replace an existing connection of that id to another server or provider')
        .addHelpText(
          'after',
          `
Examples:
  baton mcp connect https://mcp.example.com/mcp
  baton mcp connect https://mcp.example.com/mcp --id tracker --scope tools:read,tools:write
  baton mcp connect http://127.0.0.1:4010/mcp/server --no-browser

Prints the server, resource, issuer, scopes, client and id it connected; never a token.
The loopback listener takes the port of the client Baton registered there when it is free, so
the client fits; a client the server forgot is registered again before the browser opens.
Exit 1 names the link of the discovery chain that broke and what to do; a bad URL exits 2.`,
        )
        .action(lazy(async () => (await import('./commands/mcp.js')).mcpConnect)),
    ),
  );
  mcp.addCommand(
    withOutput(
      cli,
      new Command('list')
        .alias('ls')
        .description('List MCP connections: server, issuer, status, scopes, token expiry (no secrets)')
        .addHelpText('after', '\nExamples:\n  baton mcp list\n  baton mcp list --json')
        .action(lazy(async () => (await import('./commands/mcp.js')).mcpList)),
    ),
  );
  mcp.addCommand(
    withOutput(
      cli,
      new Command('show')
        .description('Show one MCP connection: server, resource, issuer, client, scopes, status, expiry')
        .argument('<id>', 'connection id')
        .addHelpText('after', '\nExamples:\n  baton mcp show tracker\n  baton mcp show tracker --json')
        .action(lazy(async () => (await import('./commands/mcp.js')).mcpShow)),
    ),
  );
  add(mcp);

  add(
    new Command('import')
      .description('Store OAuth tokens obtained elsewhere, read as JSON from stdin, after checking them')
      .argument('<id>', 'connection id')
      .requiredOption('--provider <provider>', 'provider id')
      .option('-p, --param <key=value>', 'provider param (repeatable)', collectPairs)
      .option('-e, --env <environment>', "shorthand for the provider's environment param")
      .option('--replace', 'overwrite an existing connection of that id')
      .addHelpText(
        'after',
        `
Standard input: {"accessToken": "…", "refreshToken": "…", "expiresAt": "2030-01-01T00:00:00Z" | epoch ms,
                 "expiresIn": seconds, "scopes": ["…"]}  (snake_case names work too)

Example:
  baton import alice --provider cronofy --param dataCenter=de < tokens.json

The access token is checked at the identity endpoint before anything is stored; the refresh
token is kept for the configured client, which must be the one that issued it.`,
      )
      .action(lazy(async () => (await import('./commands/import.js')).importTokens)),
  );

  add(
    new Command('list')
      .alias('ls')
      .description('List stored connections: status, auth mode, params, account, expiry (no secrets)')
      .option('--limit <n>', 'connections per page (default 100)')
      .option('--after <id>', 'the page after this id (the last id of the previous page)')
      .option('--provider <provider>', 'only this provider')
      .option('--status <status>', 'only this status: active, needs_reauth, revoked')
      .option('--prefix <prefix>', 'only ids that start with this')
      .option('--all', 'every connection, page after page (a progress line on a terminal)')
      .addHelpText(
        'after',
        `
Examples:
  baton list
  baton list --provider cronofy --status needs_reauth
  baton list --limit 500 --after acme-0499
  baton list --all --json > connections.json

Connections come in id order, one page at a time from the store's index; a page shorter than
--limit is the last.`,
      )
      .action(lazy(async () => (await import('./commands/inspect.js')).list)),
  );

  add(
    new Command('show')
      .description('Show one connection: status, account, expiry, last refresh and last error')
      .argument('<id>', 'connection id')
      .option('--reveal', 'also print its secrets (access token, refresh token, API key)')
      .addHelpText(
        'after',
        '\nExamples:\n  baton show acme\n  baton show alice --json\n  baton show alice --reveal',
      )
      .action(lazy(async () => (await import('./commands/inspect.js')).show)),
  );

  add(
    new Command('token')
      .description('Print a valid access token (refreshed first if due) and nothing else')
      .argument('<id>', 'connection id')
      .addHelpText(
        'after',
        '\nExample:\n  curl -H "Authorization: Bearer $(baton token alice)" https://api.cronofy.com/v1/userinfo',
      )
      .action(lazy(async () => (await import('./commands/token.js')).token)),
  );

  add(
    new Command('request')
      .description("Make an authenticated request to the connection's API")
      .argument('<id>', 'connection id')
      .argument('<path>', "a path under the provider's API base, e.g. api/3.0/ping")
      .option('-X, --method <method>', 'HTTP method (an RFC 9110 token)', 'GET')
      .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collectList)
      .option('-d, --data <body>', 'request body, or @file to send a file’s bytes unchanged')
      .addHelpText(
        'after',
        '\nExamples:\n  baton request acme api/3.0/booking\n  baton request alice v1/userinfo --json\n  baton request acme api/3.0/booking -X POST -d @booking.json -H "Content-Type: application/json"',
      )
      .action(lazy(async () => (await import('./commands/use.js')).request)),
  );

  add(
    new Command('refresh')
      .description('Refresh the access token now if it is due (or always, with --force)')
      .argument('<id>', 'connection id')
      .option('--force', 'refresh even if the token is still valid')
      .addHelpText('after', '\nExamples:\n  baton refresh alice\n  baton refresh alice --force --json')
      .action(lazy(async () => (await import('./commands/use.js')).refresh)),
  );

  const confirmable = (cmd: Command) =>
    cmd.option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)');

  add(
    confirmable(
      new Command('revoke')
        .description(
          'Revoke the grant at the provider (RFC 7009, where supported) and mark the connection revoked',
        )
        .argument('<id>', 'connection id'),
    )
      .addHelpText('after', '\nExamples:\n  baton revoke alice\n  baton revoke alice --yes')
      .action(lazy(async () => (await import('./commands/use.js')).revoke)),
  );

  add(
    confirmable(
      new Command('remove')
        .alias('rm')
        .description('Delete the connection and its secrets from the store (does not revoke)')
        .argument('<id>', 'connection id'),
    )
      .addHelpText('after', '\nExamples:\n  baton remove alice\n  baton logout alice   # revoke, then remove')
      .action(lazy(async () => (await import('./commands/use.js')).remove)),
  );

  add(
    confirmable(
      new Command('logout')
        .description('Revoke the grant at the provider where supported, then delete the connection')
        .argument('<id>', 'connection id'),
    )
      .addHelpText('after', '\nExample:\n  baton logout alice --yes')
      .action(lazy(async () => (await import('./commands/use.js')).logout)),
  );

  add(
    new Command('doctor')
      .description(
        'Check configuration, clients, store, secret key, clock and every connection, and explain what is wrong',
      )
      .argument('[id]', 'check only this connection')
      .addHelpText('after', '\nExamples:\n  baton doctor\n  baton doctor acme --json')
      .action(lazy(async () => (await import('./commands/doctor.js')).doctor)),
  );

  add(
    new Command('migrate')
      .description('Copy every connection from one store to another (sealed secrets move untouched)')
      .requiredOption('--from <store>', "source store (must exist): 'sqlite:<path>', 'postgres://…'")
      .requiredOption('--to <store>', 'target store')
      .option('--overwrite', 'replace connections that already exist in the target')
      .option('--batch-size <n>', 'connections per batch (default 500)')
      .option('--restart', 'start from the first connection, even if an earlier run was interrupted')
      .addHelpText(
        'after',
        '\nExamples:\n  baton migrate --from sqlite:./baton.db --to postgres://baton@db/baton\n  baton migrate --from postgres://baton@db/baton --to sqlite:./backup.db\n\nThe same secret key opens the connections afterwards; running it twice copies nothing new.\nIt copies in batches, in id order; an interrupted run resumes after the last batch it stored.',
      )
      .action(lazy(async () => (await import('./commands/migrate.js')).migrate)),
  );

  add(
    new Command('rekey')
      .description('Re-seal every connection and pending authorization under the current secret key, online')
      .option('--batch-size <n>', 'rows per batch (default 500)')
      .option('--check', 'only show which keys seal the store, change nothing')
      .addHelpText(
        'after',
        `
Example (rotate the key file):
  export BATON_SECRET_KEY_PREVIOUS="$(cat ~/.local/share/baton/secret.key)"
  openssl rand -base64 32 > new.key && chmod 600 new.key
  BATON_KEY_FILE=new.key baton rekey      # then replace the old key file with new.key

Other processes keep working throughout if they load both keys. Interrupted (Ctrl-C), it stops
after the batch in flight; run it again to go on. It ends by checking that nothing is left
under another key.`,
      )
      .action(lazy(async () => (await import('./commands/rekey.js')).rekeyCommand)),
  );

  const config = new Command('config').description(
    'Read and write baton.config.json: store, keyFile, simulator, clients.<provider>.<field>',
  );
  config.addHelpText(
    'after',
    `
Examples:
  baton config list
  baton config set store sqlite:./baton.db
  baton config set clients.cronofy.clientId my-client-id
  baton config get store

Writes the nearest baton.config.json (or --config), creating one in the current directory
when there is none. Client secrets belong in the environment (BATON_<PROVIDER>_CLIENT_SECRET).`,
  );
  config.addCommand(
    withOutput(
      cli,
      new Command('get')
        .description('Print one setting')
        .argument('<key>', 'e.g. store')
        .action(lazy(async () => (await import('./commands/config.js')).configGet)),
    ),
  );
  config.addCommand(
    withOutput(
      cli,
      new Command('set')
        .description('Change one setting')
        .argument('<key>', 'e.g. store, clients.cronofy.clientId')
        .argument('<value>', 'the value')
        .action(lazy(async () => (await import('./commands/config.js')).configSet)),
    ),
  );
  config.addCommand(
    withOutput(
      cli,
      new Command('list')
        .description('Print every setting and where it came from')
        .action(lazy(async () => (await import('./commands/config.js')).configList)),
    ),
  );
  add(config);

  add(
    new Command('completion')
      .description('Print a shell completion script: bash, zsh or fish')
      .argument('<shell>', 'bash | zsh | fish')
      .addHelpText(
        'after',
        `
Examples:
  baton completion bash > ~/.local/share/bash-completion/completions/baton
  baton completion zsh > "\${fpath[1]}/_baton"
  baton completion fish > ~/.config/fish/completions/baton.fish`,
      )
      .action(lazy(async () => (await import('./commands/completion.js')).completion)),
  );

  return program;
}
