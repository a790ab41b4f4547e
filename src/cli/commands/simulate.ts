import type { Command } from 'commander';
import { formatDiscovery, startSimulator } from '../../simulator/index.js';
import { type Cli, command, UsageError } from '../runtime.js';

function port(value: string | undefined, flag: string): number {
  const n = Number(value ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} ${value} is not a port.`, `Use a number from 0 to 65535 with ${flag}.`);
  return n;
}

export function simulateCommand(cli: Cli): Command {
  return command('simulate')
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
    .addHelpText(
      'after',
      `
Examples:
  baton simulate --port 4010
  BATON_SIMULATOR=http://127.0.0.1:4010 baton connect cronofy --id alice --param dataCenter=de

Point the CLI at it with --simulator URL or BATON_SIMULATOR, and the library with
Baton.open({ ...(await connectSimulator(url)) }) — see the README.`,
    )
    .action(
      async (opts: { port: string; migrationPort: string; consent: string; cronofyRotation: string }) => {
        if (opts.consent !== 'auto' && opts.consent !== 'prompt')
          throw new UsageError(
            `--consent ${opts.consent} is not a mode.`,
            'Use --consent auto or --consent prompt.',
          );
        if (!['never', 'always', 'sometimes'].includes(opts.cronofyRotation))
          throw new UsageError(
            `--cronofy-rotation ${opts.cronofyRotation} is not a mode.`,
            'Use never, always or sometimes.',
          );
        const sim = await startSimulator({
          port: port(opts.port, '--port'),
          migrationPort: port(opts.migrationPort, '--migration-port'),
          consent: opts.consent,
          cronofyRotation: opts.cronofyRotation as 'never' | 'always' | 'sometimes',
        });
        if (cli.json) cli.printJson(sim.discovery());
        else {
          cli.print(formatDiscovery(sim.discovery()));
          cli.note(cli.err.dim(`\nSimulator running at ${sim.url}. Press Ctrl-C to stop.`));
        }
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await sim.close();
      },
    );
}
