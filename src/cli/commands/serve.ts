import { Command } from 'commander';
import { parseDuration } from '../../server/duration.js';
import { startServer } from '../../server/server.js';
import { defaultStoreSpec } from '../../store/index.js';
import { type Cli, UsageError } from '../runtime.js';

export function serveCommand(cli: Cli): Command {
  return new Command('serve')
    .description('Run the HTTP server: token release and an authenticating proxy for callers with keys')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8080')
    .option('--public-url <url>', 'the URL browsers reach this server at (authorization callbacks)')
    .option('--audit-retention <duration>', 'keep audit rows this long', '90d')
    .option('--shutdown-timeout <duration>', 'how long SIGTERM waits for requests in flight', '10s')
    .option('--no-keeper', 'do not refresh tokens in the background in this process')
    .option('--log-level <level>', 'pino level: fatal, error, warn, info, debug', 'info')
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
      }) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new UsageError(`"${opts.port}" is not a port.`, 'Pass --port a number from 0 to 65535.');
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
            auditRetentionMs: parseDuration(opts.auditRetention, '--audit-retention'),
            shutdownTimeoutMs: parseDuration(opts.shutdownTimeout, '--shutdown-timeout'),
            logLevel: opts.logLevel,
            // The process's own standard output gets the server's asynchronous writer.
            ...(cli.stdout === process.stdout ? {} : { logStream: cli.stdout }),
            env: cli.env,
            ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
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
      },
    );
}
