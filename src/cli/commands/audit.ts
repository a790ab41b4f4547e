import { Command } from 'commander';
import { parseDuration } from '../duration.js';
import { table } from '../format.js';
import { type Cli, UsageError } from '../runtime.js';
import { withServerStore } from './keys.js';

export function auditCommand(cli: Cli): Command {
  return new Command('audit')
    .description('Read the audit log of `baton serve`: releases, proxied calls, management actions')
    .option('--connection <id>', 'only this connection')
    .option('--since <duration>', 'only this recent (e.g. 15m, 1h, 7d)', '24h')
    .option('--limit <n>', 'at most this many rows, newest first', '200')
    .addHelpText(
      'after',
      '\nExamples:\n  baton audit --since 1h\n  baton audit --connection acme-billing --json',
    )
    .action((opts: { connection?: string; since: string; limit: string }) =>
      withServerStore(cli, async (store) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          throw new UsageError(`"${opts.limit}" is not a row count.`, 'Pass --limit a positive integer.');
        }
        const rows = await store.audit({
          since: Date.now() - parseDuration(opts.since, '--since'),
          limit,
          ...(opts.connection ? { connectionId: opts.connection } : {}),
        });
        if (cli.json) return cli.printJson(rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })));
        if (rows.length === 0) return cli.print('No audit rows in that period.');
        const out = [['TIME', 'KEY', 'OPERATION', 'CONNECTION', 'OUTCOME', 'STATUS', 'REQUEST']];
        for (const r of rows)
          out.push([
            new Date(r.at).toISOString(),
            r.keyName ?? '—',
            r.detail ? `${r.operation} ${r.detail}` : r.operation,
            r.connectionId ?? '—',
            r.outcome,
            String(r.status),
            r.requestId,
          ]);
        cli.print(table(out, cli.width));
      }),
    );
}
