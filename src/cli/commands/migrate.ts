import type { Command } from 'commander';
import { describeStore, openStore } from '../../store/index.js';
import { migrateStore } from '../../store/migrate.js';
import { type Cli, command } from '../runtime.js';

export function migrateCommand(cli: Cli): Command {
  return command('migrate')
    .description('Copy every connection from one store to another (sealed secrets move untouched)')
    .requiredOption('--from <store>', "source store: 'sqlite:<path>', 'postgres://…', 'memory:'")
    .requiredOption('--to <store>', 'target store')
    .option('--overwrite', 'replace connections that already exist in the target')
    .addHelpText(
      'after',
      '\nExamples:\n  baton migrate --from sqlite:./baton.db --to postgres://baton@db/baton\n  baton migrate --from postgres://baton@db/baton --to sqlite:./backup.db\n\nThe same secret key opens the connections afterwards; running it twice copies nothing new.',
    )
    .action(async (opts: { from: string; to: string; overwrite?: boolean }) => {
      const from = await openStore(opts.from, { env: cli.env });
      try {
        const to = await openStore(opts.to, { env: cli.env });
        try {
          let last = 0;
          const result = await migrateStore(from, to, {
            ...(opts.overwrite ? { overwrite: true } : {}),
            onProgress(done, total) {
              if (!cli.json && cli.stderr.isTTY && (done - last >= 500 || done === total)) {
                last = done;
                cli.stderr.write(`\r${done}/${total}`);
              }
            },
          });
          if (!cli.json && cli.stderr.isTTY) cli.stderr.write('\n');
          if (cli.json)
            return cli.printJson({ from: describeStore(opts.from), to: describeStore(opts.to), ...result });
          cli.print(
            `${cli.out.green('✓')} ${result.copied} copied, ${result.skipped} already there — ${describeStore(opts.from)} → ${describeStore(opts.to)}`,
          );
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    });
}
