#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { auditCommand } from './commands/audit.js';
import { connectCommand } from './commands/connect.js';
import { demoCommand } from './commands/demo.js';
import { doctorCommand } from './commands/doctor.js';
import { listCommand, providersCommand, showCommand } from './commands/inspect.js';
import { keysCommand } from './commands/keys.js';
import { migrateCommand } from './commands/migrate.js';
import { withProviderSwitch } from './commands/provider-switch.js';
import { serveCommand } from './commands/serve.js';
import { simulateCommand } from './commands/simulate.js';
import {
  refreshCommand,
  removeCommand,
  requestCommand,
  revokeCommand,
  tokenCommand,
} from './commands/use.js';
import { Cli, EXIT, type GlobalOptions, reportError } from './runtime.js';

export async function run(argv: string[], cli: Cli): Promise<number> {
  const program = new Command('baton')
    .description(
      'Keeps API connections authorized: OAuth2 and API-key credentials, sealed, refreshed once, explained.',
    )
    .version('0.1.0')
    .option('--store <store>', "store: 'sqlite:<path>', 'postgres://…', 'memory:' (env BATON_STORE)")
    .option('--key-file <path>', 'secret key file (env BATON_KEY_FILE; BATON_SECRET_KEY wins)')
    .option('--config <path>', 'config file (default: baton.config.json/yaml found from here up)')
    .option('--simulator <url>', 'use a running `baton simulate` for every provider (env BATON_SIMULATOR)')
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colour (also NO_COLOR)')
    .option('--debug', 'print stack traces')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => cli.stdout.write(s),
      writeErr: (s) => cli.stderr.write(s),
    })
    .hook('preAction', (cmd) => cli.setGlobals(cmd.optsWithGlobals<GlobalOptions>()));
  for (const make of [
    demoCommand,
    simulateCommand,
    (c: Cli) => withProviderSwitch(c, providersCommand(c)),
    connectCommand,
    listCommand,
    showCommand,
    tokenCommand,
    requestCommand,
    refreshCommand,
    revokeCommand,
    removeCommand,
    doctorCommand,
    migrateCommand,
    serveCommand,
    keysCommand,
    auditCommand,
  ]) {
    const sub = make(cli);
    sub
      .exitOverride()
      .configureOutput({ writeOut: (s) => cli.stdout.write(s), writeErr: (s) => cli.stderr.write(s) });
    program.addCommand(sub);
  }
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
