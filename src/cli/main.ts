#!/usr/bin/env node
import { Cli, EXIT, reportError, UsageError } from './runtime.js';

const VERSION = '0.1.0';

export async function run(argv: string[], cli: Cli): Promise<number> {
  cli.sawJsonFlag(argv);
  // `baton token <id>` is what scripts call on every use: it skips the argument parser.
  if (argv.length === 2 && argv[0] === 'token' && !argv[1]?.startsWith('-')) {
    try {
      await (await import('./commands/token.js')).token(cli, argv[1] as string);
      return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
    } catch (err) {
      return reportError(cli, err);
    }
  }
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

const cli = new Cli({
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
run(process.argv.slice(2), cli).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(cli, err);
  },
);
