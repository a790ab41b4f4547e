import { resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { formatDiscovery, type Simulator, startSimulator } from '../../simulator/index.js';
import type { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

function port(value: string | undefined, flag: string): number {
  const n = Number(value ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} ${value} is not a port.`, `Use a number from 0 to 65535 with ${flag}.`);
  return n;
}

export async function simulate(
  cli: Cli,
  opts: {
    port: string;
    migrationPort: string;
    consent: string;
    cronofyRotation: string;
    seed?: string;
    state?: string;
  },
): Promise<void> {
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
  if (opts.seed === '') throw new UsageError('--seed is empty.', 'Give --seed any non-empty text.');
  const ports = {
    port: port(opts.port, '--port'),
    migrationPort: port(opts.migrationPort, '--migration-port'),
  };
  let sim: Simulator;
  try {
    sim = await startSimulator({
      ...ports,
      consent: opts.consent,
      cronofyRotation: opts.cronofyRotation as 'never' | 'always' | 'sometimes',
      ...(opts.seed ? { seed: opts.seed } : {}),
      ...(opts.state ? { stateFile: resolve(opts.state) } : {}),
    });
  } catch (err) {
    // The simulator's own errors are plain (it imports nothing from Baton): a port in use or
    // not allowed (said as `baton serve` says it: which port, and what to do), a state file it
    // cannot read.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      const which = (err as { port?: number }).port === ports.migrationPort && ports.migrationPort !== 0;
      throw new ConfigError(
        `The simulator could not listen on 127.0.0.1:${which ? ports.migrationPort : ports.port} (${code}${code === 'EADDRINUSE' ? ': the port is in use' : ': not allowed'}).`,
        `Pick another ${which ? '--migration-port' : '--port'} (0 for any free port), or stop what is using it.`,
        { cause: err },
      );
    }
    if (!opts.state) throw err;
    throw new ConfigError(
      String((err as Error).message).replace(/\.?$/, '.'),
      'Fix or move the file, or start without --state.',
      {
        cause: err,
      },
    );
  }
  if (cli.json) cli.printJson(sim.discovery());
  else {
    cli.print(formatDiscovery(sim.discovery()));
    cli.note(
      cli.err.dim(
        `\nSimulator running at ${sim.url}. Press Ctrl-C to stop.${
          opts.state
            ? ` Credentials, grants and tokens are kept in ${opts.state} (saved on Ctrl-C).`
            : opts.seed
              ? ' Credentials come from --seed: the same at every start; grants and tokens are not kept.'
              : ' Credentials are new at every start: use --state FILE to keep connections working across restarts.'
        }`,
      ),
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.close();
}
