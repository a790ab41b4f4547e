import { existsSync } from 'node:fs';
import { describeStore, openStore } from '../../store/index.js';
import { migrateStore } from '../../store/migrate.js';
import { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

export async function migrate(
  cli: Cli,
  opts: { from: string; to: string; overwrite?: boolean },
): Promise<void> {
  // Copying from a store that does not exist would create it and report "0 copied".
  const fromPath = Cli.sqlitePath(opts.from);
  if (fromPath && !existsSync(fromPath)) {
    throw new UsageError(
      `--from ${opts.from}: the store does not exist; nothing was copied or created.`,
      'Check the path of the source store (sqlite:<path> of an existing file, or a postgres:// URL).',
    );
  }
  if (opts.from.trim() === 'memory:' || opts.from.trim() === 'memory')
    throw new UsageError(
      '--from memory: is always empty.',
      'Copy from a SQLite file or a PostgreSQL database.',
    );
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
}
