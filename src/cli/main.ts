#!/usr/bin/env node
import type { Cli } from './runtime.js';

const VERSION = '0.1.0';

export async function run(argv: string[], cli: Cli): Promise<number> {
  const { EXIT, reportError, UsageError } = await import('./runtime.js');
  cli.sawJsonFlag(argv);
  // `baton token <id>` is what scripts call on every use: it skips the argument parser.
  if (argv.length === 2 && argv[0] === 'token' && !argv[1]?.startsWith('-'))
    return (await import('./commands/token.js')).runToken(cli, argv[1] as string);
  const [{ CommanderError }, { buildProgram }] = await Promise.all([
    import('commander'),
    import('./program.js'),
  ]);
  const program = buildProgram(cli, VERSION);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      if (cli.json) {
        const text = cli.takeUsageText().trim() || err.message;
        return reportError(
          cli,
          new UsageError(text.replace(/^error: /, ''), 'Run the command with --help to see its usage.'),
        );
      }
      return EXIT.usage;
    }
    return reportError(cli, err);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { Cli, reportError } = await import('./runtime.js');
  const cli = Cli.fromProcess();
  // Whatever escapes a command (a rejection nobody awaited, an exception in a callback) goes
  // through the same reporter as every other error: no raw stack without --debug.
  const escaped = (err: unknown) => {
    // A reader that went away (`baton list | head`): nothing more can be said to it.
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    try {
      process.exit(reportError(cli, err));
    } catch {
      // The reporter itself failed (an installation missing a module): still one line, no stack.
      const code = (err as NodeJS.ErrnoException)?.code ?? 'unknown';
      process.stderr.write(
        `error Baton could not report an error (${code}); its installation may be incomplete.\n`,
      );
      process.exit(1);
    }
  };
  process.on('unhandledRejection', escaped);
  process.on('uncaughtException', escaped);
  try {
    process.exitCode = await run(argv, cli);
  } catch (err) {
    process.exitCode = reportError(cli, err);
  }
}

void main();
