import { Command } from 'commander';
import { startServer } from '../../server/server.js';
import { defaultStoreSpec } from '../../store/index.js';
import { parseDuration } from '../duration.js';
import { type Cli, collectList, UsageError } from '../runtime.js';
import { checkUrlFlag } from '../usage.js';

/** How long a stopped server's process may take to exit on its own. */
const EXIT_GRACE_MS = 3_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function serveCommand(cli: Cli): Command {
  return new Command('serve')
    .description('Run the HTTP server: token release and an authenticating proxy for callers with keys')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8080')
    .option('--public-url <url>', 'the URL browsers reach this server at (authorization callbacks)')
    .option('--audit-retention <duration>', 'keep audit rows this long', '90d')
    .option('--shutdown-timeout <duration>', 'how long SIGTERM waits for requests in flight', '10s')
    .option('--no-keeper', 'do not refresh tokens in the background in this process')
    .option('--log-level <level>', 'pino level: fatal, error, warn, info, debug, trace, silent', 'info')
    .option(
      '--connect-return-url <prefix>',
      'a URL prefix connect sessions may return to; repeatable (env BATON_CONNECT_RETURN_URLS, comma-separated)',
      collectList,
      [],
    )
    .option('--connect-session-ttl <duration>', 'default lifetime of a connect link', '15m')
    .option('--no-webhooks', 'this replica delivers no webhooks (others on the store still do)')
    .option(
      '--webhook-retry-window <duration>',
      'retry a failing delivery at least this long, then mark it dead',
      '24h',
    )
    .option('--webhook-retry-base <duration>', 'first retry delay (doubles each time, with jitter)', '5s')
    .option('--webhook-retry-max <duration>', 'longest retry delay', '1h')
    .option('--webhook-timeout <duration>', 'how long a receiver may take to answer', '10s')
    .option('--webhook-poll <duration>', 'how often to look for due deliveries', '1s')
    .option(
      '--proxy-timeout <duration>',
      'how long a proxied API may take to send its headers, and then go silent in its body (env BATON_PROXY_TIMEOUT)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  baton serve --port 8080\n  BATON_STORE=postgres://baton@db/baton baton serve --host 0.0.0.0\n\nCallers authenticate with keys from `baton keys create`. See the README, "Server".',
    )
    .action(
      async (opts: {
        host: string;
        port: string;
        publicUrl?: string;
        auditRetention: string;
        shutdownTimeout: string;
        keeper: boolean;
        logLevel: string;
        connectReturnUrl: string[];
        connectSessionTtl: string;
        webhooks: boolean;
        webhookRetryWindow: string;
        webhookRetryBase: string;
        webhookRetryMax: string;
        webhookTimeout: string;
        webhookPoll: string;
        proxyTimeout?: string;
      }) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new UsageError(`"${opts.port}" is not a port.`, 'Pass --port a number from 0 to 65535.');
        }
        if (!LOG_LEVELS.includes(opts.logLevel)) {
          throw new UsageError(
            `"${opts.logLevel}" is not a log level.`,
            `Pass --log-level one of ${LOG_LEVELS.join(', ')}.`,
          );
        }
        if (opts.publicUrl !== undefined)
          checkUrlFlag('--public-url', opts.publicUrl, 'https://baton.example.com');
        for (const u of opts.connectReturnUrl)
          checkUrlFlag('--connect-return-url', u, 'https://app.example.com/connected');
        // Every flag is read before a store is opened: a bad value changes nothing.
        const ms = {
          auditRetention: parseDuration(opts.auditRetention, '--audit-retention'),
          shutdownTimeout: parseDuration(opts.shutdownTimeout, '--shutdown-timeout'),
          connectSessionTtl: parseDuration(opts.connectSessionTtl, '--connect-session-ttl'),
          webhookRetryWindow: parseDuration(opts.webhookRetryWindow, '--webhook-retry-window'),
          webhookRetryBase: parseDuration(opts.webhookRetryBase, '--webhook-retry-base'),
          webhookRetryMax: parseDuration(opts.webhookRetryMax, '--webhook-retry-max'),
          webhookTimeout: parseDuration(opts.webhookTimeout, '--webhook-timeout'),
          webhookPoll: parseDuration(opts.webhookPoll, '--webhook-poll'),
          proxyTimeout: parseDuration(
            opts.proxyTimeout ?? cli.env['BATON_PROXY_TIMEOUT'] ?? '30s',
            opts.proxyTimeout !== undefined ? '--proxy-timeout' : 'BATON_PROXY_TIMEOUT',
          ),
        };
        if (ms.proxyTimeout < 1) {
          throw new UsageError(
            'The proxy timeout must be longer than 0 (0 would leave a stalled upstream unbounded).',
            'Pass --proxy-timeout (or BATON_PROXY_TIMEOUT) a duration such as 30s.',
          );
        }
        const baton = await cli.openBaton({ keeper: false }, { create: true });
        const store = cli.config().store ?? defaultStoreSpec(cli.env);
        let server: Awaited<ReturnType<typeof startServer>>;
        try {
          server = await startServer({
            instance: baton,
            store,
            host: opts.host,
            port,
            keeper: opts.keeper,
            auditRetentionMs: ms.auditRetention,
            shutdownTimeoutMs: ms.shutdownTimeout,
            proxyTimeoutMs: ms.proxyTimeout,
            logLevel: opts.logLevel,
            // The process's own standard output gets the server's asynchronous writer.
            ...(cli.stdout === process.stdout ? {} : { logStream: cli.stdout }),
            env: cli.env,
            ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
            connect: {
              returnUrls: [
                ...opts.connectReturnUrl,
                ...(cli.env['BATON_CONNECT_RETURN_URLS'] ?? '')
                  .split(',')
                  .map((u) => u.trim())
                  .filter(Boolean),
              ],
              sessionTtlMs: ms.connectSessionTtl,
            },
            webhooks: opts.webhooks
              ? {
                  retry: {
                    windowMs: ms.webhookRetryWindow,
                    baseMs: ms.webhookRetryBase,
                    maxMs: ms.webhookRetryMax,
                  },
                  timeoutMs: ms.webhookTimeout,
                  pollMs: ms.webhookPoll,
                }
              : false,
          });
        } catch (err) {
          await baton.close();
          throw err;
        }
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            server
              .close()
              .then(() => baton.close())
              .finally(resolve);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        // Everything Baton opened is closed. Should anything else still hold the event loop (a
        // socket a library keeps alive, a timer), the process exits anyway, naming it: a
        // stopped server that never exits blocks a deploy.
        const linger = setTimeout(() => {
          cli.note(
            `baton serve stopped; ${process.getActiveResourcesInfo().join(', ') || 'nothing named'} still held the process, which exits now.`,
          );
          process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
        }, EXIT_GRACE_MS);
        linger.unref();
      },
    );
}
